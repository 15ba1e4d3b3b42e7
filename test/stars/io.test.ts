/** FITS and raw f32 readers, background map and annulus. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { annulusPlane, backgroundMap, planeScratch, readF32, readFits } from '../../src/stars/index.js';
import { fixtureDir, loadField } from './fields.js';

const sep = new Uint8Array(readFileSync(join(fixtureDir, 'sep_image.fits')));

/** A minimal FITS file: header cards padded to 2880 bytes, then `data` padded to 2880 bytes. */
function fits(cards: string[], data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const h = [...cards, 'END'].map((c) => c.padEnd(80, ' ')).join('');
  const hb = new Uint8Array(Math.ceil(h.length / 2880) * 2880).fill(32);
  for (let i = 0; i < h.length; i++) hb[i] = h.charCodeAt(i);
  const db = new Uint8Array(Math.ceil(data.length / 2880) * 2880);
  db.set(data);
  const out = new Uint8Array(hb.length + db.length);
  out.set(hb);
  out.set(db, hb.length);
  return out;
}
const card = (k: string, v: string | number) => `${k.padEnd(8, ' ')}= ${String(v).padStart(20, ' ')}`;

describe('readFits', () => {
  test('sep_image.fits: int16 with BSCALE/BZERO, big-endian; pixels as computed independently with numpy', () => {
    const img = readFits(sep);
    expect(img.width).toBe(256);
    expect(img.height).toBe(256);
    // value = 2.92273835509 · raw + 3713.66692596 (raw[0,0] = 1128, raw[y=100, x=37] = 1053)
    expect(img.data[0]).toBeCloseTo(7010.51579, 2);
    expect(img.data[1]).toBeCloseTo(6878.99256, 2);
    expect(img.data[100 * 256 + 37]).toBeCloseTo(6791.31041, 2);
    expect(img.data[256 * 256 - 1]).toBeCloseTo(6767.92851, 2);
  });
  test('sep_image.fits: sky level ≈ 6850 ADU from the background map', () => {
    const img = readFits(sep);
    const map = backgroundMap(img);
    const sorted = Float64Array.from(map.background).sort();
    const med = sorted[sorted.length >> 1]!;
    expect(med).toBeGreaterThan(6800);
    expect(med).toBeLessThan(6900);
    expect(map.noise[128 * 256 + 128]).toBeGreaterThan(0);
  });
  test('BITPIX −32, −64, 8, 32 and an IMAGE extension after an empty primary', () => {
    const f32 = new Uint8Array(4 * 6);
    const dv = new DataView(f32.buffer);
    for (let i = 0; i < 6; i++) dv.setFloat32(4 * i, i * 1.5, false);
    const img = readFits(fits([card('SIMPLE', 'T'), card('BITPIX', -32), card('NAXIS', 2), card('NAXIS1', 3), card('NAXIS2', 2)], f32));
    expect(Array.from(img.data)).toEqual([0, 1.5, 3, 4.5, 6, 7.5]);

    const f64 = new Uint8Array(8 * 4);
    const dv64 = new DataView(f64.buffer);
    for (let i = 0; i < 4; i++) dv64.setFloat64(8 * i, -(i + 1), false);
    const prim = fits([card('SIMPLE', 'T'), card('BITPIX', 8), card('NAXIS', 0), card('EXTEND', 'T')]);
    const ext = fits(["XTENSION= 'IMAGE   '", card('BITPIX', -64), card('NAXIS', 2), card('NAXIS1', 2), card('NAXIS2', 2), card('PCOUNT', 0), card('GCOUNT', 1)], f64);
    const both = new Uint8Array(prim.length + ext.length);
    both.set(prim);
    both.set(ext, prim.length);
    expect(Array.from(readFits(both).data)).toEqual([-1, -2, -3, -4]);

    const u8 = readFits(fits([card('SIMPLE', 'T'), card('BITPIX', 8), card('NAXIS', 2), card('NAXIS1', 2), card('NAXIS2', 1), card('BZERO', 10), card('BSCALE', 2)], new Uint8Array([3, 255])));
    expect(Array.from(u8.data)).toEqual([16, 520]);

    const i32 = new Uint8Array(8);
    new DataView(i32.buffer).setInt32(0, -7, false);
    new DataView(i32.buffer).setInt32(4, 99, false);
    const b = readFits(fits([card('SIMPLE', 'T'), card('BITPIX', 32), card('NAXIS', 2), card('NAXIS1', 2), card('NAXIS2', 1), card('BLANK', 99)], i32));
    expect(b.data[0]).toBe(-7);
    expect(b.data[1]).toBeNaN();
  });
  test('headers that lie are rejected before allocation, with the keyword and value', () => {
    const base = [card('SIMPLE', 'T'), card('BITPIX', 16), card('NAXIS', 2)];
    expect(() => readFits(fits([...base, card('NAXIS1', 100000), card('NAXIS2', 100000)]))).toThrow(/100000×100000 pixels/);
    expect(() => readFits(fits([...base, card('NAXIS1', 300), card('NAXIS2', 300)]))).toThrow(/but only 0 bytes follow the header/);
    expect(() => readFits(fits([...base, card('NAXIS1', -5), card('NAXIS2', 3)]))).toThrow(/NAXIS1 = -5/);
    expect(() => readFits(fits([...base, card('NAXIS1', 2.5), card('NAXIS2', 3)]))).toThrow(/NAXIS1 = 2.5, not an integer/);
    expect(() => readFits(fits([...base, card('NAXIS1', '1e300'), card('NAXIS2', '1e300')]))).toThrow(/absurd data size \(NAXIS1 = 1e\+300\)/);
    expect(() => readFits(fits([card('SIMPLE', 'T'), card('BITPIX', 12), card('NAXIS', 2)]))).toThrow(/BITPIX = 12/);
    expect(() => readFits(fits([card('SIMPLE', 'T'), card('BITPIX', 16), card('NAXIS', 2), card('NAXIS1', 2)]))).toThrow(/NAXIS2/);
    expect(() => readFits(new Uint8Array(100))).toThrow(/shorter than one 2880-byte header block/);
    expect(() => readFits(sep.subarray(0, 2880 * 3))).toThrow(/no END card/);
    expect(() => readFits(new Uint8Array(2880).fill(65))).toThrow(/SIMPLE = T/);
  });
});

