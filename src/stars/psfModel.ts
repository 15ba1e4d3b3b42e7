/**
 * Models, parameter layouts, result codes and the precision-free parts of the PSF fit (see psfFit.ts).
 *
 * Parameters are stamp-local and scaled: x0, y0 in px from the stamp's centre pixel, widths in
 * px, fluxes, amplitudes and the sky B in units of the stamp's scale S (data = (pixel − sky)/S).
 * With FitStamp.slope every layout ends in [..., B, Bx, By] (SLOPE_PARAMS).
 */

/**
 * Axis-aligned Gaussian, method 'gaussian': [x0, y0, F, σx, σy, B], F the total flux, σ in px
 * (photutils' GaussianPSF with theta 0: flux, x_0, y_0 and FWHMs instead of σ).
 */
export const PSF_GAUSSIAN = 0;
/**
 * Rotated Gaussian, method 'gaussianRotated': [x0, y0, F, a, b, c, B], the precision matrix
 * [[a, b], [b, c]] = Σ⁻¹ in px⁻² (photutils' GaussianPSF and astropy's Gaussian2D use two widths
 * and an angle instead).
 */
export const PSF_GAUSSIAN_ROTATED = 1;
/**
 * Circular Moffat A·(1 + r²/α²)^−β with β fixed at FitStamp.beta (method 'moffat' with
 * MeasureOptions.beta): [x0, y0, A, α, B], A the peak, α in px; flux πα²A/(β − 1). Astropy's
 * Moffat2D calls α gamma and β alpha.
 */
export const PSF_MOFFAT = 2;
/**
 * Circular Moffat with β fitted too (method 'moffat' without MeasureOptions.beta):
 * [x0, y0, A, α, β, B], β kept within BETA_MIN … BETA_MAX.
 */
export const PSF_MOFFAT_BETA = 3;
/** A PSF model: one of the PSF_* codes (0 Gaussian, 1 rotated Gaussian, 2 Moffat fixed β, 3 Moffat free β). */
export type PsfModel = 0 | 1 | 2 | 3;
/** Parameters of each model without the sky slope, indexed by PsfModel. */
export const PSF_PARAMS: readonly number[] = [6, 7, 5, 6];

/** Every parameter's step fell below its tolerance (setTolerances: 1e-4 px for x0, y0). */
export const FIT_CONVERGED = 0;
/** MAX_ITERATIONS (100) iterations without converging. */
export const FIT_MAX_ITERATIONS = 1;
/** JᵀWJ could not be factored even with the damping λ raised past 1e10. */
export const FIT_SINGULAR = 2;
/** No trial step lowered χ² before the damping λ passed 1e10. */
export const FIT_LAMBDA_OVERFLOW = 3;
/** No more pixels of non-zero weight than parameters: not started. */
export const FIT_TOO_FEW_PIXELS = 4;
/** The starting parameters lie outside their bounds (admissible) or give a non-finite χ²: not started. */
export const FIT_INVALID = 5;
/** Why a fit stopped, indexed by the FIT_* codes. */
export const FIT_REASONS = ['converged', 'maxIterations', 'singular', 'lambdaOverflow', 'tooFewPixels', 'invalidParameters'] as const;
/** Name of a FIT_* code, as StarMeasurement.fitReason gives it. */
export type FitReason = (typeof FIT_REASONS)[number];

/**
 * With a fitted sky slope (FitStamp.slope) every layout gains Bx, By after B: the sky under the
 * star is B + Bx·u + By·v in the stamp's coordinates, on top of the plane already subtracted.
 */
export const SLOPE_PARAMS = 2;

/** Parameters of `model`'s fit, with the sky slope's two when it is fitted. */
export function fitParams(model: PsfModel, slope: boolean): number {
  return (PSF_PARAMS[model] as number) + (slope ? SLOPE_PARAMS : 0);
}

/** Largest stamp side (radius 15) and parameter count (the rotated Gaussian with a slope) the fitter is built for. */
export const MAX_SIDE = 31;
/** Most parameters of one fit: the rotated Gaussian's 7 and the sky slope's 2. */
export const MAXP = 9;
/** Levenberg–Marquardt iterations before a fit stops with FIT_MAX_ITERATIONS. */
export const MAX_ITERATIONS = 100;

