/** Models, parameter layouts, result codes and the precision-free parts of the PSF fit (see psfFit.ts). */
export const PSF_GAUSSIAN = 0;
export const PSF_GAUSSIAN_ROTATED = 1;
export const PSF_MOFFAT = 2;
export const PSF_MOFFAT_BETA = 3;
export type PsfModel = 0 | 1 | 2 | 3;
export const PSF_PARAMS: readonly number[] = [6, 7, 5, 6];

export const FIT_CONVERGED = 0;
export const FIT_MAX_ITERATIONS = 1;
export const FIT_SINGULAR = 2;
export const FIT_LAMBDA_OVERFLOW = 3;
export const FIT_TOO_FEW_PIXELS = 4;
export const FIT_INVALID = 5;
/** Why a fit stopped, indexed by the FIT_* codes. */
export const FIT_REASONS = ['converged', 'maxIterations', 'singular', 'lambdaOverflow', 'tooFewPixels', 'invalidParameters'] as const;
export type FitReason = (typeof FIT_REASONS)[number];

/** Largest stamp side (radius 15) and parameter count the fitter is built for. */
export const MAX_SIDE = 31;
export const MAXP = 8;
export const MAX_ITERATIONS = 100;

/** One star's fit input, stamp-local and scaled. `w` = 0 leaves a pixel out (off the image, NaN, saturated). */
export interface FitStamp {
  side: number;
  radius: number;
  z: Float64Array | Float32Array;
  w: Float64Array | Float32Array;
  /** Sky σ in scaled units; sets the tolerance on B. */
  noise: number;
  /** Moffat β of the fixed-β model (unused by the others). */
  beta: number;
}

/** Reused result record of one fit. */
export interface FitOutcome {
  reason: number;
  iterations: number;
  chi2: number;
  /** Pixels with non-zero weight. */
  pixels: number;
  /** Variances of x0 and y0 from (JᵀWJ)⁻¹ at the solution (px²). */
  varX: number;
  varY: number;
}

export interface PsfFitter {
  readonly precision: 'f64' | 'f32';
  /** Fits `model` to `stamp` starting from `p` (scaled layout above), leaving the solution in `p`. */
  fit(model: PsfModel, stamp: FitStamp, p: Float64Array, out: FitOutcome): void;
}

export function newFitOutcome(): FitOutcome {
  return { reason: FIT_INVALID, iterations: 0, chi2: NaN, pixels: 0, varX: NaN, varY: NaN };
}

/** Range of a fitted Moffat β: real seeing profiles lie well inside; beyond 20 the profile is a Gaussian. */
export const BETA_MIN = 1.5;
export const BETA_MAX = 20;
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
export function setTolerances(model: PsfModel, np: number, p: Float64Array, st: FitStamp, tol: Float64Array): void {
  // Position: 1e-4 px absolute. Flux and shape: 1e-4 relative. Background: 1e-3 of the sky σ.
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
