/**
 * The PSF fit in float32 arithmetic: every stored quantity rounded by Math.fround. The same
 * algorithm as psfFit64.ts, kept as separate functions on purpose: V8 keeps type feedback and
 * optimised code per function literal, so one kernel parameterised by its rounding function
 * would make every call of it polymorphic, stop inlining and box numbers, and running a float32
 * fit once would slow every float64 fit after it by an order of magnitude.
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

const fr = Math.fround;
const ARRAY = Float32Array;
const PRECISION = 'f32';

export function createF32PsfFitter(): PsfFitter {
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

  /** Pixel-integrated 1-D Gaussian over pixels u = k − R ± ½ for k < side. */
  function gaussTable(side: number, R: number, p: Float64Array, ci: number, si: number, val: Float64Array | Float32Array, dval: Float64Array | Float32Array, sval: Float64Array | Float32Array): void {
    const c = p[ci] as number;
    const s = p[si] as number;
    for (let k = 0; k <= side; k++) {
      const t = fr((k - R - 0.5 - c) / s);
      edgeT[k] = t;
      edgeGauss[k] = Math.exp(-0.5 * t * t);
    }
    upperTails(edgeT, edgeGauss, edgeQ, side + 1);
    let tPrev = 0;
    let qPrev = 0;
    let phPrev = 0;
    for (let k = 0; k <= side; k++) {
      const t = edgeT[k] as number;
      const ph = fr(SQRT1_2PI * (edgeGauss[k] as number));
      const q = fr(edgeQ[k] as number);
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

  function evalGaussian(st: FitStamp, p: Float64Array, Hh: Float64Array | Float32Array, gg: Float64Array | Float32Array): void {
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
    for (let j = 0; j < side; j++) {
      const Y = gy[j] as number;
      const FY = fr(F * Y);
      const FYd = fr(F * (gyd[j] as number));
      const FYs = fr(F * (gys[j] as number));
      let rowChi2 = 0;
      const base = j * side;
      const v = j - R;
      for (let i = 0; i < side; i++) {
        const wt = w[base + i] as number;
        if (wt === 0) continue;
        const X = gx[i] as number;
        const j0 = fr(FY * (gxd[i] as number));
        const j1 = fr(X * FYd);
        const j2 = fr(X * Y);
        const j3 = fr(FY * (gxs[i] as number));
        const j4 = fr(X * FYs);
        const u = i - R;
        const sky = slope ? fr(B + fr(fr(Bx * u) + fr(By * v))) : B;
        const r = fr((z[base + i] as number) - fr(fr(F * j2) + sky));
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
        if (slope) {
          const wu = fr(wt * u), wv = fr(wt * v);
          g6 = fr(g6 + fr(wr * u)); g7 = fr(g7 + fr(wr * v));
          h60 = fr(h60 + fr(wu * j0)); h61 = fr(h61 + fr(wu * j1)); h62 = fr(h62 + fr(wu * j2)); h63 = fr(h63 + fr(wu * j3)); h64 = fr(h64 + fr(wu * j4)); h65 = fr(h65 + wu); h66 = fr(h66 + fr(wu * u));
          h70 = fr(h70 + fr(wv * j0)); h71 = fr(h71 + fr(wv * j1)); h72 = fr(h72 + fr(wv * j2)); h73 = fr(h73 + fr(wv * j3)); h74 = fr(h74 + fr(wv * j4)); h75 = fr(h75 + wv); h76 = fr(h76 + fr(wv * u)); h77 = fr(h77 + fr(wv * v));
        }
      }
      chi2 = fr(chi2 + rowChi2);
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

  function clearNormal(np: number, Hh: Float64Array | Float32Array, gg: Float64Array | Float32Array): void {
    for (let k = 0; k < np; k++) {
      gg[k] = 0;
      for (let l = 0; l <= k; l++) Hh[k * MAXP + l] = 0;
    }
  }

  function evalRotated(st: FitStamp, p: Float64Array, Hh: Float64Array | Float32Array, gg: Float64Array | Float32Array): void {
    const side = st.side;
    const R = st.radius;
    const x0 = p[0] as number, y0 = p[1] as number, F = p[2] as number;
    const a = p[3] as number, b = p[4] as number, c = p[5] as number, B = p[6] as number;
    const slope = st.slope === true;
    const Bx = slope ? (p[7] as number) : 0;
    const By = slope ? (p[8] as number) : 0;
    const np = fitParams(PSF_GAUSSIAN_ROTATED, slope);
    const D = fr(a * c - b * b);
    const N = fr((Math.sqrt(D) / (2 * Math.PI)) * 0.25);
    const FN = fr(F * N);
    const ca = fr(c / (2 * D)), cb = fr(-b / D), cc = fr(a / (2 * D));
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
          const dy = fr(j - R - y0 + (GL_NODES[qy] as number));
          for (let qx = 0; qx < 2; qx++) {
            const dx = fr(i - R - x0 + (GL_NODES[qx] as number));
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
        let sky = B;
        if (slope) {
          J[7] = i - R;
          J[8] = j - R;
          sky = fr(B + fr(fr(Bx * (i - R)) + fr(By * (j - R))));
        }
        const r = fr((z[idx] as number) - fr(fr(F * P) + sky));
        // The pixel's share of the lower triangle of JᵀWJ and of JᵀWr, written out here: as a
        // call it would box wt and r once per pixel.
        const wr = fr(wt * r);
        rowChi2 = fr(rowChi2 + fr(wr * r));
        for (let k = 0; k < np; k++) {
          const jk = J[k] as number;
          const wk = fr(wt * jk);
          gg[k] = fr((gg[k] as number) + fr(wr * jk));
          const row = k * MAXP;
          for (let l = 0; l <= k; l++) Hh[row + l] = fr((Hh[row + l] as number) + fr(wk * (J[l] as number)));
        }
      }
      chi2 = fr(chi2 + rowChi2);
    }
    sq[0] = chi2;
  }

  function evalMoffat(st: FitStamp, p: Float64Array, freeBeta: boolean, Hh: Float64Array | Float32Array, gg: Float64Array | Float32Array): void {
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
          const dy = fr(j - R - y0 + (GL_NODES[qy] as number));
          for (let qx = 0; qx < 2; qx++) {
            const dx = fr(i - R - x0 + (GL_NODES[qx] as number));
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
        J[np0 - 1] = 1;
        let sky = B;
        if (slope) {
          J[np0] = i - R;
          J[np0 + 1] = j - R;
          sky = fr(B + fr(fr(Bx * (i - R)) + fr(By * (j - R))));
        }
        const r = fr((z[idx] as number) - fr(fr(F * P) + sky));
        // The pixel's share of the lower triangle of JᵀWJ and of JᵀWr, written out here: as a
        // call it would box wt and r once per pixel.
        const wr = fr(wt * r);
        rowChi2 = fr(rowChi2 + fr(wr * r));
        for (let k = 0; k < np; k++) {
          const jk = J[k] as number;
          const wk = fr(wt * jk);
          gg[k] = fr((gg[k] as number) + fr(wr * jk));
          const row = k * MAXP;
          for (let l = 0; l <= k; l++) Hh[row + l] = fr((Hh[row + l] as number) + fr(wk * (J[l] as number)));
        }
      }
      chi2 = fr(chi2 + rowChi2);
    }
    sq[0] = chi2;
  }

  /** Model, JᵀWJ and JᵀWr at p into Hh/gg, χ² into sq[0]. */
  function evaluate(model: PsfModel, st: FitStamp, p: Float64Array, Hh: Float64Array | Float32Array, gg: Float64Array | Float32Array): void {
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
    if (model === PSF_MOFFAT_BETA) q[4] = fr(Math.min(Math.max(q[4] as number, BETA_MIN), BETA_MAX));
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
    for (let k = 0; k < np; k++) p[k] = fr(p[k] as number);
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
