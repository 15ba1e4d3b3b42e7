/**
 * Accuracy against the exact truth of the synthetic fields, over the clean stars (unsaturated,
 * ≥ 10 px from a neighbour, stamp inside the image), with the tolerances.
 */
import { describe, expect, test } from 'vitest';
import { measureStars, type MeasureMethod, type StarMeasurement } from '../../src/stars/index.js';
import { isClean, loadField, median, rms2d, type TruthStar } from './fields.js';

interface Run {
  clean: [TruthStar, StarMeasurement][];
}

function run(name: string, method: MeasureMethod, fwhm: number, precision: 'f64' | 'f32' = 'f64'): Run {
  const f = loadField(name);
  const res = measureStars(
    f.image,
    f.stars.map((s) => ({ x: s.x_init, y: s.y_init })),
    { method, fwhm, gain: f.gain, readNoise: f.readNoise, saturation: f.saturation ?? undefined, precision },
  ).toRecords();
  expect(res).toHaveLength(f.stars.length);
  return { clean: f.stars.map((s, i) => [s, res[i] as StarMeasurement] as [TruthStar, StarMeasurement]).filter(([s]) => isClean(s, fwhm)) };
}

/** rms position error over the rms per-star Cramér–Rao bound. */
function crlbRatio(r: Run): number {
  const err = rms2d(r.clean.map(([s, m]) => m.x - s.x), r.clean.map(([s, m]) => m.y - s.y));
  const crlb = Math.sqrt(r.clean.reduce((a, [s]) => a + (s.crlb_x ?? NaN) ** 2 + (s.crlb_y ?? NaN) ** 2, 0) / r.clean.length);
  return err / crlb;
}

function convergedFraction(r: Run): number {
  return r.clean.filter(([, m]) => m.fitReason === 'converged' && m.status === 'ok').length / r.clean.length;
}

function fwhmMedianRelError(r: Run): number {
  return median(r.clean.map(([s, m]) => m.fwhm / s.fwhm - 1));
}

describe('stars_gauss_iso, Gaussian fit', () => {
  const r = run('stars_gauss_iso', 'gaussian', 3);
  test('80 clean stars', () => expect(r.clean.length).toBe(80));
  test('position rms ≤ 1.05 × CRLB (measured 0.997)', () => expect(crlbRatio(r)).toBeLessThanOrEqual(1.05));
  test('SNR ≥ 300: position rms ≤ 0.005 px (measured 0.0042)', () => {
    const hi = r.clean.filter(([s]) => s.snr_expected >= 300);
    expect(hi.length).toBeGreaterThan(10);
    expect(rms2d(hi.map(([s, m]) => m.x - s.x), hi.map(([s, m]) => m.y - s.y))).toBeLessThanOrEqual(0.005);
  });
  test('FWHM median relative error ≤ 1 % (measured +0.09 %)', () => expect(Math.abs(fwhmMedianRelError(r))).toBeLessThanOrEqual(0.01));
  test('converged ≥ 98 % in float64', () => expect(convergedFraction(r)).toBeGreaterThanOrEqual(0.98));
  test('fit uncertainties match the scatter: median |error|/σ ≈ 0.67 (within 0.5…0.85)', () => {
    const z = median(r.clean.flatMap(([s, m]) => [Math.abs(m.x - s.x) / m.xErr, Math.abs(m.y - s.y) / m.yErr]));
    expect(z).toBeGreaterThan(0.5);
    expect(z).toBeLessThan(0.85);
  });
  test('SNR tracks the truth within 20 % (median ratio)', () => {
    const ratio = median(r.clean.map(([s, m]) => m.snr / s.snr_expected));
    expect(ratio).toBeGreaterThan(0.8);
    expect(ratio).toBeLessThan(1.2);
  });
  test('flux median relative error ≤ 1 %', () => {
    expect(Math.abs(median(r.clean.map(([s, m]) => m.flux / s.flux - 1)))).toBeLessThanOrEqual(0.01);
  });
});

