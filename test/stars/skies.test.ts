/**
 * Stars on real skies (issue 12): position accuracy against the exact truth of fields generated in
 * the test (synthField.ts), over the clean stars, as the rms error over the rms per-star
 * Cramér–Rao bound. One field of 121 stars gives that ratio to about ±10 % (the faintest stars
 * dominate both sums), so each figure pools three fields of different seeds (363 stars).
 *
 * Measured (npx vitest run test/stars/skies.test.ts; before issue 12 → the subtracted plane →
 * the fits' sky slope fitted (skySlope 'fit', the Gaussian fits' default) and fits wider than the
 * stamp radius refused (fitWithinStamp)):
 *   sky slope 2 ADU/px (3 % of the sky across a 15-px stamp), annulus sky:
 *     gaussian 1.105 → 1.046 → 1.022; gaussianRotated 1.128 (plane) → 1.064;
 *     moments 1.047 → 1.006; moffat 2.49 (3 stars > 1 px) → 1.067 (none; 1.114 with the slope fitted)
 *   the same with two 1000-ADU nebula blobs (σ 8 px), annulus sky:
 *     moments 8.30 (2 > 1 px) → 1.076 (none); gaussian 8.99 (3) → 2.63 (2) → 1.077 (none);
 *     moffat 13.3 (11) → 6.67 (6) → 6.52 (4)
 *   undersampled (FWHM 1.5): gaussian 0.964 → 0.964 → 0.979, moments 3.86 → 1.110
 * and then with centres not believed when they drift or sit wide on a structured sky
 * (frameChecks: FLAG_CENTRE_DRIFT, FLAG_STRUCTURED_SKY; the start position kept):
 *   nebula: gaussian 1.077 → 0.965, moments 1.076 → 0.963, moffat 6.52 (4) → 1.072 (none),
 *     moments on the Moffat stars 6.52 (4) → 1.079 (none); 2 of 363 stars flagged on the
 *     Gaussian fields, 6 on the Moffat ones; the slope-only and undersampled fields unchanged.
 * The nebula outliers were faint stars (SNR 4–18) 7–12 px from a blob's centre. Within a stamp
 * and its annulus the blob changes by several hundred ADU and is far from planar (nor quadratic:
 * a quadratic annulus surface and a quadratic sky in the fit were tried and did not help), so
 * what the plane leaves is as bright as the star. With the true sky subtracted the Gaussian fit
 * gives 1.02. The fits absorbed the residual into a profile of FWHM 8–21 px (3 expected) centred
 * towards the blob; such fits are now refused (the moments take over). On the Moffat field the
 * windowed moments themselves climbed the blob for four stars (started at the true pixel they
 * ended 1.3–14 px away): three moved 6–14 px (beyond max(1.5 px, FWHM)), the fourth moved 0.97 px
 * with a moment FWHM of 8.6 px (2.5 × the frame's median) on a sky σ 3.4 × the frame's median.
 */
import { describe, expect, test } from 'vitest';
import { measureStars, type MeasureOptions } from '../../src/stars/index.js';
import { isClean, rms2d } from './fields.js';
import { gradientNebulaSpec, synthField, undersampledSpec, type SynthField, type SynthSpec } from './synthField.js';

const SEEDS = [1, 2, 3];

interface Figures {
  ratio: number;
  clean: number;
  /** Clean stars whose position is off by more than 1 px (or not measured). */
  outliers: number;
}

/** rms position error over the rms per-star CRLB, over the clean stars of every field. */
function crlbFigures(fields: SynthField[], o: MeasureOptions): Figures {
  const dx: number[] = [];
  const dy: number[] = [];
  let crlb2 = 0;
  let outliers = 0;
  for (const f of fields) {
    const res = measureStars(f.image, f.stars.map((s) => ({ x: s.x_init, y: s.y_init })), { gain: f.gain, readNoise: f.readNoise, ...o }).toRecords();
    f.stars.forEach((s, i) => {
      if (!isClean(s, o.fwhm!)) return;
      const m = res[i]!;
      dx.push(m.x - s.x);
      dy.push(m.y - s.y);
      if (!(Math.hypot(m.x - s.x, m.y - s.y) <= 1)) outliers++;
      crlb2 += (s.crlb_x ?? NaN) ** 2 + (s.crlb_y ?? NaN) ** 2;
    });
  }
  return { ratio: rms2d(dx, dy) / Math.sqrt(crlb2 / dx.length), clean: dx.length, outliers };
}

const slopeOnly = (spec: SynthSpec): SynthSpec => ({ ...spec, sky: { ...spec.sky, blobs: [] } });
const fields = (spec: (seed: number) => SynthSpec): SynthField[] => SEEDS.map((s) => synthField(spec(s)));

