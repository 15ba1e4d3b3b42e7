/**
 * Polynomial least-squares fit with numpy's `Polynomial.fit(x, y, deg).convert().coef`
 * semantics: the fit is done in a domain mapped onto [−1, 1] (energies are ~1e4 eV, so raw
 * powers would be hopelessly ill-conditioned), then converted to plain low-to-high coefficients.
 */
import { applyHouseholderQt, householderQr, qrLeastSquares } from './linalg.js';

/** A factored design matrix: its abscissae, the map onto [−1, 1] and the Householder QR. */
interface PolyDesign {
  x: Float64Array;
  deg: number;
  mid: number;
  half: number;
  qr: Float64Array;
  rdiag: Float64Array;
  singular: number;
}

/**
 * Designs of recent fits, found by degree, length and end abscissae, then checked value by value.
 * pre_edge fits the same energy ranges for every spectrum of a series that finds the same e0,
 * so the QR is reused and each fit costs Qᵀy and a back substitution: the operations the
 * factorisation applies to y, in the same order, so the coefficients are the same.
 */
const designs: PolyDesign[] = [];
const MAX_DESIGNS = 64;
/** Where the next new design goes once the list is full (oldest first). */
let replaceAt = 0;
const NO_COLUMNS = new Float64Array(0);
/** Right-hand side and coefficients of the current fit, reused. */
let work = new Float64Array(0);

function polyDesign(x: ArrayLike<number>, deg: number, start: number, end: number): PolyDesign {
  const m = end - start;
  const n = deg + 1;
  const first = x[start]!;
  const last = x[end - 1]!;
  for (const d of designs) {
    if (d.deg !== deg || d.x.length !== m || !Object.is(d.x[0], first) || !Object.is(d.x[m - 1], last)) continue;
    let same = true;
    for (let i = 1; i < m - 1 && same; i++) same = Object.is(d.x[i], x[start + i]);
    if (same) return d;
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = start; i < end; i++) {
    lo = Math.min(lo, x[i]!);
    hi = Math.max(hi, x[i]!);
  }
  // numpy maps [lo, hi] onto [−1, 1]; a single abscissa keeps the identity map.
  const half = hi > lo ? (hi - lo) / 2 : 1;
  const mid = hi > lo ? (hi + lo) / 2 : 0;
  const buffer = new Float64Array(m + m * n + n);
  const xs = buffer.subarray(0, m);
  const qr = buffer.subarray(m, m + m * n);
  const rdiag = buffer.subarray(m + m * n);
  for (let i = 0; i < m; i++) {
    xs[i] = x[start + i]!;
    const u = (x[start + i]! - mid) / half;
    let p = 1;
    for (let j = 0; j < n; j++) {
      qr[j * m + i] = p;
      p *= u;
    }
  }
  const singular = householderQr(qr, m, n, rdiag, NO_COLUMNS, 0);
  const design = { x: xs, deg, mid, half, qr, rdiag, singular };
  if (designs.length < MAX_DESIGNS) {
    designs.push(design);
  } else {
    designs[replaceAt] = design;
    replaceAt = (replaceAt + 1) % MAX_DESIGNS;
  }
  return design;
}

/** Coefficients c[0..deg] of Σ c_n x^n fitted to y over x[start:end). */
export function polyfit(x: ArrayLike<number>, y: ArrayLike<number>, deg: number, start = 0, end = x.length): Float64Array {
  const m = end - start;
  const n = deg + 1;
  if (m < n) throw new RangeError(`polynomial fit of degree ${deg} needs at least ${n} points, got ${m}`);
  const { mid, half, qr, rdiag, singular } = polyDesign(x, deg, start, end);
  if (work.length < m + n) work = new Float64Array(Math.max(m + n, 2 * work.length));
  const rhs = work.subarray(0, m);
  for (let i = 0; i < m; i++) rhs[i] = y[start + i]!;
  applyHouseholderQt(qr, m, n, rdiag, rhs);
  const cu = qrLeastSquares(qr, m, n, rdiag, singular, rhs, work.subarray(m, m + n));
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