/** One star's fit input, stamp-local and scaled. `w` = 0 leaves a pixel out (off the image, NaN, saturated). */
export interface FitStamp {
  /** Pixels per stamp row and column, 2·radius + 1 (at most MAX_SIDE). */
  side: number;
  /** Stamp radius R, px: pixel (i, j) has its centre at u = i − R, v = j − R. */
  radius: number;
  /** side² data values, row-major: (pixel − local sky)/S, S the stamp's scale. */
  z: Float64Array | Float32Array;
  /** side² inverse variances of `z`, in the same scaled units; 0 leaves the pixel out. */
  w: Float64Array | Float32Array;
  /** Sky σ in scaled units; sets the tolerance on B. */
  noise: number;
  /** Moffat β of the fixed-β model (unused by the others). */
  beta: number;
  /** Fit the sky's slope (Bx, By after B) as well as its level; omitted, the level only. */
  slope?: boolean;
}

/** Reused result record of one fit. */
export interface FitOutcome {
  /** Why the fit stopped: a FIT_* code (FIT_REASONS names it). */
  reason: number;
  /** Levenberg–Marquardt iterations run, rejected trial steps included (0 when not started). */
  iterations: number;
  /**
   * χ² = Σ w·(z − model)² at the last evaluated, accepted parameters (on convergence one
   * sub-tolerance step before the returned ones): dimensionless, the weights being inverse
   * variances of the scaled data. NaN when the fit did not start.
   */
  chi2: number;
  /** Pixels with non-zero weight. */
  pixels: number;
  /** Variances of x0 and y0 from (JᵀWJ)⁻¹ at the solution (px²). */
  varX: number;
  /** Variance of y0, px², as varX. */
  varY: number;
}

/**
 * Levenberg–Marquardt fitter of the PSF models (createPsfFitter). It owns its scratch arrays, so
 * a fit allocates nothing; one fitter serves one thread, star after star.
 */
export interface PsfFitter {
  /** Arithmetic of the fit: 'f64', or 'f32' with every stored quantity rounded to float32. */
  readonly precision: 'f64' | 'f32';
  /** Fits `model` to `stamp` starting from `p` (scaled layout above), leaving the solution in `p`. */
  fit(model: PsfModel, stamp: FitStamp, p: Float64Array, out: FitOutcome): void;
}

/** A fresh FitOutcome to reuse across fits: reason FIT_INVALID, no iterations, NaN χ² and variances. */
export function newFitOutcome(): FitOutcome {
  return { reason: FIT_INVALID, iterations: 0, chi2: NaN, pixels: 0, varX: NaN, varY: NaN };
}

/** Range of a fitted Moffat β: real seeing profiles lie well inside; beyond 20 the profile is a Gaussian. */
export const BETA_MIN = 1.5;
/** Upper bound of a fitted Moffat β (see BETA_MIN). */
export const BETA_MAX = 20;
/** 1/√(2π), the standard normal density's factor. */
export const SQRT1_2PI = 1 / Math.sqrt(2 * Math.PI);
/**
 * 2-point Gauss–Legendre nodes on a unit pixel, ±1/(2√3), indexed by the node. Read from a typed
 * array because `q === 0 ? -GL : GL` on a module constant merges a computed double with a tagged
 * one, and V8 then boxed the sum once per node and pixel (40 KB of garbage per rotated or Moffat fit).
 */
const GL = 0.5 / Math.sqrt(3);
export const GL_NODES = new Float64Array([-GL, GL]);

/**
 * Upper tails Q(|t|) = 1 − Φ(|t|) of the standard normal for the n values of `t`, given
 * gauss[k] = exp(−t[k]²/2), into `q`. Q = ½·erfc(x) = ½·erfcx(x)·exp(−x²) with x = |t|/√2, and
 * erfcx(x)·(1 + x/3) is a smooth function of s = 1/(1 + x/3) ∈ (0, 1]: the polynomial below is
 * its Chebyshev fit in s, weighted for relative error (< 6e-10 for every x ≥ 0, against erfc at
 * 50 digits). No exponential: the Gaussian factor is the caller's, which the tables obtain by
 * recurrence. Arrays in and out, so that no double crosses a call that V8 might not inline.
 */
