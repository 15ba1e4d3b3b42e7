/**
 * The hand-written linear algebra of src/math/linalg.ts against ml-matrix's general dense
 * solvers (QR least squares, Cholesky, inverse) as the reference, on random well- and
 * ill-conditioned problems of the sizes batchfit solves (AUTOBK: up to 128 knots; polynomial
 * fits: 2–4 columns). Tolerance: relative to the reference solution, scaled by the condition.
 */
import { CholeskyDecomposition, inverse, Matrix, QrDecomposition } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { householderQr, applyHouseholderQt, invertSpd, lstsqQr } from '../../src/math/linalg.js';
import { mulberry32 } from '../../src/math/random.js';

/** m×n column-major matrix with singular values spread over `decades` decades. */
function randomMatrix(m: number, n: number, decades: number, rand: () => number): Float64Array {
  const a = new Float64Array(m * n);
  for (let j = 0; j < n; j++) {
    const scale = 10 ** (-decades * (j / Math.max(1, n - 1)));
    for (let i = 0; i < m; i++) a[i + j * m] = (rand() * 2 - 1) * scale + (j > 0 ? 0.3 * a[i + (j - 1) * m]! : 0);
  }
  return a;
}

const toMatrix = (a: Float64Array, m: number, n: number): Matrix => {
  const M = new Matrix(m, n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) M.set(i, j, a[i + j * m]!);
  return M;
};

function relErr(x: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (x[i]! - ref[i]!) ** 2;
    den += ref[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

describe('linalg against ml-matrix', () => {
  const rand = mulberry32(20260202);
  const cases: [number, number, number][] = [[5, 2, 0], [40, 4, 2], [200, 16, 3], [400, 64, 4], [600, 128, 2]];

  it.each(cases)('lstsqQr solves min‖Ax − y‖ as ml-matrix QrDecomposition does (m = %i, n = %i, 10^%i spread)', (m, n, decades) => {
    const a = randomMatrix(m, n, decades, rand);
    const y = Float64Array.from({ length: m }, () => rand() * 2 - 1);
    const ref = new QrDecomposition(toMatrix(a, m, n)).solve(Matrix.columnVector(Array.from(y))).getColumn(0);
    const x = lstsqQr(a.slice(), m, n, y.slice());
    expect(relErr(x, ref)).toBeLessThan(1e-12 * 10 ** decades);
  });

  it('applyHouseholderQt folds a later right-hand side as factoring along with it does', () => {
    const m = 50;
    const n = 6;
    const a = randomMatrix(m, n, 1, rand);
    const y = Float64Array.from({ length: m }, () => rand());
    const a1 = a.slice();
    const y1 = y.slice();
    const rdiag = new Float64Array(n);
    householderQr(a1, m, n, rdiag, y1);
    const a2 = a.slice();
    const rdiag2 = new Float64Array(n);
    householderQr(a2, m, n, rdiag2, new Float64Array(m));
    const y2 = y.slice();
    applyHouseholderQt(a2, m, n, rdiag2, y2);
    expect(y2).toEqual(y1);
    // ‖Qᵀy‖ = ‖y‖ (Q orthogonal), and ml-matrix's residual equals the part of Qᵀy below row n.
    const ref = new QrDecomposition(toMatrix(a, m, n)).solve(Matrix.columnVector(Array.from(y)));
    const resid = Matrix.columnVector(Array.from(y)).sub(toMatrix(a, m, n).mmul(ref)).norm();
    expect(Math.hypot(...y1.subarray(n))).toBeCloseTo(resid, 12);
  });

  it.each([2, 8, 32, 128])('invertSpd inverts AᵀA as ml-matrix inverse() does (n = %i), and refuses a singular one (ml-matrix: Cholesky not positive definite)', (n) => {
    const m = 2 * n + 3;
    const A = toMatrix(randomMatrix(m, n, 1, rand), m, n);
    const S = A.transpose().mmul(A);
    const inv = invertSpd(Float64Array.from(S.to1DArray()), n)!;
    const ref = inverse(S).to1DArray();
    expect(new CholeskyDecomposition(S).isPositiveDefinite()).toBe(true);
    expect(relErr(inv, ref)).toBeLessThan(1e-11 * n);
    // A parameter the data do not constrain (a zero row and column): no covariance.
    const singular = S.clone();
    for (let i = 0; i < n; i++) singular.set(i, n - 1, 0).set(n - 1, i, 0);
    expect(invertSpd(Float64Array.from(singular.to1DArray()), n)).toBeNull();
    expect(new CholeskyDecomposition(singular).isPositiveDefinite()).toBe(false);
  });
});
