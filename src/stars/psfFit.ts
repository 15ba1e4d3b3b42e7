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
 * F is the total (untruncated) flux, A the Moffat peak: A·(1 + r²/α²)^−β, flux πα²A/(β − 1). Every model is integrated over the pixel: the axis-aligned
 * Gaussian exactly, through differences of the normal CDF (it is separable), the others with a
 * 2×2 Gauss–Legendre rule per pixel. Each iteration is one pass over the stamp that produces the
 * model, χ², JᵀWJ and JᵀWr at a trial point; a rejected trial costs one pass as well.
 *
 * `createPsfFitter('f32')` builds the same code with every stored quantity rounded to float32
 * (Math.fround), which is how the fits are checked to converge in float32 arithmetic.
 */

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
const MAXP = 8;
const MAX_ITERATIONS = 100;

/** One star's fit input, stamp-local and scaled. `w` = 0 leaves a pixel out (off the image, NaN, saturated). */
export interface FitStamp {
  side: number;
  radius: number;
  z: Float64Array | Float32Array;
  w: Float64Array | Float32Array;
  /** Sky σ in scaled units; sets the tolerance on B. */
  noise: number;
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
  fit(model: PsfModel, stamp: FitStamp, p: Float64Array, beta: number, out: FitOutcome): void;
}

export function newFitOutcome(): FitOutcome {
  return { reason: FIT_INVALID, iterations: 0, chi2: NaN, pixels: 0, varX: NaN, varY: NaN };
}

/** Range of a fitted Moffat β: real seeing profiles lie well inside; beyond 20 the profile is a Gaussian. */
const BETA_MIN = 1.5;
const BETA_MAX = 20;
const SQRT1_2PI = 1 / Math.sqrt(2 * Math.PI);
/** 2-point Gauss–Legendre nodes on a unit pixel: ±1/(2√3). */
const GL = 0.5 / Math.sqrt(3);

/**
 * Upper tail Q(t) = 1 − Φ(t) of the standard normal for t ≥ 0, from erfc(t/√2) by the
 * Chebyshev-fitted formula of Press et al. (fractional error < 1.2e-7 everywhere).
 */
function upperTail(t: number, gauss: number): number {
  const x = t * Math.SQRT1_2;
  const s = 1 / (1 + 0.5 * x);
  const poly =
    -1.26551223 +
    s * (1.00002368 + s * (0.37409196 + s * (0.09678418 + s * (-0.18628806 + s * (0.27886807 + s * (-1.13520398 + s * (1.48851587 + s * (-0.82215223 + s * 0.17087277))))))));
  // exp(-x²) = exp(-t²/2) is the Gaussian already at hand.
  return 0.5 * s * gauss * Math.exp(poly);
}

