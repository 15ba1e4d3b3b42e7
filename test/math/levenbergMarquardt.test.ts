/** MINPACK-style LM on problems with known minima; workspace reuse. */
import { expect, test } from 'vitest';
import { LevenbergMarquardt, type LeastSquaresProblem } from '../../src/math/levenbergMarquardt.js';
import { householderQr } from '../../src/math/linalg.js';
import { gaussian, mulberry32 } from '../util/random.js';

/** Rosenbrock as residuals (10(x2 − x1²), 1 − x1): minimum 0 at (1, 1). */
const rosenbrock: LeastSquaresProblem = {
  residuals(x, r) {
    r[0] = 10 * (x[1]! - x[0]! ** 2);
    r[1] = 1 - x[0]!;
  },
  jacobian(x, j) {
    j[0] = -20 * x[0]!;
    j[1] = -1;
    j[2] = 10;
    j[3] = 0;
  },
};

test('Rosenbrock from (−1.2, 1) converges to (1, 1)', () => {
  const lm = new LevenbergMarquardt(2, 2);
  const x = Float64Array.from([-1.2, 1]);
  const res = lm.solve(rosenbrock, x, { ftol: 1e-15, xtol: 1e-15 });
  expect(x[0]).toBeCloseTo(1, 10);
  expect(x[1]).toBeCloseTo(1, 10);
  expect(res.chisqr).toBeLessThan(1e-20);
  expect(res.info).toBeGreaterThanOrEqual(1);
  expect(res.info).toBeLessThanOrEqual(4);
  expect(res.nfev).toBeLessThan(100);
});

test('exponential decay fit recovers its parameters; the same solver object is reusable', () => {
  const rnd = gaussian(mulberry32(3));
  const t = Float64Array.from({ length: 60 }, (_, i) => i * 0.1);
  const y = Float64Array.from(t, (v) => 2.5 * Math.exp(-1.3 * v) + 0.4 + 1e-4 * rnd());
  const problem: LeastSquaresProblem = {
    residuals(p, r) {
      for (let i = 0; i < t.length; i++) r[i] = p[0]! * Math.exp(-p[1]! * t[i]!) + p[2]! - y[i]!;
    },
    jacobian(p, j) {
      const m = t.length;
      for (let i = 0; i < m; i++) {
        const e = Math.exp(-p[1]! * t[i]!);
        j[i] = e;
        j[m + i] = -p[0]! * t[i]! * e;
        j[2 * m + i] = 1;
      }
    },
  };
  const lm = new LevenbergMarquardt(60, 3);
  const a = Float64Array.from([1, 0.5, 0]);
  const ra = lm.solve(problem, a);
  expect(a[0]).toBeCloseTo(2.5, 3);
  expect(a[1]).toBeCloseTo(1.3, 3);
  expect(a[2]).toBeCloseTo(0.4, 3);
  const b = Float64Array.from([1, 0.5, 0]);
  const rb = lm.solve(problem, b);
  expect(Array.from(b)).toEqual(Array.from(a));
  expect(rb).toEqual(ra);
  expect(ra.reason).toMatch(/tol/);
});

test('maxfev stops the solver with info 5', () => {
  const lm = new LevenbergMarquardt(2, 2);
  const res = lm.solve(rosenbrock, Float64Array.from([-1.2, 1]), { ftol: 0, xtol: 0, maxfev: 3 });
  expect(res.info).toBe(5);
  expect(res.nfev).toBe(3);
});

test('shape errors are explicit', () => {
  expect(() => new LevenbergMarquardt(2, 3)).toThrow(/at least as many residuals as unknowns: m = 2, n = 3/);
});