describe('synthetic fields', () => {
  test('the same seed gives the same field; truth and noise as the fixtures describe', () => {
    const a = synthField(undersampledSpec(7));
    const b = synthField(undersampledSpec(7));
    expect(b.image.data).toEqual(a.image.data);
    expect(b.stars).toEqual(a.stars);
    // Far from the stars the pixel variance is sky/gain + (readNoise/gain)².
    let s = 0;
    let s2 = 0;
    let n = 0;
    for (let k = 0; k < a.image.data.length; k++) {
      const x = k % a.image.width;
      const y = Math.floor(k / a.image.width);
      if (!a.stars.every((t) => Math.hypot(t.x - x, t.y - y) > 12)) continue;
      const d = (a.image.data[k] as number) - (a.sky[k] as number);
      s += d;
      s2 += d * d;
      n++;
    }
    const variance = s2 / n - (s / n) ** 2;
    expect(Math.abs(s / n)).toBeLessThan(0.5);
    expect(variance / (1000 / 1.5 + (5 / 1.5) ** 2)).toBeGreaterThan(0.97);
    expect(variance / (1000 / 1.5 + (5 / 1.5) ** 2)).toBeLessThan(1.03);
  });
});

describe('sky slope of 3 % across a stamp, annulus plane', () => {
  const gauss = fields((s) => slopeOnly(gradientNebulaSpec('gaussian', s)));
  const moffat = fields((s) => slopeOnly(gradientNebulaSpec('moffat', s)));
  for (const [f, method, fwhm] of [[gauss, 'gaussian', 3], [gauss, 'moments', 3], [moffat, 'moffat', 3.5]] as const) {
    test(`${method}: position rms ≤ 1.10 × CRLB, no clean star off by more than 1 px`, () => {
      const fig = crlbFigures(f, { method, fwhm, background: 'annulus' });
      expect(fig.clean).toBeGreaterThanOrEqual(300);
      expect(fig.outliers).toBe(0);
      expect(fig.ratio).toBeLessThanOrEqual(1.1);
    });
  }
  // The defaults of skySlope (defaultSkySlope) rest on these comparisons.
  test('gaussian: fitting the slope (the default) beats subtracting the plane alone (1.022 against 1.046)', () => {
    const fit = crlbFigures(gauss, { method: 'gaussian', fwhm: 3, background: 'annulus', skySlope: 'fit' });
    const fixed = crlbFigures(gauss, { method: 'gaussian', fwhm: 3, background: 'annulus', skySlope: 'fixed' });
    expect(fit.outliers + fixed.outliers).toBe(0);
    expect(fit.ratio).toBeLessThan(fixed.ratio);
  });
  test('moffat: the plane alone (the default) beats fitting the slope (1.067 against 1.114)', () => {
    const fit = crlbFigures(moffat, { method: 'moffat', fwhm: 3.5, background: 'annulus', skySlope: 'fit' });
    const fixed = crlbFigures(moffat, { method: 'moffat', fwhm: 3.5, background: 'annulus', skySlope: 'fixed' });
    expect(fixed.ratio).toBeLessThan(fit.ratio);
  });
});

describe('sky slope and two 1000-ADU nebula blobs, annulus plane', () => {
  const gauss = fields((s) => gradientNebulaSpec('gaussian', s));
  const moffat = fields((s) => gradientNebulaSpec('moffat', s));
  test('moments: position rms ≤ 1.10 × CRLB, no clean star off by more than 1 px', () => {
    const fig = crlbFigures(gauss, { method: 'moments', fwhm: 3, background: 'annulus' });
    expect(fig.outliers).toBe(0);
    expect(fig.ratio).toBeLessThanOrEqual(1.1);
  });
  test('gaussian: position rms ≤ 1.10 × CRLB, no clean star off by more than 1 px', () => {
    const fig = crlbFigures(gauss, { method: 'gaussian', fwhm: 3, background: 'annulus' });
    expect(fig.clean).toBeGreaterThanOrEqual(300);
    expect(fig.outliers).toBe(0);
    expect(fig.ratio).toBeLessThanOrEqual(1.1);
  });
  for (const method of ['moffat', 'moments'] as const) {
    test(`${method} on Moffat stars: position rms ≤ 1.10 × CRLB, no clean star off by more than 1 px`, () => {
      const fig = crlbFigures(moffat, { method, fwhm: 3.5, background: 'annulus' });
      expect(fig.clean).toBeGreaterThanOrEqual(300);
      expect(fig.outliers).toBe(0);
      expect(fig.ratio).toBeLessThanOrEqual(1.1);
    });
  }
});

describe('undersampled stars (FWHM 1.5)', () => {
  const under = fields((s) => undersampledSpec(s + 2));
  test('gaussian: position rms ≤ 1.05 × CRLB', () => {
    const fig = crlbFigures(under, { method: 'gaussian', fwhm: 1.5 });
    expect(fig.outliers).toBe(0);
    expect(fig.ratio).toBeLessThanOrEqual(1.05);
  });
  test('moments: position rms ≤ 1.3 × CRLB (3.86 with the matched window)', () => {
    const fig = crlbFigures(under, { method: 'moments', fwhm: 1.5 });
    expect(fig.outliers).toBe(0);
    expect(fig.ratio).toBeLessThanOrEqual(1.3);
  });
});