export function createPsfFitter(precision: 'f64' | 'f32'): PsfFitter {
  const f32 = precision === 'f32';
  const fr: (x: number) => number = f32 ? Math.fround : (x: number) => x;
  const Arr = f32 ? Float32Array : Float64Array;
  const H = new Arr(MAXP * MAXP);
  const g = new Arr(MAXP);
  const Ht = new Arr(MAXP * MAXP);
  const gt = new Arr(MAXP);
  const A = new Arr(MAXP * MAXP);
  const delta = new Arr(MAXP);
  const pt = new Float64Array(MAXP);
  const tol = new Float64Array(MAXP);
  const J = new Arr(MAXP);
  const e0 = new Arr(MAXP);
  // Per-column and per-row factors of the separable Gaussian: value, ∂/∂centre, ∂/∂σ.
  const gx = new Arr(MAX_SIDE);
  const gxd = new Arr(MAX_SIDE);
  const gxs = new Arr(MAX_SIDE);
  const gy = new Arr(MAX_SIDE);
  const gyd = new Arr(MAX_SIDE);
  const gys = new Arr(MAX_SIDE);

  /** Pixel-integrated 1-D Gaussian over pixels u = k − R ± ½ for k < side. */
  function gaussTable(side: number, R: number, c: number, s: number, val: Float64Array | Float32Array, dval: Float64Array | Float32Array, sval: Float64Array | Float32Array): void {
    let tPrev = 0;
    let qPrev = 0;
    let phPrev = 0;
    for (let k = 0; k <= side; k++) {
      const t = fr((k - R - 0.5 - c) / s);
      const gauss = Math.exp(-0.5 * t * t);
      const ph = fr(SQRT1_2PI * gauss);
      const q = fr(upperTail(Math.abs(t), gauss));
      if (k > 0) {
        // Difference of CDFs taken on the side where both tails are small, so that far pixels keep
        // their relative precision (it matters in float32).
        let X: number;
        if (tPrev >= 0) X = qPrev - q;
        else if (t <= 0) X = q - qPrev;
        else X = 1 - q - qPrev;
        val[k - 1] = X;
        dval[k - 1] = fr(-(ph - phPrev) / s);
        sval[k - 1] = fr(-(t * ph - tPrev * phPrev) / s);
      }
      tPrev = t;
      qPrev = q;
      phPrev = ph;
    }
  }

  function evalGaussian(st: FitStamp, p: Float64Array, Hh: Float64Array | Float32Array, gg: Float64Array | Float32Array): number {
    const side = st.side;
    const R = st.radius;
    const x0 = p[0] as number;
    const y0 = p[1] as number;
    const F = p[2] as number;
    const sx = p[3] as number;
    const sy = p[4] as number;
    const B = p[5] as number;
    gaussTable(side, R, x0, sx, gx, gxd, gxs);
    gaussTable(side, R, y0, sy, gy, gyd, gys);
    const z = st.z;
    const w = st.w;
    let h00 = 0, h10 = 0, h11 = 0, h20 = 0, h21 = 0, h22 = 0, h30 = 0, h31 = 0, h32 = 0, h33 = 0;
    let h40 = 0, h41 = 0, h42 = 0, h43 = 0, h44 = 0, h50 = 0, h51 = 0, h52 = 0, h53 = 0, h54 = 0, h55 = 0;
    let g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0;
    let chi2 = 0;
    for (let j = 0; j < side; j++) {
      const Y = gy[j] as number;
      const FY = fr(F * Y);
      const FYd = fr(F * (gyd[j] as number));
      const FYs = fr(F * (gys[j] as number));
      let rowChi2 = 0;
      const base = j * side;
      for (let i = 0; i < side; i++) {
        const wt = w[base + i] as number;
        if (wt === 0) continue;
        const X = gx[i] as number;
        const j0 = fr(FY * (gxd[i] as number));
        const j1 = fr(X * FYd);
        const j2 = fr(X * Y);
        const j3 = fr(FY * (gxs[i] as number));
        const j4 = fr(X * FYs);
        const r = fr((z[base + i] as number) - fr(fr(F * j2) + B));
        const wr = fr(wt * r);
        rowChi2 = fr(rowChi2 + fr(wr * r));
        const w0 = fr(wt * j0), w1 = fr(wt * j1), w2 = fr(wt * j2), w3 = fr(wt * j3), w4 = fr(wt * j4);
        g0 = fr(g0 + fr(wr * j0)); g1 = fr(g1 + fr(wr * j1)); g2 = fr(g2 + fr(wr * j2));
        g3 = fr(g3 + fr(wr * j3)); g4 = fr(g4 + fr(wr * j4)); g5 = fr(g5 + wr);
        h00 = fr(h00 + fr(w0 * j0));
        h10 = fr(h10 + fr(w1 * j0)); h11 = fr(h11 + fr(w1 * j1));
        h20 = fr(h20 + fr(w2 * j0)); h21 = fr(h21 + fr(w2 * j1)); h22 = fr(h22 + fr(w2 * j2));
        h30 = fr(h30 + fr(w3 * j0)); h31 = fr(h31 + fr(w3 * j1)); h32 = fr(h32 + fr(w3 * j2)); h33 = fr(h33 + fr(w3 * j3));
        h40 = fr(h40 + fr(w4 * j0)); h41 = fr(h41 + fr(w4 * j1)); h42 = fr(h42 + fr(w4 * j2)); h43 = fr(h43 + fr(w4 * j3)); h44 = fr(h44 + fr(w4 * j4));
        h50 = fr(h50 + w0); h51 = fr(h51 + w1); h52 = fr(h52 + w2); h53 = fr(h53 + w3); h54 = fr(h54 + w4); h55 = fr(h55 + wt);
      }
      chi2 = fr(chi2 + rowChi2);
    }
    Hh[0] = h00;
    Hh[8] = h10; Hh[9] = h11;
    Hh[16] = h20; Hh[17] = h21; Hh[18] = h22;
    Hh[24] = h30; Hh[25] = h31; Hh[26] = h32; Hh[27] = h33;
    Hh[32] = h40; Hh[33] = h41; Hh[34] = h42; Hh[35] = h43; Hh[36] = h44;
    Hh[40] = h50; Hh[41] = h51; Hh[42] = h52; Hh[43] = h53; Hh[44] = h54; Hh[45] = h55;
    gg[0] = g0; gg[1] = g1; gg[2] = g2; gg[3] = g3; gg[4] = g4; gg[5] = g5;
    return chi2;
  }

  function clearNormal(np: number, Hh: Float64Array | Float32Array, gg: Float64Array | Float32Array): void {
    for (let k = 0; k < np; k++) {
      gg[k] = 0;
      for (let l = 0; l <= k; l++) Hh[k * MAXP + l] = 0;
    }
  }

  /** Adds one pixel (weight wt, residual r, Jacobian row J) to the lower triangle of JᵀWJ and to JᵀWr. */
  function accumulate(np: number, wt: number, r: number, Hh: Float64Array | Float32Array, gg: Float64Array | Float32Array): void {
    const wr = fr(wt * r);
    for (let k = 0; k < np; k++) {
      const jk = J[k] as number;
      const wk = fr(wt * jk);
      gg[k] = fr((gg[k] as number) + fr(wr * jk));
      const row = k * MAXP;
      for (let l = 0; l <= k; l++) Hh[row + l] = fr((Hh[row + l] as number) + fr(wk * (J[l] as number)));
    }
  }

  function evalRotated(st: FitStamp, p: Float64Array, Hh: Float64Array | Float32Array, gg: Float64Array | Float32Array): number {
    const side = st.side;
    const R = st.radius;
    const x0 = p[0] as number, y0 = p[1] as number, F = p[2] as number;
    const a = p[3] as number, b = p[4] as number, c = p[5] as number, B = p[6] as number;
    const D = fr(a * c - b * b);
    const N = fr((Math.sqrt(D) / (2 * Math.PI)) * 0.25);
    const FN = fr(F * N);
    const ca = fr(c / (2 * D)), cb = fr(-b / D), cc = fr(a / (2 * D));
    const z = st.z;
    const w = st.w;
    clearNormal(7, Hh, gg);
    let chi2 = 0;
    for (let j = 0; j < side; j++) {
      let rowChi2 = 0;
      for (let i = 0; i < side; i++) {
        const idx = j * side + i;
        const wt = w[idx] as number;
        if (wt === 0) continue;
        let s0 = 0, s1 = 0, s2 = 0, sa = 0, sb = 0, sc = 0;
        for (let qy = 0; qy < 2; qy++) {
          const dy = fr(j - R - y0 + (qy === 0 ? -GL : GL));
          for (let qx = 0; qx < 2; qx++) {
            const dx = fr(i - R - x0 + (qx === 0 ? -GL : GL));
            const e = fr(Math.exp(-0.5 * fr(fr(a * dx * dx) + fr(2 * b * dx * dy) + fr(c * dy * dy))));
            s0 = fr(s0 + e);
            s1 = fr(s1 + fr(e * fr(a * dx + b * dy)));
            s2 = fr(s2 + fr(e * fr(b * dx + c * dy)));
            sa = fr(sa + fr(e * dx * dx));
            sb = fr(sb + fr(e * dx * dy));
            sc = fr(sc + fr(e * dy * dy));
          }
        }
        const P = fr(N * s0);
        J[0] = fr(FN * s1);
        J[1] = fr(FN * s2);
        J[2] = P;
        J[3] = fr(FN * fr(ca * s0 - 0.5 * sa));
        J[4] = fr(FN * fr(cb * s0 - sb));
        J[5] = fr(FN * fr(cc * s0 - 0.5 * sc));
        J[6] = 1;
        const r = fr((z[idx] as number) - fr(fr(F * P) + B));
        rowChi2 = fr(rowChi2 + fr(fr(wt * r) * r));
        accumulate(7, wt, r, Hh, gg);
      }
      chi2 = fr(chi2 + rowChi2);
    }
    return chi2;
  }

  function evalMoffat(st: FitStamp, p: Float64Array, freeBeta: boolean, fixedBeta: number, Hh: Float64Array | Float32Array, gg: Float64Array | Float32Array): number {
    const side = st.side;
    const R = st.radius;
    const np = freeBeta ? 6 : 5;
    // F here is the peak amplitude A: with the total flux as parameter, β → 1 (all flux in the
    // wings) is a direction in which the flux diverges and LM crawls.
    const x0 = p[0] as number, y0 = p[1] as number, F = p[2] as number, alpha = p[3] as number;
    const beta = freeBeta ? (p[4] as number) : fixedBeta;
    const B = p[np - 1] as number;
    const ia2 = fr(1 / (alpha * alpha));
    const z = st.z;
    const w = st.w;
    clearNormal(np, Hh, gg);
    let chi2 = 0;
    for (let j = 0; j < side; j++) {
      let rowChi2 = 0;
      for (let i = 0; i < side; i++) {
        const idx = j * side + i;
        const wt = w[idx] as number;
        if (wt === 0) continue;
        let sP = 0, sX = 0, sY = 0, sR = 0, sL = 0;
        for (let qy = 0; qy < 2; qy++) {
          const dy = fr(j - R - y0 + (qy === 0 ? -GL : GL));
          for (let qx = 0; qx < 2; qx++) {
            const dx = fr(i - R - x0 + (qx === 0 ? -GL : GL));
            const r2 = fr(dx * dx + dy * dy);
            const u = fr(1 + r2 * ia2);
            const lu = fr(Math.log(u));
            const pw = fr(Math.exp(-beta * lu));
            const pw1 = fr(pw / u);
            sP = fr(sP + pw);
            sX = fr(sX + fr(pw1 * dx));
            sY = fr(sY + fr(pw1 * dy));
            sR = fr(sR + fr(pw1 * r2));
            sL = fr(sL + fr(pw * lu));
          }
        }
        const P = fr(0.25 * sP);
        const c = fr(0.5 * F * beta * ia2);
        J[0] = fr(c * sX);
        J[1] = fr(c * sY);
        J[2] = P;
        J[3] = fr(fr(c * sR) / alpha);
        if (freeBeta) J[4] = fr(-0.25 * F * sL);
        J[np - 1] = 1;
        const r = fr((z[idx] as number) - fr(fr(F * P) + B));
        rowChi2 = fr(rowChi2 + fr(fr(wt * r) * r));
        accumulate(np, wt, r, Hh, gg);
      }
      chi2 = fr(chi2 + rowChi2);
    }
    return chi2;
  }

  function evaluate(model: PsfModel, st: FitStamp, p: Float64Array, beta: number, Hh: Float64Array | Float32Array, gg: Float64Array | Float32Array): number {
    switch (model) {
      case PSF_GAUSSIAN: return evalGaussian(st, p, Hh, gg);
      case PSF_GAUSSIAN_ROTATED: return evalRotated(st, p, Hh, gg);
      case PSF_MOFFAT: return evalMoffat(st, p, false, beta, Hh, gg);
      default: return evalMoffat(st, p, true, beta, Hh, gg);
    }
  }

  /** Physical bounds; a trial outside them is treated like a step that raised χ². */
  function admissible(model: PsfModel, p: Float64Array, R: number): boolean {
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

  /**
   * Moffat β is weakly constrained for faint stars and drifts towards the Gaussian limit; it is
   * held on its bounds rather than the step being refused, so the other parameters still converge.
   */
  function project(model: PsfModel, q: Float64Array): void {
    if (model === PSF_MOFFAT_BETA) q[4] = fr(Math.min(Math.max(q[4] as number, BETA_MIN), BETA_MAX));
  }

  /** Index of a parameter sitting on its bound with the gradient pointing out, or −1. */
  function pinnedParameter(model: PsfModel, q: Float64Array, grad: Float64Array | Float32Array): number {
    if (model !== PSF_MOFFAT_BETA) return -1;
    const b = q[4] as number;
    const d = grad[4] as number;
    return (b <= BETA_MIN && d < 0) || (b >= BETA_MAX && d > 0) ? 4 : -1;
  }

  /** Cholesky of the lower triangle of M (np×np, stride MAXP) in place; false if not positive definite. */
  function cholesky(M: Float64Array | Float32Array, np: number): boolean {
    for (let k = 0; k < np; k++) {
      let d = M[k * MAXP + k] as number;
      for (let m = 0; m < k; m++) d = fr(d - fr((M[k * MAXP + m] as number) ** 2));
      if (!(d > 0)) return false;
      const L = fr(Math.sqrt(d));
      M[k * MAXP + k] = L;
      for (let i = k + 1; i < np; i++) {
        let s = M[i * MAXP + k] as number;
        for (let m = 0; m < k; m++) s = fr(s - fr((M[i * MAXP + m] as number) * (M[k * MAXP + m] as number)));
        M[i * MAXP + k] = fr(s / L);
      }
    }
    return true;
  }

  /** Solves L Lᵀ x = b with the factor from `cholesky`; b is overwritten by x. */
  function cholSolve(M: Float64Array | Float32Array, np: number, b: Float64Array | Float32Array): void {
    for (let i = 0; i < np; i++) {
      let s = b[i] as number;
      for (let m = 0; m < i; m++) s = fr(s - fr((M[i * MAXP + m] as number) * (b[m] as number)));
      b[i] = fr(s / (M[i * MAXP + i] as number));
    }
    for (let i = np - 1; i >= 0; i--) {
      let s = b[i] as number;
      for (let m = i + 1; m < np; m++) s = fr(s - fr((M[m * MAXP + i] as number) * (b[m] as number)));
      b[i] = fr(s / (M[i * MAXP + i] as number));
    }
  }

  function setTolerances(model: PsfModel, np: number, p: Float64Array, noise: number): void {
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
    tol[np - 1] = 1e-3 * noise;
  }

  function fit(model: PsfModel, st: FitStamp, p: Float64Array, beta: number, out: FitOutcome): void {
    const np = PSF_PARAMS[model] as number;
    const n = st.side * st.side;
    let pixels = 0;
    for (let i = 0; i < n; i++) if ((st.w[i] as number) > 0) pixels++;
    out.pixels = pixels;
    out.iterations = 0;
    out.varX = NaN;
    out.varY = NaN;
    out.chi2 = NaN;
    if (pixels <= np) {
      out.reason = FIT_TOO_FEW_PIXELS;
      return;
    }
    for (let k = 0; k < np; k++) p[k] = fr(p[k] as number);
    if (!admissible(model, p, st.radius)) {
      out.reason = FIT_INVALID;
      return;
    }
    setTolerances(model, np, p, st.noise);
    let chi2 = evaluate(model, st, p, beta, H, g);
    if (!Number.isFinite(chi2)) {
      out.reason = FIT_INVALID;
      return;
    }
    let lambda = 1e-3;
    let reason = FIT_MAX_ITERATIONS;
    let it = 0;
    while (it < MAX_ITERATIONS) {
      it++;
      for (let k = 0; k < np; k++) {
        for (let l = 0; l < k; l++) A[k * MAXP + l] = H[k * MAXP + l] as number;
        // Marquardt's scaling: damping proportional to each parameter's own curvature, so the
        // result does not depend on the units of the parameters.
        A[k * MAXP + k] = fr((H[k * MAXP + k] as number) * (1 + lambda));
        delta[k] = g[k] as number;
      }
      const pinned = pinnedParameter(model, p, g);
      if (pinned >= 0) {
        // A parameter on its bound that the gradient pushes outwards is held for this step;
        // otherwise the other parameters' steps assume it moves and the fit stalls.
        for (let l = 0; l < np; l++) {
          if (l < pinned) A[pinned * MAXP + l] = 0;
          else if (l > pinned) A[l * MAXP + pinned] = 0;
        }
        A[pinned * MAXP + pinned] = 1;
        delta[pinned] = 0;
      }
      if (!cholesky(A, np)) {
        lambda *= 10;
        if (lambda > 1e10) {
          reason = FIT_SINGULAR;
          break;
        }
        continue;
      }
      cholSolve(A, np, delta);
      // The damped step is roughly the Gauss–Newton step shrunk by 1/(1 + λ); scaling it back up
      // keeps a heavily damped (hence tiny) step from passing for convergence.
      for (let k = 0; k < np; k++) pt[k] = fr((p[k] as number) + (delta[k] as number));
      project(model, pt);
      let small = true;
      for (let k = 0; k < np; k++) {
        // Shape and flux also count as converged once the step is 1 % of the parameter's
        // conditional σ, 1/sqrt(H_kk): a weakly constrained Moffat β otherwise crawls along its
        // valley with the position long settled.
        const t = k < 2 ? (tol[k] as number) : Math.max(tol[k] as number, 0.01 / Math.sqrt(H[k * MAXP + k] as number));
        if (!(Math.abs((pt[k] as number) - (p[k] as number)) * (1 + lambda) < t)) small = false;
      }
      let chi2t = Infinity;
      if (admissible(model, pt, st.radius)) chi2t = evaluate(model, st, pt, beta, Ht, gt);
      if (chi2t <= chi2) {
        for (let k = 0; k < np; k++) p[k] = pt[k] as number;
        for (let k = 0; k < np; k++) {
          g[k] = gt[k] as number;
          for (let l = 0; l <= k; l++) H[k * MAXP + l] = Ht[k * MAXP + l] as number;
        }
        chi2 = chi2t;
        lambda = Math.max(lambda * 0.3, 1e-12);
        if (small) {
          reason = FIT_CONVERGED;
          break;
        }
      } else {
        // A step already below tolerance that no longer lowers χ²: the optimum is reached to the
        // precision of the arithmetic (this is what ends most float32 fits).
        if (small) {
          reason = FIT_CONVERGED;
          break;
        }
        lambda *= 10;
        if (lambda > 1e10) {
          reason = FIT_LAMBDA_OVERFLOW;
          break;
        }
      }
    }
    out.reason = reason;
    out.iterations = it;
    out.chi2 = chi2;
    for (let k = 0; k < np; k++) for (let l = 0; l <= k; l++) A[k * MAXP + l] = H[k * MAXP + l] as number;
    if (cholesky(A, np)) {
      for (let axis = 0; axis < 2; axis++) {
        for (let k = 0; k < np; k++) e0[k] = k === axis ? 1 : 0;
        cholSolve(A, np, e0);
        if (axis === 0) out.varX = e0[0] as number;
        else out.varY = e0[1] as number;
      }
    }
  }

  return { precision, fit };
}
