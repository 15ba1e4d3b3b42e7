/** MINPACK-style LM on problems with known minima; workspace reuse. */
import { expect, test } from 'vitest';
import { LevenbergMarquardt, type LeastSquaresProblem } from '../../src/math/levenbergMarquardt.js';
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
