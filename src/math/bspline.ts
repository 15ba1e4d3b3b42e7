/**
 * Cubic B-splines with FITPACK conventions: knot vector t (length ncoef + 4) with fourfold end
 * knots, coefficients c[0..ncoef), evaluation outside [t[3], t[ncoef]] by polynomial
 * extrapolation of the end piece (splev's ext = 0). Interpolation uses the "not-a-knot" knot
 * vector of splrep / UnivariateSpline with s = 0.
 */
import { float64Views } from './linalg.js';

export const SPLINE_ORDER = 3;

/**
 * The interval l (3 ≤ l < ncoef) whose piece is used at x: t[l] ≤ x < t[l+1], clamped to the
 * first and last pieces so that points outside the knot span extrapolate.
 */
export function knotInterval(t: ArrayLike<number>, ncoef: number, x: number): number {
  let lo = SPLINE_ORDER;
  let hi = ncoef - 1;
  if (!(x >= t[lo + 1]!)) return lo;
  if (x >= t[hi]!) return hi;
  // Invariant: t[lo] <= x < t[hi].
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (t[mid]! <= x) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * The four non-zero cubic basis values B_{l-3..l}(x) of interval l (Cox–de Boor recurrence),
 * written to out[o..o+4). For x outside the interval the same recurrence yields the piece's
 * polynomial continuation, which is what extrapolation needs. Unrolled for the cubic case with
 * the operations of the recurrence in their original order, so the values are bit-identical.
 */
export function basisValues(t: ArrayLike<number>, l: number, x: number, out: Float64Array, o: number): void {
  const r1 = t[l + 1]! - x;
  const r2 = t[l + 2]! - x;
  const r3 = t[l + 3]! - x;
  const l1 = x - t[l]!;
  const l2 = x - t[l - 1]!;
  const l3 = x - t[l - 2]!;
  // Degree 1.
  let temp = 1 / (r1 + l1);
  let b0 = r1 * temp;
  let b1 = l1 * temp;
  // Degree 2.
  temp = b0 / (r1 + l2);
  b0 = r1 * temp;
  let saved = l2 * temp;
  temp = b1 / (r2 + l1);
  b1 = saved + r2 * temp;
  let b2 = l1 * temp;
  // Degree 3.
  temp = b0 / (r1 + l3);
  out[o] = r1 * temp;
  saved = l3 * temp;
  temp = b1 / (r2 + l2);
  out[o + 1] = saved + r2 * temp;
  saved = l2 * temp;
  temp = b2 / (r3 + l1);
  out[o + 2] = saved + r3 * temp;
  out[o + 3] = l1 * temp;
}

/**
 * knotInterval for x given the interval l of the previous abscissa: for sorted abscissae the
 * answer is l or a knot or two further, found without bisecting; anything else bisects.
 */
function nextInterval(t: ArrayLike<number>, ncoef: number, x: number, l: number): number {
  if (!(x >= t[l]!)) return knotInterval(t, ncoef, x);
  for (let step = 0; step < 4; step++) {
    if (l === ncoef - 1 || x < t[l + 1]!) return l;
    l++;
  }
  return knotInterval(t, ncoef, x);
}

/**
 * Sparse basis matrix at the points x: row i has its four non-zeros in columns
 * first[i]..first[i]+3 with values vals[4i..4i+4).
 */
export interface SplineBasis {
  /** Column of the first non-zero of each row (point). */
  first: Int32Array;
  /** The four non-zero values of each row, 4 per point. */
  vals: Float64Array;
}

export function splineBasis(t: ArrayLike<number>, ncoef: number, x: ArrayLike<number>, out?: SplineBasis): SplineBasis {
  const n = x.length;
  const b = out ?? { first: new Int32Array(n), vals: new Float64Array(4 * n) };
  let l = SPLINE_ORDER;
  for (let i = 0; i < n; i++) {
    l = nextInterval(t, ncoef, x[i]!, l);
    b.first[i] = l - SPLINE_ORDER;
    basisValues(t, l, x[i]!, b.vals, 4 * i);
  }
  return b;
}

/** Σ_j c_j B_j at each basis row into out. */
export function evalBasis(b: SplineBasis, c: ArrayLike<number>, out: Float64Array, count = b.first.length): Float64Array {
  for (let i = 0; i < count; i++) {
    const f = b.first[i]!;
    const v = 4 * i;
    out[i] = b.vals[v]! * c[f]! + b.vals[v + 1]! * c[f + 1]! + b.vals[v + 2]! * c[f + 2]! + b.vals[v + 3]! * c[f + 3]!;
  }
  return out;
}

/** The spline (t, c) at x, extrapolating outside the knot span. */
export function splev(t: ArrayLike<number>, c: ArrayLike<number>, ncoef: number, x: ArrayLike<number>, out: Float64Array = new Float64Array(x.length)): Float64Array {
  const w = new Float64Array(4);
  let l = SPLINE_ORDER;
  for (let i = 0; i < x.length; i++) {
    l = nextInterval(t, ncoef, x[i]!, l);
    basisValues(t, l, x[i]!, w, 0);
    const f = l - SPLINE_ORDER;
    out[i] = w[0]! * c[f]! + w[1]! * c[f + 1]! + w[2]! * c[f + 2]! + w[3]! * c[f + 3]!;
  }
  return out;
}

/** Not-a-knot knot vector for interpolation at x (strictly increasing, length m ≥ 4): length m + 4. */
export function notAKnotKnots(x: ArrayLike<number>, t: Float64Array = new Float64Array(x.length + 4)): Float64Array {
  const m = x.length;
  if (m < 4) throw new RangeError(`cubic spline interpolation needs at least 4 points, got ${m}`);
  for (let i = 0; i < 4; i++) {
    t[i] = x[0]!;
    t[m + i] = x[m - 1]!;
  }
  for (let i = 2; i < m - 2; i++) t[i + 2] = x[i]!;
  return t;
}

/**
 * Workspace for repeated cubic-spline interpolation on grids of up to `capacity` points: the
 * collocation matrix is banded (at most 4 non-zeros per row, within two of the diagonal) and
 * totally positive, so Gaussian elimination without pivoting is stable. The elimination of the
 * matrix (`factor`, which depends only on the abscissae) and of the values (`solve`) are apart,
 * so that many value sets on one grid are interpolated for the cost of two triangular sweeps each.
 */
export class SplineInterpolator {
  private readonly band: Float64Array;
  /** Elimination multipliers: mult[3k + (i − k − 1)] of rows i = k+1..k+3 by pivot row k (0: none). */
  private readonly mult: Float64Array;
  private readonly basisRow: Float64Array = new Float64Array(4);
  readonly knots: Float64Array;
  readonly coefs: Float64Array;
  /** Points of the last factored grid (0: none). */
  private factored = 0;

  constructor(readonly capacity: number) {
    [this.band, this.mult, this.knots, this.coefs] = float64Views([7 * capacity, 3 * capacity, capacity + 4, capacity]);
  }

  /**
   * Fits the not-a-knot interpolant of (x[0..m), y[0..m)); the result is in `knots` (m + 4
   * used) and `coefs` (m used). x must be strictly increasing.
   */
  fit(x: ArrayLike<number>, y: ArrayLike<number>, m: number = x.length): void {
    this.factor(x, m);
    this.solve(y);
  }

  /** The knots (in `knots`) and the eliminated collocation matrix of the interpolant at x[0..m). */
  factor(x: ArrayLike<number>, m: number = x.length): void {
    this.factored = 0;
    if (m > this.capacity) throw new RangeError(`spline of ${m} points exceeds the workspace (${this.capacity})`);
    if (m < 4) throw new RangeError(`cubic spline interpolation needs at least 4 points, got ${m}`);
    const t = this.knots;
    for (let i = 0; i < 4; i++) {
      t[i] = x[0]!;
      t[m + i] = x[m - 1]!;
    }
    for (let i = 2; i < m - 2; i++) t[i + 2] = x[i]!;
    // band[7i + 3 + (j − i)] holds A[i][j] for |j − i| ≤ 3.
    const a = this.band;
    a.fill(0, 0, 7 * m);
    const mult = this.mult;
    mult.fill(0, 0, 3 * m);
    const w = this.basisRow;
    let l = SPLINE_ORDER;
    for (let i = 0; i < m; i++) {
      l = nextInterval(t, m, x[i]!, l);
      basisValues(t, l, x[i]!, w, 0);
      const f = l - SPLINE_ORDER;
      for (let q = 0; q < 4; q++) {
        const d = f + q - i;
        if (d < -3 || d > 3) {
          if (w[q] !== 0) throw new RangeError('spline abscissae are not strictly increasing');
          continue;
        }
        a[7 * i + 3 + d] = w[q]!;
      }
    }
    // Band slots beyond column m − 1 hold zeros and stay zero, so rows need no bound checks; the
    // operations per entry are those of the plain loops, in the same order.
    for (let k = 0; k < m - 1; k++) {
      const rk = 7 * k + 3;
      const pivot = a[rk]!;
      if (pivot === 0) throw new RangeError('spline abscissae are not strictly increasing');
      const u1 = a[rk + 1]!;
      const u2 = a[rk + 2]!;
      const u3 = a[rk + 3]!;
      const iEnd = Math.min(m - 1, k + 3);
      for (let i = k + 1; i <= iEnd; i++) {
        const ri = 6 * i + 3 + k;
        const f = a[ri]!;
        if (f === 0) continue;
        const r = f / pivot;
        mult[3 * k + i - k - 1] = r;
        a[ri] = 0;
        a[ri + 1]! -= r * u1;
        a[ri + 2]! -= r * u2;
        a[ri + 3]! -= r * u3;
      }
    }
    for (let i = 0; i < m; i++) if (a[7 * i + 3] === 0) throw new RangeError('spline abscissae are not strictly increasing');
    this.factored = m;
  }

  /**
   * Coefficients (in `coefs`) of the interpolant through y[0..m) on the last factored grid: the
   * same operations, in the same order, as eliminating and back-substituting along with the matrix.
   */
  solve(y: ArrayLike<number>): void {
    const m = this.factored;
    if (m === 0) throw new Error('SplineInterpolator.solve needs a factored grid');
    const a = this.band;
    const mult = this.mult;
    const c = this.coefs;
    for (let i = 0; i < m; i++) c[i] = y[i]!;
    for (let k = 0; k < m - 1; k++) {
      const ck = c[k]!;
      const iEnd = Math.min(m - 1, k + 3);
      for (let i = k + 1; i <= iEnd; i++) {
        const r = mult[3 * k + i - k - 1]!;
        if (r !== 0) c[i]! -= r * ck;
      }
    }
    for (let i = m - 1; i >= 0; i--) {
      const ri = 7 * i + 3;
      let s = c[i]!;
      if (i + 3 < m) {
        s = s - a[ri + 1]! * c[i + 1]! - a[ri + 2]! * c[i + 2]! - a[ri + 3]! * c[i + 3]!;
      } else {
        for (let j = i + 1; j < m; j++) s -= a[ri + (j - i)]! * c[j]!;
      }
      c[i] = s / a[ri]!;
    }
  }

  /** The last fitted spline at the sorted points x into out (extrapolating beyond the ends). */
  evaluate(x: ArrayLike<number>, m: number, out: Float64Array, count: number = x.length): void {
    const t = this.knots;
    const c = this.coefs;
    const w = this.basisRow;
    let l = SPLINE_ORDER;
    for (let i = 0; i < count; i++) {
      const xi = x[i]!;
      l = nextInterval(t, m, xi, l);
      basisValues(t, l, xi, w, 0);
      const f = l - SPLINE_ORDER;
      out[i] = w[0]! * c[f]! + w[1]! * c[f + 1]! + w[2]! * c[f + 2]! + w[3]! * c[f + 3]!;
    }
  }
}