test('constant residual rows passed as constantSsq give the iterates of the full problem', () => {
  // An exponential fit plus 20 rows linear in (p0, p2), p0·tl + p2 − yl: with that block folded
  // into its R factor and the rest of yl into constantSsq, the solver must take the same steps.
  const rnd = gaussian(mulberry32(11));
  const t = Float64Array.from({ length: 40 }, (_, i) => i * 0.1);
  const y = Float64Array.from(t, (v) => 1.5 * Math.exp(-0.7 * v) + 0.2 + 1e-3 * rnd());
  const tl = Float64Array.from({ length: 20 }, (_, i) => i * 0.3);
  const yl = Float64Array.from(tl, (v) => 0.3 + 0.1 * v + 1e-2 * rnd());
  const nl = t.length;
  const expRows = (p: Float64Array, r: Float64Array): void => {
    for (let i = 0; i < nl; i++) r[i] = p[0]! * Math.exp(-p[1]! * t[i]!) + p[2]! - y[i]!;
  };
  const expJac = (p: Float64Array, j: Float64Array, m: number): void => {
    for (let i = 0; i < nl; i++) {
      const e = Math.exp(-p[1]! * t[i]!);
      j[i] = e;
      j[m + i] = -p[0]! * t[i]! * e;
      j[2 * m + i] = 1;
    }
  };
  const mFull = nl + tl.length;
  const full: LeastSquaresProblem = {
    residuals(p, r) {
      expRows(p, r);
      for (let i = 0; i < tl.length; i++) r[nl + i] = p[2]! + p[0]! * tl[i]! - yl[i]!;
    },
    jacobian(p, j) {
      expJac(p, j, mFull);
      for (let i = 0; i < tl.length; i++) {
        j[nl + i] = tl[i]!;
        j[mFull + nl + i] = 0;
        j[2 * mFull + nl + i] = 1;
      }
    },
  };
  // QR of the linear block's columns (p0, p2) and its right-hand side −yl.
  const ml = tl.length;
  const a = new Float64Array(2 * ml);
  const b = new Float64Array(ml);
  for (let i = 0; i < ml; i++) {
    a[i] = tl[i]!;
    a[ml + i] = 1;
    b[i] = -yl[i]!;
  }
  const rdiag = new Float64Array(2);
  expect(householderQr(a, ml, 2, rdiag, b)).toBe(-1);
  let perp = 0;
  for (let i = 2; i < ml; i++) perp += b[i]! ** 2;
  const mRed = nl + 2;
  const reduced: LeastSquaresProblem = {
    constantSsq: perp,
    residuals(p, r) {
      expRows(p, r);
      r[nl] = rdiag[0]! * p[0]! + a[ml]! * p[2]! + b[0]!;
      r[nl + 1] = rdiag[1]! * p[2]! + b[1]!;
    },
    jacobian(p, j) {
      expJac(p, j, mRed);
      j[nl] = rdiag[0]!;
      j[nl + 1] = 0;
      j[mRed + nl] = 0;
      j[mRed + nl + 1] = 0;
      j[2 * mRed + nl] = a[ml]!;
      j[2 * mRed + nl + 1] = rdiag[1]!;
    },
  };
  for (const opts of [{}, { ftol: 1e-4, xtol: 1e-4 }, { maxfev: 3 }]) {
    const xf = Float64Array.from([1, 0.3, 0]);
    const xr = Float64Array.from([1, 0.3, 0]);
    const rf = new LevenbergMarquardt(mFull, 3).solve(full, xf, opts);
    const rr = new LevenbergMarquardt(mRed, 3).solve(reduced, xr, opts);
    expect([rr.nfev, rr.njev, rr.info]).toEqual([rf.nfev, rf.njev, rf.info]);
    expect(Math.abs(rr.chisqr - rf.chisqr)).toBeLessThanOrEqual(1e-12 * rf.chisqr);
    for (let k = 0; k < 3; k++) expect(Math.abs(xr[k]! - xf[k]!)).toBeLessThanOrEqual(1e-10 * Math.max(1, Math.abs(xf[k]!)));
  }
});

test('householderQr: QᵀA = R and ‖Qᵀy‖ = ‖y‖; a zero column is reported', () => {
  const rnd = gaussian(mulberry32(5));
  const m = 9;
  const n = 4;
  const a0 = Float64Array.from({ length: m * n }, () => rnd());
  const y0 = Float64Array.from({ length: m }, () => rnd());
  const a = a0.slice();
  const y = y0.slice();
  const rdiag = new Float64Array(n);
  expect(householderQr(a, m, n, rdiag, y)).toBe(-1);
  // RᵀR = AᵀA and Rᵀ(Qᵀy)[0..n) = Aᵀy.
  for (let p = 0; p < n; p++) {
    for (let q = 0; q < n; q++) {
      let ata = 0;
      for (let i = 0; i < m; i++) ata += a0[p * m + i]! * a0[q * m + i]!;
      let rtr = 0;
      for (let i = 0; i <= Math.min(p, q); i++) {
        const rip = i === p ? rdiag[p]! : a[p * m + i]!;
        const riq = i === q ? rdiag[q]! : a[q * m + i]!;
        rtr += rip * riq;
      }
      expect(rtr).toBeCloseTo(ata, 12);
    }
    let aty = 0;
    for (let i = 0; i < m; i++) aty += a0[p * m + i]! * y0[i]!;
    let rtq = 0;
    for (let i = 0; i <= p; i++) rtq += (i === p ? rdiag[p]! : a[p * m + i]!) * y[i]!;
    expect(rtq).toBeCloseTo(aty, 12);
  }
  let ny = 0;
  let nq = 0;
  for (let i = 0; i < m; i++) {
    ny += y0[i]! ** 2;
    nq += y[i]! ** 2;
  }
  expect(nq).toBeCloseTo(ny, 12);
  const z = a0.slice();
  z.fill(0, m, 2 * m);
  expect(householderQr(z, m, n, rdiag, y0.slice())).toBe(1);
});