describe('stars_gauss_iso, float32 arithmetic', () => {
  const r = run('stars_gauss_iso', 'gaussian', 3, 'f32');
  test('converged ≥ 95 % in float32 (measured 100 %)', () => expect(convergedFraction(r)).toBeGreaterThanOrEqual(0.95));
  test('position rms still ≤ 1.05 × CRLB', () => expect(crlbRatio(r)).toBeLessThanOrEqual(1.05));
});

describe('stars_gauss_iso, windowed moments', () => {
  const r = run('stars_gauss_iso', 'moments', 3);
  test('position rms ≤ 1.1 × CRLB (measured 1.014)', () => expect(crlbRatio(r)).toBeLessThanOrEqual(1.1));
  test('moment FWHM unbiased: median relative error ≤ 2 % (measured −0.02 %)', () => expect(Math.abs(fwhmMedianRelError(r))).toBeLessThanOrEqual(0.02));
  test('every star has status ok and method moments', () => {
    for (const [, m] of r.clean) {
      expect(m.status).toBe('ok');
      expect(m.method).toBe('moments');
    }
  });
});

describe('stars_moffat_iso, Moffat fit with free β', () => {
  for (const precision of ['f64', 'f32'] as const) {
    const r = run('stars_moffat_iso', 'moffat', 3.5, precision);
    test(`${precision}: FWHM median relative error ≤ 1 % (measured −0.27 %)`, () => expect(Math.abs(fwhmMedianRelError(r))).toBeLessThanOrEqual(0.01));
    test(`${precision}: position rms ≤ 1.1 × CRLB (measured 0.865)`, () => expect(crlbRatio(r)).toBeLessThanOrEqual(1.1));
    test(`${precision}: converged ≥ ${precision === 'f64' ? 98 : 95} % (measured 100 %)`, () =>
      expect(convergedFraction(r)).toBeGreaterThanOrEqual(precision === 'f64' ? 0.98 : 0.95));
    test(`${precision}: β of the bright stars (SNR ≥ 100) within 25 % of the truth`, () => {
      const bright = r.clean.filter(([s]) => s.snr_expected >= 100);
      expect(median(bright.map(([s, m]) => Math.abs(m.beta / (s.beta ?? NaN) - 1)))).toBeLessThan(0.25);
    });
  }
});

describe('stars_elliptical, rotated Gaussian', () => {
  for (const precision of ['f64', 'f32'] as const) {
    const r = run('stars_elliptical', 'gaussianRotated', 3.5, precision);
    const ell = r.clean.filter(([s]) => s.axis_ratio < 0.8);
    test(`${precision}: median |Δeccentricity| ≤ 0.05 (measured 0.002)`, () => {
      expect(ell.length).toBeGreaterThan(10);
      expect(median(ell.map(([s, m]) => Math.abs(m.eccentricity - s.eccentricity)))).toBeLessThanOrEqual(0.05);
    });
    test(`${precision}: median |Δθ| ≤ 5° (measured 0.27°)`, () => {
      const dth = ell.map(([s, m]) => {
        const d = (((m.theta - s.theta) % Math.PI) + 1.5 * Math.PI) % Math.PI - Math.PI / 2;
        return (Math.abs(d) * 180) / Math.PI;
      });
      expect(median(dth)).toBeLessThanOrEqual(5);
    });
    test(`${precision}: converged ≥ ${precision === 'f64' ? 98 : 95} % (measured 100 %)`, () =>
      expect(convergedFraction(r)).toBeGreaterThanOrEqual(precision === 'f64' ? 0.98 : 0.95));
    test(`${precision}: FWHM median relative error ≤ 1 %`, () => expect(Math.abs(fwhmMedianRelError(r))).toBeLessThanOrEqual(0.01));
  }
});

describe('stars_crowded, Gaussian fit on the isolated stars', () => {
  const r = run('stars_crowded', 'gaussian', 3);
  test('position rms ≤ 1.05 × CRLB and ≥ 98 % converged', () => {
    expect(crlbRatio(r)).toBeLessThanOrEqual(1.05);
    expect(convergedFraction(r)).toBeGreaterThanOrEqual(0.98);
  });
});
