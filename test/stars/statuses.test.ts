/** Every input position yields a result with a status; edges, saturation and bad input are flagged, never dropped. */
import { describe, expect, test } from 'vitest';
import { FLAG_EDGE, FLAG_SATURATED, flagNames, measureStars, stampRadius, type Image } from '../../src/stars/index.js';
import { loadField } from './fields.js';

describe('stars_saturated_edges', () => {
  const f = loadField('stars_saturated_edges');
  const R = stampRadius(3.5);
  for (const method of ['gaussian', 'moffat', 'moments'] as const) {
    const res = measureStars(f.image, f.stars.map((s) => ({ x: s.x_init, y: s.y_init })), {
      method,
      fwhm: 3.5,
      gain: f.gain,
      readNoise: f.readNoise,
      saturation: f.saturation ?? undefined,
    }).toRecords();
    test(`${method}: every star has a result with a position`, () => {
      expect(res).toHaveLength(84);
      res.forEach((r, i) => {
        expect(r.id).toBe(i);
        expect(r.status).not.toBe('failed');
        expect(Number.isFinite(r.x) && Number.isFinite(r.y)).toBe(true);
      });
    });
    test(`${method}: edge flag ⇔ the stamp of radius ${R} leaves the image (truth: edge_dist ≤ 6 px)`, () => {
      f.stars.forEach((s, i) => {
        const r = res[i]!;
        expect((r.flags & FLAG_EDGE) !== 0, `star ${s.id} edge_dist ${s.edge_dist}`).toBe(s.edge_dist < R);
      });
    });
    test(`${method}: saturated flag matches the truth`, () => {
      f.stars.forEach((s, i) => {
        expect((res[i]!.flags & FLAG_SATURATED) !== 0, `star ${s.id}`).toBe(s.saturated);
      });
    });
  }
  test('saturated stars are fitted on their unsaturated wings: position within 0.1 px, FWHM within 10 %', () => {
    const res = measureStars(f.image, f.stars.map((s) => ({ x: s.x_init, y: s.y_init })), {
      method: 'moffat', fwhm: 3.5, gain: f.gain, readNoise: f.readNoise, saturation: f.saturation ?? undefined,
    }).toRecords();
    const sat = f.stars.map((s, i) => [s, res[i]!] as const).filter(([s]) => s.saturated && s.nn_dist >= 10);
    expect(sat.length).toBeGreaterThan(10);
    for (const [s, r] of sat) {
      expect(r.status).toBe('ok');
      expect(Math.hypot(r.x - s.x, r.y - s.y)).toBeLessThan(0.1);
      expect(Math.abs(r.fwhm / s.fwhm - 1)).toBeLessThan(0.1);
    }
  });
  test('edge stars keep sub-pixel accuracy on the clipped stamp (median error < 0.05 px)', () => {
    const res = measureStars(f.image, f.stars.map((s) => ({ x: s.x_init, y: s.y_init })), {
      method: 'moffat', fwhm: 3.5, gain: f.gain, readNoise: f.readNoise, saturation: f.saturation ?? undefined,
    }).toRecords();
    const edge = f.stars.map((s, i) => [s, res[i]!] as const).filter(([s]) => !s.saturated && s.edge_dist >= 0.5 && s.edge_dist < R);
    const errs = edge.map(([s, r]) => Math.hypot(r.x - s.x, r.y - s.y)).sort((a, b) => a - b);
    expect(errs[errs.length >> 1]).toBeLessThan(0.05);
  });
});

describe('bad input never crashes', () => {
  const f = loadField('stars_gauss_iso');
  const star = f.stars[1]!;
  test('NaN, infinite and outside positions give failed results naming the values', () => {
    const res = measureStars(f.image, [
      { x: NaN, y: 10 },
      { x: 10, y: Infinity },
      { x: -3, y: 50 },
      { x: 50, y: 256 },
      { x: star.x_init, y: star.y_init },
    ]).toRecords();
    expect(res).toHaveLength(5);
    expect(res[0]!.status).toBe('failed');
    expect(flagNames(res[0]!.flags)).toContain('invalidPosition');
    expect(res[0]!.message).toMatch(/x = NaN/);
    expect(res[1]!.message).toMatch(/y = Infinity/);
    expect(flagNames(res[2]!.flags)).toEqual(['outside']);
    expect(res[2]!.message).toMatch(/x = -3, y = 50 is outside the 256×256 image/);
    expect(res[3]!.status).toBe('failed');
    expect(res[4]!.status).toBe('ok');
  });
  test('a NaN region over a star: left out of the fit, flagged, star still measured', () => {
    const data = f.image.data.slice();
    const ix = Math.round(star.x);
    const iy = Math.round(star.y);
    for (let y = iy - 1; y <= iy + 1; y++) data[y * 256 + ix + 2] = NaN;
    const img: Image = { data, width: 256, height: 256 };
    const [r] = measureStars(img, [{ x: star.x_init, y: star.y_init }], { gain: f.gain }).toRecords();
    expect(flagNames(r!.flags)).toContain('nanPixels');
    expect(r!.status).toBe('ok');
    expect(Math.hypot(r!.x - star.x, r!.y - star.y)).toBeLessThan(0.05);
  });
  test('an all-NaN stamp and an empty sky give failed results, not exceptions', () => {
    const data = f.image.data.slice();
    for (let y = 0; y < 40; y++) for (let x = 0; x < 40; x++) data[y * 256 + x] = NaN;
    const img: Image = { data, width: 256, height: 256 };
    const res = measureStars(img, [{ x: 15, y: 15 }]).toRecords();
    expect(res[0]!.status).toBe('failed');
    expect(res[0]!.message.length).toBeGreaterThan(0);
    const flat: Image = { data: new Float32Array(64 * 64).fill(100), width: 64, height: 64 };
    const r2 = measureStars(flat, [{ x: 30, y: 30 }]).toRecords();
    expect(r2[0]!.status).toBe('failed');
    expect(flagNames(r2[0]!.flags)).toContain('noSignal');
  });
  test('a start position 2 px off recentres the stamp and converges on the star', () => {
    const [r] = measureStars(f.image, [{ x: star.x + 2, y: star.y - 1.6 }], { gain: f.gain }).toRecords();
    expect(r!.status).toBe('ok');
    expect(Math.hypot(r!.x - star.x, r!.y - star.y)).toBeLessThan(0.05);
  });
  test('options are validated with clear errors', () => {
    expect(() => measureStars(f.image, [], { fwhm: -1 }).toRecords()).toThrow(/fwhm = -1/);
    expect(() => measureStars(f.image, [], { gain: 0 }).toRecords()).toThrow(/gain = 0/);
    expect(() => measureStars(f.image, [], { method: 'psf' as never }).toRecords()).toThrow(/unknown method 'psf'/);
  });
  test('annulus background gives the same positions as the map on isolated stars', () => {
    const pos = f.stars.slice(0, 20).map((s) => ({ x: s.x_init, y: s.y_init }));
    const a = measureStars(f.image, pos, { background: 'annulus', gain: f.gain }).toRecords();
    const m = measureStars(f.image, pos, { background: 'map', gain: f.gain }).toRecords();
    for (let i = 0; i < pos.length; i++) {
      expect(Math.abs(a[i]!.background - 1000)).toBeLessThan(15);
      expect(Math.hypot(a[i]!.x - m[i]!.x, a[i]!.y - m[i]!.y)).toBeLessThan(0.05);
    }
  });
});
