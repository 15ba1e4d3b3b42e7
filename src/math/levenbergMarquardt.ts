/**
 * Levenberg–Marquardt least squares with the semantics of MINPACK's lmder: analytic Jacobian,
 * QR with column pivoting, a trust region in the diagonally scaled variables (scales from the
 * Jacobian's column norms, non-decreasing), the Moré–Hebden search for the damping parameter,
 * and the ftol / xtol / gtol tests with MINPACK's info codes.
 *
 * All work arrays belong to the solver object, sized once for (m, n); `solve` allocates nothing
 * but its small result object, so one solver can run many fits of the same shape.
 */

import { applyReflector, columnNorm as enorm, float64Views } from './linalg.js';

const EPSMCH = 2.220446049250313e-16;
const DWARF = 2.2250738585072014e-308;

/** A problem with m residuals in n unknowns (m ≥ n). */
export interface LeastSquaresProblem {
  /** Residuals at x into r (length m). */
  residuals(x: Float64Array, r: Float64Array): void;
  /** Jacobian ∂r_i/∂x_j at x into jac, column-major: jac[i + j·m]. */
  jacobian(x: Float64Array, jac: Float64Array): void;
  /**
   * Sum of squares of further residuals that do not depend on x (zero Jacobian rows), left out
   * of `residuals` and `jacobian`. The solver counts them in every norm, so its iterates are
   * those of the full problem; a problem with a constant linear block J₁ (r₁ = J₁x + b₁) can be
   * passed as its R factor, r₁′ = R x + Q₁ᵀb₁, with ‖b₁ − Q₁Q₁ᵀb₁‖² here.
   */
  readonly constantSsq?: number;
}

/** Settings of the Levenberg–Marquardt solver, MINPACK's (lmder) names and meanings; Larch's autobk passes them to scipy's leastsq. */
export interface LmOptions {
  /** Relative reduction of the sum of squares below which to stop (MINPACK ftol). */
  ftol?: number;
  /** Relative change of the scaled x below which to stop (MINPACK xtol). */
  xtol?: number;
  /** Cosine between residuals and Jacobian columns below which to stop (MINPACK gtol). */
  gtol?: number;
  /** Maximum residual evaluations; default 100·(n + 1). */
  maxfev?: number;
  /** Initial step bound factor (MINPACK factor). */
  factor?: number;
}

/** MINPACK info codes 1–8 and what they mean. */
export const LM_REASONS: Record<number, string> = {
  1: 'ftol: relative reduction of the sum of squares is at most ftol',
  2: 'xtol: relative error between two consecutive iterates is at most xtol',
  3: 'ftol and xtol both satisfied',
  4: 'gtol: the residuals are orthogonal to the Jacobian columns to within gtol',
  5: 'maxfev: number of residual evaluations reached the limit',
  6: 'ftol is too small: no further reduction of the sum of squares is possible',
  7: 'xtol is too small: no further improvement of x is possible',
  8: 'gtol is too small: the residuals are orthogonal to the Jacobian to machine precision',
};

/** How a Levenberg–Marquardt solve ended. */
export interface LmResult {
  /** MINPACK info code (1–8); 1–4 are convergence. */
  info: number;
  /** The info code in words (LM_REASONS). */
  reason: string;
  /** Residual evaluations. */
  nfev: number;
  /** Jacobian evaluations. */
  njev: number;
  /** Sum of squared residuals at the solution. */
  chisqr: number;
}

/** MINPACK's lmder (scipy's leastsq, which Larch uses) for one problem size: every work array allocated once, so repeated solves of m residuals in n unknowns allocate nothing. */
export class LevenbergMarquardt {
  /** Number of residuals. */
  readonly m: number;
  /** Number of unknowns. */
  readonly n: number;
  /** Residuals at the current x (valid after solve). */
  readonly fvec: Float64Array;
  /** Jacobian / QR factors, column-major m×n. */
  readonly fjac: Float64Array;
  private readonly diag: Float64Array;
  private readonly qtf: Float64Array;
  private readonly ipvt: Int32Array;
  private readonly rdiag: Float64Array;
  private readonly acnorm: Float64Array;
  private readonly sdiag: Float64Array;
  private readonly wa1: Float64Array;
  private readonly wa2: Float64Array;
  private readonly wa3: Float64Array;
  private readonly wa4: Float64Array;
  private readonly wq: Float64Array;
  private readonly wl1: Float64Array;
  private readonly wl2: Float64Array;
  private readonly xTrial: Float64Array;