describe('readF32 and background', () => {
  test('raw fixture size is checked', () => {
    expect(() => readF32(new Uint8Array(10), { width: 2, height: 2 })).toThrow(/needs 16 bytes, the file has 10/);
  });
  test('background map on stars_gauss_iso: sky 1000 ± 3 ADU, σ ≈ 26 ADU (Poisson at gain 1.5 plus 5 e⁻ read noise)', () => {
    const { image } = loadField('stars_gauss_iso');
    const map = backgroundMap(image);
    const expectSigma = Math.sqrt(1000 / 1.5 + (5 / 1.5) ** 2);
    for (const k of [0, 128 * 256 + 128, 256 * 256 - 1, 37 * 256 + 200]) {
      expect(Math.abs(map.background[k]! - 1000)).toBeLessThan(3);
      expect(Math.abs(map.noise[k]! / expectSigma - 1)).toBeLessThan(0.1);
    }
  });
  test('annulus plane: near the sky level and flat on a flat sky, also at the edge; < 10 pixels reports NaN', () => {
    const { image } = loadField('stars_gauss_iso');
    const s = planeScratch(9);
    annulusPlane(image, 128, 128, 6, 9, s);
    expect(Math.abs(s.out[0]! - 1000)).toBeLessThan(10);
    expect(Math.hypot(s.out[1]!, s.out[2]!)).toBeLessThan(2);
    // At the corner a quarter of the annulus remains and the plane is extrapolated to its corner: within 2σ.
    annulusPlane(image, 0, 0, 6, 9, s);
    expect(Math.abs(s.out[0]! - 1000)).toBeLessThan(2 * s.out[3]!);
    annulusPlane({ data: new Float32Array(9).fill(NaN), width: 3, height: 3 }, 1, 1, 0, 1, s);
    expect(s.out[0]).toBeNaN();
  });
});