export function upperTails(t: Float64Array, gauss: Float64Array, q: Float64Array, n: number): void {
  for (let k = 0; k < n; k++) {
    const s = 3 / (3 + Math.abs(t[k] as number) * Math.SQRT1_2);
    const e =
      0.18806319454869452 +
      s * (0.18806318426076912 +
      s * (0.17761572854721752 +
      s * (0.1567114638329192 +
      s * (0.12715945936110995 +
      s * (0.092434945596613 +
      s * (0.05387185472828043 +
      s * (0.04443357827337451 +
      s * (-0.05440092270477145 +
      s * (0.10624171253472403 +
      s * (-0.1430921403289534 +
      s * (0.07819234476069324 +
      s * -0.015294403919607891)))))))))));
    q[k] = 0.5 * s * e * (gauss[k] as number);
  }
}

/** Physical bounds; a trial outside them is treated like a step that raised χ². */
export function admissible(model: PsfModel, p: Float64Array, R: number): boolean {
  const lim = R + 1;
  if (!(Math.abs(p[0] as number) < lim && Math.abs(p[1] as number) < lim && (p[2] as number) > 0)) return false;
  const wMax = 3 * R;
  switch (model) {
    case PSF_GAUSSIAN: {
      const sx = p[3] as number, sy = p[4] as number;
      return sx > 0.2 && sy > 0.2 && sx < wMax && sy < wMax && Number.isFinite(p[5] as number);
    }
    case PSF_GAUSSIAN_ROTATED: {
      const a = p[3] as number, b = p[4] as number, c = p[5] as number;
      const tr = a + c;
      const det = a * c - b * b;
      if (!(a > 0 && c > 0 && det > 0)) return false;
      const disc = Math.sqrt(Math.max(0.25 * tr * tr - det, 0));
      // Eigenvalues of the precision matrix are 1/σ² along the principal axes.
      return 0.5 * tr + disc < 25 && 0.5 * tr - disc > 1 / (wMax * wMax) && Number.isFinite(p[6] as number);
    }
    case PSF_MOFFAT: {
      const al = p[3] as number;
      return al > 0.2 && al < 2 * wMax && Number.isFinite(p[4] as number);
    }
    default: {
      const al = p[3] as number, be = p[4] as number;
      return al > 0.2 && al < 2 * wMax && be >= BETA_MIN && be <= BETA_MAX && Number.isFinite(p[5] as number);
    }
  }
}

/** Index of a parameter sitting on its bound with the gradient pointing out, or −1. */
export function pinnedParameter(model: PsfModel, q: Float64Array, grad: Float64Array | Float32Array): number {
  if (model !== PSF_MOFFAT_BETA) return -1;
  const b = q[4] as number;
  const d = grad[4] as number;
  return (b <= BETA_MIN && d < 0) || (b >= BETA_MAX && d > 0) ? 4 : -1;
}

/** Per-parameter convergence tolerances at the starting point, into `tol`. */
export function setTolerances(model: PsfModel, p: Float64Array, st: FitStamp, tol: Float64Array): void {
  // Position: 1e-4 px absolute. Flux and shape: 1e-4 relative. Background: 1e-3 of the sky σ,
  // its slope 1e-3 of the sky σ across the stamp's radius.
  const np = PSF_PARAMS[model] as number;
  if (st.slope === true) {
    tol[np] = (1e-3 * st.noise) / st.radius;
    tol[np + 1] = tol[np] as number;
  }
  tol[0] = 1e-4;
  tol[1] = 1e-4;
  for (let k = 2; k < np - 1; k++) tol[k] = 1e-4 * Math.abs(p[k] as number);
  if (model === PSF_GAUSSIAN_ROTATED) {
    const s = 1e-4 * ((p[3] as number) + (p[5] as number));
    tol[3] = s;
    tol[4] = s;
    tol[5] = s;
  }
  tol[np - 1] = 1e-3 * st.noise;
}
