/**
 * DAOFIND sharpness and roundness1 against a direct evaluation of their definitions (kernel,
 * convolution at every output, quadrant sums), for the 5×5 kernel (FWHM 3, which has its own
 * fast path) and the 7×7 one (FWHM 6, the general loop): as measureStars reports them, and as
 * detectStars computes them at its peak pixel for its cuts (src/stars/detectShape.ts).
 */
import { describe, expect, test } from 'vitest';
import { detectStars, measureStars } from '../../src/stars/index.js';

const W = 100;
const H = 100;

/** Sky 100 plus an elliptical Gaussian star of σx = 1.5·k, σy = 1.1·k at (50.3, 40.7). */
function frame(k: number): Float32Array {
  const data = new Float32Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const dx = (x - 50.3) / (1.5 * k);
      const dy = (y - 40.7) / (1.1 * k);
      data[y * W + x] = 100 + 5000 * Math.exp(-0.5 * (dx * dx + dy * dy));
    }
  }
  return data;
}

function reference(data: Float32Array, cx: number, cy: number, sky: number, fwhm: number): { sharpness: number; roundness1: number } {
  const s = fwhm / 2.3548200450309493;
  const kr = Math.max(2, Math.floor(1.5 * s));
  const ks = 2 * kr + 1;
  const g: number[] = [];
  const mask: boolean[] = [];
  let sum = 0;
  let sum2 = 0;
  let n = 0;
  for (let b = 0; b < ks; b++) {
    for (let a = 0; a < ks; a++) {
      const r2 = (a - kr) ** 2 + (b - kr) ** 2;
      const v = Math.exp(-r2 / (2 * s * s));
      const m = r2 / (2 * s * s) <= 1.125 || r2 <= 4;
      g.push(v);
      mask.push(m);
      if (m) {
        sum += v;
        sum2 += v * v;
        n++;
      }
    }
  }
  const kernel = g.map((v, q) => (mask[q] ? (v - sum / n) / (sum2 - (sum * sum) / n) : 0));
  const pix = (x: number, y: number): number => (data[y * W + x] as number) - sky;
  const conv = (i: number, j: number): number => {
    let c = 0;
    for (let b = 0; b < ks; b++) for (let a = 0; a < ks; a++) c += (kernel[b * ks + a] as number) * pix(cx - 2 * kr + i + a, cy - 2 * kr + j + b);
    return c;
  };
  let maskSum = 0;
  for (let b = 0; b < ks; b++) for (let a = 0; a < ks; a++) if (mask[b * ks + a]) maskSum += pix(cx - kr + a, cy - kr + b);
  const d0 = pix(cx, cy);
  const sharpness = (d0 - (maskSum - d0) / (n - 1)) / conv(kr, kr);
  let quad = 0;
  let abs = 0;
  for (let j = 0; j < ks; j++) {
    for (let i = 0; i < ks; i++) {
      if (i === kr && j === kr) continue;
      const c = conv(i, j);
      abs += Math.abs(c);
      if ((j <= kr && i > kr) || (j >= kr && i < kr)) quad -= c;
      else quad += c;
    }
  }
  return { sharpness, roundness1: (2 * quad) / abs };
}

describe('DAOFIND sharpness and roundness1', () => {
  for (const [fwhm, k] of [
    [3, 1],
    [6, 2],
  ] as const) {
    test(`FWHM ${fwhm} (${fwhm === 3 ? '5×5' : '7×7'} kernel) matches the definitions to 1e-10`, () => {
      const data = frame(k);
      const [m] = measureStars({ data, width: W, height: H }, [{ x: 50, y: 41 }], { method: 'moments', fwhm }).toRecords();
      if (!m) throw new Error('no result');
      const ref = reference(data, Math.floor(m.x + 0.5), Math.floor(m.y + 0.5), m.background, fwhm);
      expect(Math.abs(ref.roundness1)).toBeGreaterThan(0.01);
      expect(Math.abs(m.sharpness - ref.sharpness)).toBeLessThan(1e-10 * Math.abs(ref.sharpness));
      expect(Math.abs(m.roundness1 - ref.roundness1)).toBeLessThan(1e-10 * Math.abs(ref.roundness1));
    });
  }

  test('a ±∞ pixel in the cut-out is missing, as a NaN one is: the same metrics, all finite', () => {
    const at = (v: number) => {
      const data = frame(1);
      // Two pixels from the centre pixel (50, 41): inside the kernel's window, outside the 3×3 core.
      data[39 * W + 51] = v;
      data[43 * W + 49] = -v;
      const [m] = measureStars({ data, width: W, height: H }, [{ x: 50, y: 41 }], { method: 'moments', fwhm: 3 }).toRecords();
      if (!m) throw new Error('no result');
      return m;
    };
    const nan = at(NaN);
    const inf = at(Infinity);
    for (const k of ['sharpness', 'roundness1', 'roundness2', 'peak', 'laplacianSnr', 'x', 'y', 'fwhm'] as const) {
      expect(Number.isFinite(nan[k]), k).toBe(true);
      expect(inf[k], k).toBe(nan[k]);
    }
    expect(inf.flags).toBe(nan.flags);
  });

  for (const [fwhm, k] of [
    [3, 1],
    [6, 2],
  ] as const) {
    test(`detectStars at FWHM ${fwhm}: sharpness and roundness1 match the definitions, roundness2 matches measureStars`, () => {
      const data = frame(k);
      const sky = { width: W, height: H, background: new Float32Array(W * H).fill(100), noise: new Float32Array(W * H).fill(1) };
      const [d] = detectStars({ data, width: W, height: H }, { fwhm, background: sky, keepRejected: true });
      if (!d) throw new Error('no detection');
      const ref = reference(data, d.peakX, d.peakY, 100, fwhm);
      expect(Math.abs(d.sharpness - ref.sharpness)).toBeLessThan(1e-10 * Math.abs(ref.sharpness));
      expect(Math.abs(d.roundness1 - ref.roundness1)).toBeLessThan(1e-10 * Math.abs(ref.roundness1));
      const [m] = measureStars({ data, width: W, height: H }, [{ x: d.x, y: d.y }], { method: 'moments', fwhm }, sky).toRecords();
      if (!m) throw new Error('no result');
      expect([Math.floor(m.x + 0.5), Math.floor(m.y + 0.5)]).toEqual([d.peakX, d.peakY]);
      expect(Math.abs(d.roundness2 - m.roundness2)).toBeLessThan(1e-10 * Math.abs(m.roundness2));
    });
  }
});
