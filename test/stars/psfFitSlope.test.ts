/**
 * The sky slope in the PSF fit (FitStamp.slope, MeasureOptions.skySlope 'fit'): on a noiseless
 * stamp of a pixel-integrated star on a tilted sky, every model recovers the centre and the tilt
 * in both precisions, while a constant sky leaves the centre pulled along the tilt.
 */
import { describe, expect, test } from 'vitest';
import { createPsfFitter, measureStars, newFitOutcome, PSF_GAUSSIAN, PSF_GAUSSIAN_ROTATED, PSF_MOFFAT, PSF_MOFFAT_BETA, type PsfModel } from '../../src/stars/index.js';
import { fitParams } from '../../src/stars/psfModel.js';

const R = 7;
const SIDE = 2 * R + 1;
const X0 = 0.31;
const Y0 = -0.22;
const SIGMA = 1.4;
const BETA = 3;
const ALPHA = 2.355 * SIGMA / (2 * Math.sqrt(2 ** (1 / BETA) - 1));
const B = 0.02;
const BX = 0.006;
const BY = -0.004;
const SUB = 16;

/** The star (peak about 1, Gaussian or Moffat) integrated over each pixel, on the sky B + Bx·u + By·v. */
function stamp(moffat: boolean): Float64Array {
  const z = new Float64Array(SIDE * SIDE);
  for (let j = 0; j < SIDE; j++) {
    for (let i = 0; i < SIDE; i++) {
      let m = 0;
      for (let b = 0; b < SUB; b++) {
        for (let a = 0; a < SUB; a++) {
          const dx = i - R - 0.5 + (a + 0.5) / SUB - X0;
          const dy = j - R - 0.5 + (b + 0.5) / SUB - Y0;
          const r2 = dx * dx + dy * dy;
          m += moffat ? (1 + r2 / (ALPHA * ALPHA)) ** -BETA : Math.exp(-r2 / (2 * SIGMA * SIGMA));
        }
      }
      z[j * SIDE + i] = m / (SUB * SUB) + B + BX * (i - R) + BY * (j - R);
    }
  }
  return z;
}

/** A start a little off the truth; the slope starts at 0, as measureStars starts it. */
function start(model: PsfModel): Float64Array {
  const p = new Float64Array(9);
  p[0] = X0 + 0.2;
  p[1] = Y0 - 0.15;
  if (model === PSF_GAUSSIAN) p.set([2.2 * Math.PI * SIGMA * SIGMA, 1.1 * SIGMA, 0.9 * SIGMA, 0], 2);
  else if (model === PSF_GAUSSIAN_ROTATED) p.set([2.2 * Math.PI * SIGMA * SIGMA, 1 / (1.2 * SIGMA * SIGMA), 0.02, 1 / (0.9 * SIGMA * SIGMA), 0], 2);
  else if (model === PSF_MOFFAT) p.set([0.9, 1.1 * ALPHA, 0], 2);
  else p.set([0.9, 1.1 * ALPHA, 2.5, 0], 2);
  return p;
}

describe('PSF fit with the sky slope', () => {
  for (const precision of ['f64', 'f32'] as const) {
    for (const model of [PSF_GAUSSIAN, PSF_GAUSSIAN_ROTATED, PSF_MOFFAT, PSF_MOFFAT_BETA] as const) {
      test(`${precision}, model ${model}: centre and tilt recovered; a constant sky is pulled along the tilt`, () => {
        const moffat = model === PSF_MOFFAT || model === PSF_MOFFAT_BETA;
        const data = stamp(moffat);
        const z = precision === 'f32' ? Float32Array.from(data) : data;
        const w = precision === 'f32' ? new Float32Array(SIDE * SIDE).fill(1e4) : new Float64Array(SIDE * SIDE).fill(1e4);
        const fitter = createPsfFitter(precision);
        const out = newFitOutcome();
        const p = start(model);
        fitter.fit(model, { side: SIDE, radius: R, z, w, noise: 0.01, beta: BETA, slope: true }, p, out);
        expect(out.reason).toBe(0);
        const nb = fitParams(model, false) - 1;
        const tol = precision === 'f64' ? 1e-4 : 1e-3;
        expect(Math.abs((p[0] as number) - X0)).toBeLessThan(tol);
        expect(Math.abs((p[1] as number) - Y0)).toBeLessThan(tol);
        expect(Math.abs((p[nb + 1] as number) - BX)).toBeLessThan(tol * 0.1);
        expect(Math.abs((p[nb + 2] as number) - BY)).toBeLessThan(tol * 0.1);
        const q = start(model);
        fitter.fit(model, { side: SIDE, radius: R, z, w, noise: 0.01, beta: BETA }, q, out);
        // The tilt rises towards +x and −y: a constant sky leaves the centre displaced that way.
        expect((q[0] as number) - X0).toBeGreaterThan(10 * tol);
        expect((q[1] as number) - Y0).toBeLessThan(-10 * tol);
      });
    }
  }
});

describe('skySlope option', () => {
  test('anything but fixed or fit is refused, naming the option', () => {
    const image = { width: 8, height: 8, data: new Float32Array(64) };
    expect(() => measureStars(image, [], { skySlope: 'tilted' as never })).toThrow(/skySlope = 'tilted' \(skySlope must be one of 'fixed', 'fit'\)/);
  });
});
