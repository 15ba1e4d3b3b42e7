/**
 * The PSF fit in float64 arithmetic, the production path (psfFit32.ts is its float32 twin, and
 * says why the two are separate functions).
 */
import {
  admissible,
  BETA_MAX,
  BETA_MIN,
  FIT_CONVERGED,
  FIT_INVALID,
  FIT_LAMBDA_OVERFLOW,
  FIT_MAX_ITERATIONS,
  FIT_SINGULAR,
  FIT_TOO_FEW_PIXELS,
  fitParams,
  GL_NODES,
  MAX_ITERATIONS,
  MAX_SIDE,
  MAXP,
  pinnedParameter,
  PSF_GAUSSIAN,
  PSF_GAUSSIAN_ROTATED,
  PSF_MOFFAT,
  PSF_MOFFAT_BETA,
  SLOPE_PARAMS,
  setTolerances,
  SQRT1_2PI,
  upperTails,
  type FitOutcome,
  type FitStamp,
  type PsfFitter,
  type PsfModel,
} from './psfModel.js';

const ARRAY = Float64Array;
const PRECISION = 'f64';

export function createF64PsfFitter(): PsfFitter {
  const Arr = ARRAY;
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
  /** χ² of the last evaluation: returned through memory, as a returned double is boxed. */
  const sq = new Float64Array(1);
  // Per-column and per-row factors of the separable Gaussian: value, ∂/∂centre, ∂/∂σ.
  const gx = new Arr(MAX_SIDE);
  const gxd = new Arr(MAX_SIDE);
  const gxs = new Arr(MAX_SIDE);
  const gy = new Arr(MAX_SIDE);
  const gyd = new Arr(MAX_SIDE);
  const gys = new Arr(MAX_SIDE);

  /** Per pixel edge of one axis: t, exp(−t²/2) and the upper tail Q(|t|). */
  const edgeT = new Float64Array(MAX_SIDE + 1);
  const edgeGauss = new Float64Array(MAX_SIDE + 1);
  const edgeQ = new Float64Array(MAX_SIDE + 1);

  /**
   * Pixel-integrated 1-D Gaussian over pixels u = k − R ± ½ for k < side. Adjacent pixels share
   * an edge, so the side + 1 edge values are computed once each, and the Gaussian at the edges,
   * t_k = t_0 + k·h with h = 1/σ, comes by recurrence: exp(−(t + h)²/2) = exp(−t²/2)·r with
   * r = exp(−th − h²/2), r itself changes by exp(−h²) per edge, and the first factors of the two
   * directions multiply to exp(−h²): three exponentials per table instead of one per edge. The
   * recurrence runs outwards from the edge nearest the centre, where the values are largest, so
   * they only shrink (underflowing gracefully far out) and the relative error stays at a few ulp.
   */
  function gaussTable(side: number, R: number, p: Float64Array, ci: number, si: number, val: Float64Array, dval: Float64Array, sval: Float64Array): void {
    const c = p[ci] as number;
    const s = p[si] as number;
    const h = 1 / s;
    const f = Math.exp(-h * h);
    const m = Math.min(Math.max(Math.round(R + 0.5 + c), 0), side);
    const tm = (m - R - 0.5 - c) / s;
    const em = Math.exp(-0.5 * tm * tm);
    edgeGauss[m] = em;
    let e = em;
    const up = Math.exp(-tm * h - 0.5 * h * h);
    let ratio = up;
    for (let k = m + 1; k <= side; k++) {
      e *= ratio;
      ratio *= f;
      edgeGauss[k] = e;
    }
    e = em;
    // exp(th − h²/2) = exp(−h²) / exp(−th − h²/2).
    ratio = f / up;
    for (let k = m - 1; k >= 0; k--) {
      e *= ratio;
      ratio *= f;
      edgeGauss[k] = e;
    }
    for (let k = 0; k <= side; k++) edgeT[k] = (k - R - 0.5 - c) / s;
    upperTails(edgeT, edgeGauss, edgeQ, side + 1);
    let tPrev = 0;
    let qPrev = 0;
    let phPrev = 0;
    for (let k = 0; k <= side; k++) {
      const t = edgeT[k] as number;
      const ph = SQRT1_2PI * (edgeGauss[k] as number);
      const q = edgeQ[k] as number;
      if (k > 0) {
        // Difference of CDFs taken on the side where both tails are small, so that far pixels keep
        // their relative precision (it matters in float32).
        let X: number;
        if (tPrev >= 0) X = qPrev - q;
        else if (t <= 0) X = q - qPrev;
        else X = 1 - q - qPrev;
        val[k - 1] = X;
        dval[k - 1] = -(ph - phPrev) / s;
        sval[k - 1] = -(t * ph - tPrev * phPrev) / s;
      }
      tPrev = t;
      qPrev = q;
      phPrev = ph;
    }
  }

  function evalGaussian(st: FitStamp, p: Float64Array, Hh: Float64Array, gg: Float64Array): void {
    const side = st.side;
    const R = st.radius;
    const F = p[2] as number;
    const B = p[5] as number;
    // The sky slope's rows of JᵀWJ (pixel factors u, v) are summed only when it is fitted.
    const slope = st.slope === true;
    const Bx = slope ? (p[6] as number) : 0;
    const By = slope ? (p[7] as number) : 0;
    const M = MAXP;
    let h60 = 0, h61 = 0, h62 = 0, h63 = 0, h64 = 0, h65 = 0, h66 = 0;
    let h70 = 0, h71 = 0, h72 = 0, h73 = 0, h74 = 0, h75 = 0, h76 = 0, h77 = 0;
    let g6 = 0, g7 = 0;
    gaussTable(side, R, p, 0, 3, gx, gxd, gxs);
    gaussTable(side, R, p, 1, 4, gy, gyd, gys);
    const z = st.z;
    const w = st.w;
    let h00 = 0, h10 = 0, h11 = 0, h20 = 0, h21 = 0, h22 = 0, h30 = 0, h31 = 0, h32 = 0, h33 = 0;
    let h40 = 0, h41 = 0, h42 = 0, h43 = 0, h44 = 0, h50 = 0, h51 = 0, h52 = 0, h53 = 0, h54 = 0, h55 = 0;
    let g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0;
    let chi2 = 0;
    // The Jacobian of pixel (i, j) is a column factor (gx, gxd, gxs or 1) times a row factor, so
    // each row sums the weighted products of the column factors once (15 sums per pixel instead
    // of 27) and the row factors are applied per row.
    for (let j = 0; j < side; j++) {
      const Y = gy[j] as number;
      const FY = F * Y;
      const FYd = F * (gyd[j] as number);
      const FYs = F * (gys[j] as number);
      let dd = 0, dx = 0, ds = 0, d1 = 0, xx = 0, xs = 0, x1 = 0, ss = 0, s1 = 0, w1 = 0;
      let rd = 0, rx = 0, rs = 0, r1 = 0;
      let du = 0, xu = 0, su = 0, u1 = 0, uu = 0, ru = 0;
      let rowChi2 = 0;
      const base = j * side;
      const v = j - R;
      const Brow = B + By * v;
      for (let i = 0; i < side; i++) {
        const wt = w[base + i] as number;
        if (wt === 0) continue;
        const X = gx[i] as number;
        const D = gxd[i] as number;
        const S = gxs[i] as number;
        const u = i - R;
        const r = (z[base + i] as number) - (F * (X * Y) + (Brow + Bx * u));
        const wr = wt * r;
        rowChi2 += wr * r;
        const wD = wt * D, wX = wt * X, wS = wt * S;
        dd += wD * D; dx += wD * X; ds += wD * S; d1 += wD;
        xx += wX * X; xs += wX * S; x1 += wX;
        ss += wS * S; s1 += wS; w1 += wt;
        rd += wr * D; rx += wr * X; rs += wr * S; r1 += wr;
        if (slope) {
          du += wD * u; xu += wX * u; su += wS * u; u1 += wt * u; uu += wt * u * u; ru += wr * u;
        }
      }
      chi2 += rowChi2;
      if (slope) {
        h60 += FY * du; h61 += FYd * xu; h62 += Y * xu; h63 += FY * su; h64 += FYs * xu; h65 += u1; h66 += uu;
        h70 += v * FY * d1; h71 += v * FYd * x1; h72 += v * Y * x1; h73 += v * FY * s1; h74 += v * FYs * x1; h75 += v * w1; h76 += v * u1; h77 += v * v * w1;
        g6 += ru; g7 += v * r1;
      }
      const FY2 = FY * FY;
      g0 += FY * rd; g1 += FYd * rx; g2 += Y * rx; g3 += FY * rs; g4 += FYs * rx; g5 += r1;
      h00 += FY2 * dd;
      h10 += FY * FYd * dx; h11 += FYd * FYd * xx;
      h20 += FY * Y * dx; h21 += FYd * Y * xx; h22 += Y * Y * xx;
      h30 += FY2 * ds; h31 += FY * FYd * xs; h32 += FY * Y * xs; h33 += FY2 * ss;
      h40 += FYs * FY * dx; h41 += FYs * FYd * xx; h42 += FYs * Y * xx; h43 += FYs * FY * xs; h44 += FYs * FYs * xx;
      h50 += FY * d1; h51 += FYd * x1; h52 += Y * x1; h53 += FY * s1; h54 += FYs * x1; h55 += w1;
    }
    Hh[0] = h00;
    Hh[M] = h10; Hh[M + 1] = h11;
    Hh[2 * M] = h20; Hh[2 * M + 1] = h21; Hh[2 * M + 2] = h22;
    Hh[3 * M] = h30; Hh[3 * M + 1] = h31; Hh[3 * M + 2] = h32; Hh[3 * M + 3] = h33;
    Hh[4 * M] = h40; Hh[4 * M + 1] = h41; Hh[4 * M + 2] = h42; Hh[4 * M + 3] = h43; Hh[4 * M + 4] = h44;
    Hh[5 * M] = h50; Hh[5 * M + 1] = h51; Hh[5 * M + 2] = h52; Hh[5 * M + 3] = h53; Hh[5 * M + 4] = h54; Hh[5 * M + 5] = h55;
    gg[0] = g0; gg[1] = g1; gg[2] = g2; gg[3] = g3; gg[4] = g4; gg[5] = g5;
    if (slope) {
      Hh[6 * M] = h60; Hh[6 * M + 1] = h61; Hh[6 * M + 2] = h62; Hh[6 * M + 3] = h63; Hh[6 * M + 4] = h64; Hh[6 * M + 5] = h65; Hh[6 * M + 6] = h66;
      Hh[7 * M] = h70; Hh[7 * M + 1] = h71; Hh[7 * M + 2] = h72; Hh[7 * M + 3] = h73; Hh[7 * M + 4] = h74; Hh[7 * M + 5] = h75; Hh[7 * M + 6] = h76; Hh[7 * M + 7] = h77;
      gg[6] = g6; gg[7] = g7;
    }
    sq[0] = chi2;
  }

  function clearNormal(np: number, Hh: Float64Array, gg: Float64Array): void {
    for (let k = 0; k < np; k++) {
      gg[k] = 0;
      for (let l = 0; l <= k; l++) Hh[k * MAXP + l] = 0;
    }
  }

  function evalRotated(st: FitStamp, p: Float64Array, Hh: Float64Array, gg: Float64Array): void {
    const side = st.side;
    const R = st.radius;
    const x0 = p[0] as number, y0 = p[1] as number, F = p[2] as number;
    const a = p[3] as number, b = p[4] as number, c = p[5] as number, B = p[6] as number;
    const slope = st.slope === true;
    const Bx = slope ? (p[7] as number) : 0;
    const By = slope ? (p[8] as number) : 0;
    const np = fitParams(PSF_GAUSSIAN_ROTATED, slope);
    const D = a * c - b * b;
    const N = (Math.sqrt(D) / (2 * Math.PI)) * 0.25;
    const FN = F * N;
    const ca = c / (2 * D), cb = -b / D, cc = a / (2 * D);
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
        let s0 = 0, s1 = 0, s2 = 0, sa = 0, sb = 0, sc = 0;
        for (let qy = 0; qy < 2; qy++) {
          const dy = j - R - y0 + (GL_NODES[qy] as number);
          for (let qx = 0; qx < 2; qx++) {
            const dx = i - R - x0 + (GL_NODES[qx] as number);
            const e = Math.exp(-0.5 * (a * dx * dx + 2 * b * dx * dy + c * dy * dy));
            s0 += e;
            s1 = s1 + (e * (a * dx + b * dy));
            s2 = s2 + (e * (b * dx + c * dy));
            sa += e * dx * dx;
            sb += e * dx * dy;
            sc += e * dy * dy;
          }
        }
        const P = N * s0;
        J[0] = FN * s1;
        J[1] = FN * s2;
        J[2] = P;
        J[3] = FN * (ca * s0 - 0.5 * sa);
        J[4] = FN * (cb * s0 - sb);
        J[5] = FN * (cc * s0 - 0.5 * sc);
        J[6] = 1;
        let sky = B;
        if (slope) {
          J[7] = i - R;
          J[8] = j - R;
          sky = B + Bx * (i - R) + By * (j - R);
        }
        const r = (z[idx] as number) - (F * P + sky);
        // The pixel's share of the lower triangle of JᵀWJ and of JᵀWr, written out here: as a
        // call it would box wt and r once per pixel.
        const wr = wt * r;
        rowChi2 += wr * r;
        for (let k = 0; k < np; k++) {
          const jk = J[k] as number;
          const wk = wt * jk;
          gg[k] = (gg[k] as number) + (wr * jk);
          const row = k * MAXP;
          for (let l = 0; l <= k; l++) Hh[row + l] = (Hh[row + l] as number) + (wk * (J[l] as number));
        }
      }
      chi2 += rowChi2;
    }
    sq[0] = chi2;
  }

  function evalMoffat(st: FitStamp, p: Float64Array, freeBeta: boolean, Hh: Float64Array, gg: Float64Array): void {
    const side = st.side;
    const R = st.radius;
    const np0 = freeBeta ? 6 : 5;
    const slope = st.slope === true;
    const np = np0 + (slope ? SLOPE_PARAMS : 0);
    // F here is the peak amplitude A: with the total flux as parameter, β → 1 (all flux in the
    // wings) is a direction in which the flux diverges and LM crawls.
    const x0 = p[0] as number, y0 = p[1] as number, F = p[2] as number, alpha = p[3] as number;
    const beta = freeBeta ? (p[4] as number) : st.beta;
    const B = p[np0 - 1] as number;
    const Bx = slope ? (p[np0] as number) : 0;
    const By = slope ? (p[np0 + 1] as number) : 0;
    const ia2 = 1 / (alpha * alpha);
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
          const dy = j - R - y0 + (GL_NODES[qy] as number);
          for (let qx = 0; qx < 2; qx++) {
            const dx = i - R - x0 + (GL_NODES[qx] as number);
            const r2 = dx * dx + dy * dy;
            const u = 1 + r2 * ia2;
            const lu = Math.log(u);
            const pw = Math.exp(-beta * lu);
            const pw1 = pw / u;
            sP += pw;
            sX += pw1 * dx;
            sY += pw1 * dy;
            sR += pw1 * r2;
            sL += pw * lu;
          }
        }
        const P = 0.25 * sP;
        const c = 0.5 * F * beta * ia2;
        J[0] = c * sX;
        J[1] = c * sY;
        J[2] = P;
        J[3] = (c * sR) / alpha;
        if (freeBeta) J[4] = -0.25 * F * sL;
        J[np0 - 1] = 1;
        let sky = B;
        if (slope) {
          J[np0] = i - R;
          J[np0 + 1] = j - R;
          sky = B + Bx * (i - R) + By * (j - R);
        }
        const r = (z[idx] as number) - (F * P + sky);
        // The pixel's share of the lower triangle of JᵀWJ and of JᵀWr, written out here: as a
        // call it would box wt and r once per pixel.
        const wr = wt * r;
        rowChi2 += wr * r;
        for (let k = 0; k < np; k++) {
          const jk = J[k] as number;
          const wk = wt * jk;
          gg[k] = (gg[k] as number) + (wr * jk);
          const row = k * MAXP;
          for (let l = 0; l <= k; l++) Hh[row + l] = (Hh[row + l] as number) + (wk * (J[l] as number));
        }
      }
      chi2 += rowChi2;
    }
    sq[0] = chi2;
  }

  /** Model, JᵀWJ and JᵀWr at p into Hh/gg, χ² into sq[0]. */
  function evaluate(model: PsfModel, st: FitStamp, p: Float64Array, Hh: Float64Array, gg: Float64Array): void {
    switch (model) {
      case PSF_GAUSSIAN: return evalGaussian(st, p, Hh, gg);
      case PSF_GAUSSIAN_ROTATED: return evalRotated(st, p, Hh, gg);
      case PSF_MOFFAT: return evalMoffat(st, p, false, Hh, gg);
      default: return evalMoffat(st, p, true, Hh, gg);
    }
  }

  /**
   * Moffat β is weakly constrained for faint stars and drifts towards the Gaussian limit; it is
   * held on its bounds rather than the step being refused, so the other parameters still converge.
   */
  function project(model: PsfModel, q: Float64Array): void {
    if (model === PSF_MOFFAT_BETA) q[4] = Math.min(Math.max(q[4] as number, BETA_MIN), BETA_MAX);
  }

  /** Cholesky of the lower triangle of M (np×np, stride MAXP) in place; false if not positive definite. */
  function cholesky(M: Float64Array, np: number): boolean {
    for (let k = 0; k < np; k++) {
      let d = M[k * MAXP + k] as number;
      for (let m = 0; m < k; m++) d -= (M[k * MAXP + m] as number) ** 2;
      if (!(d > 0)) return false;
      const L = Math.sqrt(d);
      M[k * MAXP + k] = L;
      for (let i = k + 1; i < np; i++) {
        let s = M[i * MAXP + k] as number;
        for (let m = 0; m < k; m++) s -= (M[i * MAXP + m] as number) * (M[k * MAXP + m] as number);
        M[i * MAXP + k] = s / L;
      }
    }
    return true;
  }

  /** Solves L Lᵀ x = b with the factor from `cholesky`; b is overwritten by x. */
  function cholSolve(M: Float64Array, np: number, b: Float64Array): void {
    for (let i = 0; i < np; i++) {
      let s = b[i] as number;
      for (let m = 0; m < i; m++) s -= (M[i * MAXP + m] as number) * (b[m] as number);
      b[i] = s / (M[i * MAXP + i] as number);
    }
    for (let i = np - 1; i >= 0; i--) {
      let s = b[i] as number;
      for (let m = i + 1; m < np; m++) s -= (M[m * MAXP + i] as number) * (b[m] as number);
      b[i] = s / (M[i * MAXP + i] as number);
    }
  }

  function fit(model: PsfModel, st: FitStamp, p: Float64Array, out: FitOutcome): void {
    const np = fitParams(model, st.slope === true);
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
    for (let k = 0; k < np; k++) p[k] = p[k] as number;
    if (!admissible(model, p, st.radius)) {
      out.reason = FIT_INVALID;
      return;
    }
    setTolerances(model, p, st, tol);
    evaluate(model, st, p, H, g);
    let chi2 = sq[0] as number;
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
        A[k * MAXP + k] = (H[k * MAXP + k] as number) * (1 + lambda);
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
      for (let k = 0; k < np; k++) pt[k] = (p[k] as number) + (delta[k] as number);
      project(model, pt);
      let small = true;
      for (let k = 0; k < np; k++) {
        // Shape and flux also count as converged once the step is 1 % of the parameter's
        // conditional σ, 1/sqrt(H_kk): a weakly constrained Moffat β otherwise crawls along its
        // valley with the position long settled.
        const t = k < 2 ? (tol[k] as number) : Math.max(tol[k] as number, 0.01 / Math.sqrt(H[k * MAXP + k] as number));
        if (!(Math.abs((pt[k] as number) - (p[k] as number)) * (1 + lambda) < t)) small = false;
      }
      const admissibleTrial = admissible(model, pt, st.radius);
      if (small) {
        // Every parameter would move by less than its tolerance: the fit has converged, and the
        // step is taken without a pass over the stamp to evaluate it (that pass would decide only
        // between two points closer than the tolerance). χ² and the covariance are those of the
        // last evaluated point, one sub-tolerance step away.
        if (admissibleTrial) for (let k = 0; k < np; k++) p[k] = pt[k] as number;
        reason = FIT_CONVERGED;
        break;
      }
      let chi2t = Infinity;
      if (admissibleTrial) {
        evaluate(model, st, pt, Ht, gt);
        chi2t = sq[0] as number;
      }
      if (chi2t <= chi2) {
        for (let k = 0; k < np; k++) p[k] = pt[k] as number;
        for (let k = 0; k < np; k++) {
          g[k] = gt[k] as number;
          for (let l = 0; l <= k; l++) H[k * MAXP + l] = Ht[k * MAXP + l] as number;
        }
        chi2 = chi2t;
        lambda = Math.max(lambda * 0.3, 1e-12);
      } else {
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

  return { precision: PRECISION, fit };
}
