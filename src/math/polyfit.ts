/**
 * Polynomial least-squares fit with numpy's `Polynomial.fit(x, y, deg).convert().coef`
 * semantics: the fit is done in a domain mapped onto [−1, 1] (energies are ~1e4 eV, so raw
 * powers would be hopelessly ill-conditioned), then converted to plain low-to-high coefficients.
 */
import { lstsqQr } from './linalg.js';

/**
 * The design matrix, right-hand side and solver arrays of the last fit, reused: pre_edge fits two
 * polynomials per spectrum, and fresh arrays for every fit of a batch are mostly allocation.
 */
let work = new Float64Array(0);

/** Coefficients c[0..deg] of Σ c_n x^n fitted to y over x[start:end). */
export function polyfit(x: ArrayLike<number>, y: ArrayLike<number>, deg: number, start = 0, end = x.length): Float64Array {
  const m = end - start;
  const n = deg + 1;
  if (m < n) throw new RangeError(`polynomial fit of degree ${deg} needs at least ${n} points, got ${m}`);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = start; i < end; i++) {
    lo = Math.min(lo, x[i]!);
    hi = Math.max(hi, x[i]!);
  }
  // numpy maps [lo, hi] onto [−1, 1]; a single abscissa keeps the identity map.
  const half = hi > lo ? (hi - lo) / 2 : 1;
  const mid = hi > lo ? (hi + lo) / 2 : 0;
  const need = m * n + m + 2 * n;
  if (work.length < need) work = new Float64Array(Math.max(need, 2 * work.length));
  const a = work.subarray(0, m * n);
  const rhs = work.subarray(m * n, m * n + m);
  for (let i = 0; i < m; i++) {
    const u = (x[start + i]! - mid) / half;
    let p = 1;
    for (let j = 0; j < n; j++) {
      a[j * m + i] = p;
      p *= u;
    }
    rhs[i] = y[start + i]!;
  }
  const cu = lstsqQr(a, m, n, rhs, work.subarray(m * n + m, m * n + m + n), work.subarray(m * n + m + n, need));
  // Expand Σ cu_j ((x − mid)/half)^j into powers of x (Horner on polynomials).
  const out = new Float64Array(n);
  for (let j = n - 1; j >= 0; j--) {
    for (let k = n - 1; k >= 1; k--) out[k] = (out[k - 1]! - mid * out[k]!) / half;
    out[0] = (-mid * out[0]!) / half + cu[j]!;
  }
  return out;
}

/** Σ c_n x^n by Horner's rule. */
export function polyval(c: ArrayLike<number>, x: number): number {
  let v = 0;
  for (let j = c.length - 1; j >= 0; j--) v = v * x + c[j]!;
  return v;
}