  /** A solver for m residuals in n unknowns (m ≥ n ≥ 1). */
  constructor(m: number, n: number) {
    if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`number of unknowns must be a positive integer, got ${n}`);
    if (!(Number.isInteger(m) && m >= n)) throw new RangeError(`need at least as many residuals as unknowns: m = ${m}, n = ${n}`);
    this.m = m;
    this.n = n;
    [this.fvec, this.fjac, this.diag, this.qtf, this.rdiag, this.acnorm, this.sdiag, this.wa1, this.wa2, this.wa3, this.wa4, this.wq, this.wl1, this.wl2, this.xTrial] =
      float64Views([m, m * n, n, n, n, n, n, n, n, Math.max(m, n), m, n, n, n, n]);
    this.ipvt = new Int32Array(n);
  }

  /** Minimises Σ r(x)² starting from x, which is overwritten with the solution. */
  solve(problem: LeastSquaresProblem, x: Float64Array, options: LmOptions = {}): LmResult {
    const { m, n, fvec, fjac, diag, qtf, ipvt, acnorm, wa1, wa2, wa3, wa4 } = this;
    const ftol = options.ftol ?? 1.49012e-8;
    const xtol = options.xtol ?? 1.49012e-8;
    const gtol = options.gtol ?? 0;
    const maxfev = options.maxfev ?? 100 * (n + 1);
    const factor = options.factor ?? 100;
    if (!(ftol >= 0 && xtol >= 0 && gtol >= 0 && maxfev > 0 && factor > 0)) {
      throw new RangeError(`invalid LM tolerances: ftol ${ftol}, xtol ${xtol}, gtol ${gtol}, maxfev ${maxfev}, factor ${factor}`);
    }
    let info = 0;
    let nfev = 1;
    let njev = 0;
    const constNorm = Math.sqrt(problem.constantSsq ?? 0);
    if (!Number.isFinite(constNorm)) throw new RangeError(`constantSsq = ${problem.constantSsq} must be a finite non-negative number`);
    problem.residuals(x, fvec);
    let fnorm = this.fnormOf(fvec, constNorm);
    if (!Number.isFinite(fnorm)) throw new RangeError('residuals at the starting point are not finite');
    let par = 0;
    let iter = 1;
    let delta = 0;
    let xnorm = 0;

    outer: for (;;) {
      problem.jacobian(x, fjac);
      njev++;
      this.qrfac();
      if (iter === 1) {
        for (let j = 0; j < n; j++) diag[j] = acnorm[j] === 0 ? 1 : acnorm[j]!;
        for (let j = 0; j < n; j++) wa3[j] = diag[j]! * x[j]!;
        xnorm = enorm(wa3, 0, n);
        delta = factor * xnorm;
        if (delta === 0) delta = factor;
      }
      // qtf = first n components of Qᵀ fvec.
      wa4.set(fvec);
      for (let j = 0; j < n; j++) {
        const cj = j * m;
        const ajj = fjac[cj + j]!;
        if (ajj !== 0) {
          let s = 0;
          for (let i = j; i < m; i++) s += fjac[cj + i]! * wa4[i]!;
          const t = -s / ajj;
          for (let i = j; i < m; i++) wa4[i]! += fjac[cj + i]! * t;
        }
        fjac[cj + j] = this.rdiag[j]!;
        qtf[j] = wa4[j]!;
      }
      let gnorm = 0;
      if (fnorm !== 0) {
        for (let j = 0; j < n; j++) {
          const l = ipvt[j]!;
          if (acnorm[l] !== 0) {
            let s = 0;
            for (let i = 0; i <= j; i++) s += fjac[j * m + i]! * (qtf[i]! / fnorm);
            gnorm = Math.max(gnorm, Math.abs(s / acnorm[l]!));
          }
        }
      }
      if (gnorm <= gtol) info = 4;
      if (info !== 0) break;
      for (let j = 0; j < n; j++) diag[j] = Math.max(diag[j]!, acnorm[j]!);

      for (;;) {
        par = this.lmpar(delta, par);
        for (let j = 0; j < n; j++) {
          wa1[j] = -wa1[j]!;
          this.xTrial[j] = x[j]! + wa1[j]!;
          wa3[j] = diag[j]! * wa1[j]!;
        }
        const pnorm = enorm(wa3, 0, n);
        if (iter === 1) delta = Math.min(delta, pnorm);
        problem.residuals(this.xTrial, wa4);
        nfev++;
        let fnorm1 = this.fnormOf(wa4, constNorm);
        if (Number.isNaN(fnorm1)) fnorm1 = Infinity;
        let actred = -1;
        if (0.1 * fnorm1 < fnorm) actred = 1 - (fnorm1 / fnorm) ** 2;
        // Predicted reduction and directional derivative from R·(P' step).
        for (let j = 0; j < n; j++) {
          wa3[j] = 0;
          const t = wa1[ipvt[j]!]!;
          for (let i = 0; i <= j; i++) wa3[i]! += fjac[j * m + i]! * t;
        }
        const temp1 = enorm(wa3, 0, n) / fnorm;
        const temp2 = (Math.sqrt(par) * pnorm) / fnorm;
        const prered = temp1 * temp1 + (temp2 * temp2) / 0.5;
        const dirder = -(temp1 * temp1 + temp2 * temp2);
        const ratio = prered !== 0 ? actred / prered : 0;
        if (ratio <= 0.25) {
          let t = actred >= 0 ? 0.5 : (0.5 * dirder) / (dirder + 0.5 * actred);
          if (0.1 * fnorm1 >= fnorm || t < 0.1) t = 0.1;
          delta = t * Math.min(delta, pnorm / 0.1);
          par /= t;
        } else if (par === 0 || ratio >= 0.75) {
          delta = pnorm / 0.5;
          par *= 0.5;
        }
        if (ratio >= 1e-4) {
          x.set(this.xTrial);
          for (let j = 0; j < n; j++) wa2[j] = diag[j]! * x[j]!;
          fvec.set(wa4);
          xnorm = enorm(wa2, 0, n);
          fnorm = fnorm1;
          iter++;
        }
        if (Math.abs(actred) <= ftol && prered <= ftol && 0.5 * ratio <= 1) info = 1;
        if (delta <= xtol * xnorm) info = info === 1 ? 3 : 2;
        if (info !== 0) break outer;
        if (nfev >= maxfev) info = 5;
        if (Math.abs(actred) <= EPSMCH && prered <= EPSMCH && 0.5 * ratio <= 1) info = 6;
        if (delta <= EPSMCH * xnorm) info = 7;
        if (gnorm <= EPSMCH) info = 8;
        if (info !== 0) break outer;
        if (ratio >= 1e-4) break;
      }
    }
    return { info, reason: LM_REASONS[info] ?? 'unknown', nfev, njev, chisqr: fnorm * fnorm };
  }

  /** ‖(r; constant rows)‖ for residuals r. */
  private fnormOf(r: Float64Array, constNorm: number): number {
    const rn = enorm(r, 0, this.m);
    return constNorm === 0 ? rn : Math.hypot(rn, constNorm);
  }

  /** Householder QR with column pivoting of fjac; R's diagonal in rdiag, permutation in ipvt. */
  private qrfac(): void {
    const { m, n, fjac: a, ipvt, rdiag, acnorm } = this;
    const wa = this.wq;
    for (let j = 0; j < n; j++) {
      acnorm[j] = enorm(a, j * m, j * m + m);
      rdiag[j] = acnorm[j]!;
      wa[j] = rdiag[j]!;
      ipvt[j] = j;
    }
    for (let j = 0; j < n; j++) {
      let kmax = j;
      for (let k = j; k < n; k++) if (rdiag[k]! > rdiag[kmax]!) kmax = k;
      if (kmax !== j) {
        const cj = j * m;
        const ck = kmax * m;
        for (let i = 0; i < m; i++) {
          const t = a[cj + i]!;
          a[cj + i] = a[ck + i]!;
          a[ck + i] = t;
        }
        rdiag[kmax] = rdiag[j]!;
        wa[kmax] = wa[j]!;
        const p = ipvt[j]!;
        ipvt[j] = ipvt[kmax]!;
        ipvt[kmax] = p;
      }
      const cj = j * m;
      let ajnorm = enorm(a, cj + j, cj + m);
      if (ajnorm !== 0) {
        if (a[cj + j]! < 0) ajnorm = -ajnorm;
        for (let i = j; i < m; i++) a[cj + i]! /= ajnorm;
        a[cj + j]! += 1;
        applyReflector(a, cj, j, m, a, (j + 1) * m, n - j - 1);
        for (let k = j + 1; k < n; k++) {
          const ck = k * m;
          if (rdiag[k] !== 0) {
            const q = a[ck + j]! / rdiag[k]!;
            rdiag[k]! *= Math.sqrt(Math.max(0, 1 - q * q));
            if (0.05 * (rdiag[k]! / wa[k]!) ** 2 <= EPSMCH) {
              rdiag[k] = enorm(a, ck + j + 1, ck + m);
              wa[k] = rdiag[k]!;
            }
          }
        }
      }
      rdiag[j] = -ajnorm;
    }
  }

  /**
   * Damping parameter for the trust radius delta (Moré's lmpar); leaves the Gauss–Newton-like
   * step in wa1 (to be negated) and returns par.
   */
  private lmpar(delta: number, parIn: number): number {
    const { m, n, fjac: r, ipvt, diag, qtf: qtb, sdiag } = this;
    const x = this.wa1;
    const w1 = this.wl1;
    const w2 = this.wl2;
    let par = parIn;
    let nsing = n;
    for (let j = 0; j < n; j++) {
      w1[j] = qtb[j]!;
      if (r[j * m + j] === 0 && nsing === n) nsing = j;
      if (nsing < n) w1[j] = 0;
    }
    for (let j = nsing - 1; j >= 0; j--) {
      w1[j]! /= r[j * m + j]!;
      const t = w1[j]!;
      for (let i = 0; i < j; i++) w1[i]! -= r[j * m + i]! * t;
    }
    for (let j = 0; j < n; j++) x[ipvt[j]!] = w1[j]!;
    let iter = 0;
    for (let j = 0; j < n; j++) w2[j] = diag[j]! * x[j]!;
    let dxnorm = enorm(w2, 0, n);
    let fp = dxnorm - delta;
    if (fp <= 0.1 * delta) return 0;

    let parl = 0;
    if (nsing >= n) {
      for (let j = 0; j < n; j++) {
        const l = ipvt[j]!;
        w1[j] = diag[l]! * (w2[l]! / dxnorm);
      }
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let i = 0; i < j; i++) s += r[j * m + i]! * w1[i]!;
        w1[j] = (w1[j]! - s) / r[j * m + j]!;
      }
      const t = enorm(w1, 0, n);
      parl = fp / delta / t / t;
    }
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i <= j; i++) s += r[j * m + i]! * qtb[i]!;
      w1[j] = s / diag[ipvt[j]!]!;
    }
    const gnorm = enorm(w1, 0, n);
    let paru = gnorm / delta;
    if (paru === 0) paru = DWARF / Math.min(delta, 0.1);
    par = Math.max(par, parl);
    par = Math.min(par, paru);
    if (par === 0) par = gnorm / dxnorm;

    for (;;) {
      iter++;
      if (par === 0) par = Math.max(DWARF, 0.001 * paru);
      const sp = Math.sqrt(par);
      for (let j = 0; j < n; j++) w1[j] = sp * diag[j]!;
      this.qrsolv(w1, x, w2);
      for (let j = 0; j < n; j++) w2[j] = diag[j]! * x[j]!;
      dxnorm = enorm(w2, 0, n);
      const prev = fp;
      fp = dxnorm - delta;
      if (Math.abs(fp) <= 0.1 * delta || (parl === 0 && fp <= prev && prev < 0) || iter === 10) break;
      for (let j = 0; j < n; j++) {
        const l = ipvt[j]!;
        w1[j] = diag[l]! * (w2[l]! / dxnorm);
      }
      for (let j = 0; j < n; j++) {
        w1[j]! /= sdiag[j]!;
        const t = w1[j]!;
        for (let i = j + 1; i < n; i++) w1[i]! -= r[j * m + i]! * t;
      }
      const t = enorm(w1, 0, n);
      const parc = fp / delta / t / t;
      if (fp > 0) parl = Math.max(parl, par);
      if (fp < 0) paru = Math.min(paru, par);
      par = Math.max(parl, par + parc);
    }
    return par;
  }

  /**
   * Solves (R; D)·z ≈ (qtb; 0) in the least-squares sense for the diagonal D = dvec (in
   * original column order) by Givens rotations; the result, un-permuted, goes to x. The strict
   * lower triangle of R receives the transformed matrix, sdiag its diagonal.
   */
  private qrsolv(dvec: Float64Array, x: Float64Array, wa: Float64Array): void {
    const { m, n, fjac: r, ipvt, qtf: qtb, sdiag } = this;
    const xs = this.wq;
    for (let j = 0; j < n; j++) {
      for (let i = j; i < n; i++) r[j * m + i] = r[i * m + j]!;
      xs[j] = r[j * m + j]!;
      wa[j] = qtb[j]!;
    }
    for (let j = 0; j < n; j++) {
      const l = ipvt[j]!;
      if (dvec[l] !== 0) {
        for (let k = j; k < n; k++) sdiag[k] = 0;
        sdiag[j] = dvec[l]!;
        let qtbpj = 0;
        for (let k = j; k < n; k++) {
          if (sdiag[k] === 0) continue;
          const rkk = r[k * m + k]!;
          let cos: number;
          let sin: number;
          if (Math.abs(rkk) < Math.abs(sdiag[k]!)) {
            const cotan = rkk / sdiag[k]!;
            sin = 0.5 / Math.sqrt(0.25 + 0.25 * cotan * cotan);
            cos = sin * cotan;
          } else {
            const tan = sdiag[k]! / rkk;
            cos = 0.5 / Math.sqrt(0.25 + 0.25 * tan * tan);
            sin = cos * tan;
          }
          r[k * m + k] = cos * rkk + sin * sdiag[k]!;
          const t = cos * wa[k]! + sin * qtbpj;
          qtbpj = -sin * wa[k]! + cos * qtbpj;
          wa[k] = t;
          for (let i = k + 1; i < n; i++) {
            const rik = r[k * m + i]!;
            const v = cos * rik + sin * sdiag[i]!;
            sdiag[i] = -sin * rik + cos * sdiag[i]!;
            r[k * m + i] = v;
          }
        }
      }
      sdiag[j] = r[j * m + j]!;
      r[j * m + j] = xs[j]!;
    }
    let nsing = n;
    for (let j = 0; j < n; j++) {
      if (sdiag[j] === 0 && nsing === n) nsing = j;
      if (nsing < n) wa[j] = 0;
    }
    for (let j = nsing - 1; j >= 0; j--) {
      let s = 0;
      for (let i = j + 1; i < nsing; i++) s += r[j * m + i]! * wa[i]!;
      wa[j] = (wa[j]! - s) / sdiag[j]!;
    }
    for (let j = 0; j < n; j++) x[ipvt[j]!] = wa[j]!;
  }
}
