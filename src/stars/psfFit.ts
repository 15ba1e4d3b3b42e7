/**
 * Levenberg–Marquardt for the small, fixed-size PSF fits of one star stamp.
 *
 * Everything is laid out as the WGSL port will need it (one workgroup per star): the stamp is a
 * flat array of side² values in stamp-local coordinates (pixel (i, j) has its centre at
 * u = i − R, v = j − R, so positions stay O(R) and keep their precision in float32), the data
 * are background-subtracted and divided by a scale S so amplitudes are O(1), and each model has
 * a fixed parameter layout with the background last:
 *
 *   gaussian         [x0, y0, F, σx, σy, B]
 *   gaussianRotated  [x0, y0, F, a, b, c, B]   precision matrix [[a, b], [b, c]] = Σ⁻¹
 *   moffat           [x0, y0, A, α, B]         β fixed
 *   moffatBeta       [x0, y0, A, α, β, B]
 *
 * With FitStamp.slope (MeasureOptions.skySlope 'fit') every layout gains the sky's slope after B,
 * [..., B, Bx, By], the model's sky being B + Bx·u + By·v on top of the plane already subtracted
 * (fitParams gives the count, at most MAXP = 9).
 *
 * F is the total (untruncated) flux, A the Moffat peak: A·(1 + r²/α²)^−β, flux πα²A/(β − 1). Every model is integrated over the pixel: the axis-aligned
 * Gaussian exactly, through differences of the normal CDF (it is separable), the others with a
 * 2×2 Gauss–Legendre rule per pixel. Each iteration is one pass over the stamp that produces the
 * model, χ², JᵀWJ and JᵀWr at a trial point; a rejected trial costs one pass as well.
 *
 * `createPsfFitter('f32')` runs the same algorithm with every stored quantity rounded to float32
 * (Math.fround), which is how the fits are checked to converge in float32 arithmetic.
 */
import { createF32PsfFitter } from './psfFit32.js';
import { createF64PsfFitter } from './psfFit64.js';
import type { PsfFitter } from './psfModel.js';

export {
  FIT_CONVERGED,
  FIT_INVALID,
  FIT_LAMBDA_OVERFLOW,
  FIT_MAX_ITERATIONS,
  FIT_REASONS,
  FIT_SINGULAR,
  FIT_TOO_FEW_PIXELS,
  fitParams,
  MAX_SIDE,
  MAXP,
  newFitOutcome,
  PSF_GAUSSIAN,
  PSF_GAUSSIAN_ROTATED,
  PSF_MOFFAT,
  PSF_MOFFAT_BETA,
  PSF_PARAMS,
  type FitOutcome,
  type FitReason,
  type FitStamp,
  type PsfFitter,
  type PsfModel,
} from './psfModel.js';

/**
 * A fitter with its own scratch, for one thread to reuse star after star: 'f64' for float64
 * arithmetic, 'f32' for the same algorithm with every stored quantity rounded to float32.
 */
export function createPsfFitter(precision: 'f64' | 'f32'): PsfFitter {
  return precision === 'f32' ? createF32PsfFitter() : createF64PsfFitter();
}
