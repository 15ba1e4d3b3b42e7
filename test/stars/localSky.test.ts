/** The annulus sky plane: exact on a plane, robust to a star in the annulus, NaN-tolerant, and NaN below 10 pixels. */
import { describe, expect, test } from 'vitest';
import { annulusPlane, planeScratch } from '../../src/stars/localSky.js';

function planeImage(W: number, H: number, b: number, bx: number, by: number, x0: number, y0: number): Float32Array {
  const d = new Float32Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) d[y * W + x] = b + bx * (x - x0) + by * (y - y0) + ((x * 7 + y * 13) % 5) - 2;
  return d;
}

describe('annulusPlane', () => {
  const s = planeScratch(9);
  test('recovers a tilted plane under bounded noise, and leaves out a bright source in the annulus', () => {
    const data = planeImage(40, 40, 1000, 2, -1.5, 20, 20);
    // A bright neighbour on the annulus: clipped, so it does not tilt the plane.
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) data[(20 + dy) * 40 + 27 + dx] = (data[(20 + dy) * 40 + 27 + dx] as number) + 5000;
    annulusPlane({ width: 40, height: 40, data }, 20, 20, 6, 9, s);
    expect(s.out[0]).toBeCloseTo(1000, 0);
    expect(s.out[1]).toBeCloseTo(2, 1);
    expect(s.out[2]).toBeCloseTo(-1.5, 1);
    expect(s.out[3]).toBeGreaterThan(0);
    expect(s.out[3]).toBeLessThan(3);
  });
  test('NaN pixels are left out; fewer than 10 usable pixels give NaN', () => {
    const data = planeImage(40, 40, 500, 0, 0, 0, 0);
    for (let k = 0; k < data.length; k += 3) data[k] = NaN;
    annulusPlane({ width: 40, height: 40, data }, 20, 20, 6, 9, s);
    expect(s.out[0]).toBeCloseTo(500, 0);
    data.fill(NaN);
    annulusPlane({ width: 40, height: 40, data }, 20, 20, 6, 9, s);
    expect(s.out[0]).toBeNaN();
  });
  test('an annulus larger than its scratch is refused', () => {
    expect(() => annulusPlane({ width: 40, height: 40, data: new Float32Array(1600) }, 20, 20, 6, 12, s)).toThrow(/rOut = 12/);
  });
});
