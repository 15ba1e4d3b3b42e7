/**
 * Small dense linear algebra on column-major Float64Arrays (element (i, j) of an m×n matrix at
 * i + j·m): Householder QR for polynomial fits, the AUTOBK Fourier block and the
 * Levenberg–Marquardt solver, and covariances.
 */

/**
 * Float64Array views of the given lengths on one fresh buffer. In V8 every typed array with a
 * buffer of its own (over 64 bytes) is an off-heap allocation costing ~0.7 µs, more than many of
 * the small solves here take; views on one buffer cost a few tens of nanoseconds each.
 */
export function float64Views<const L extends readonly number[]>(lengths: L): { -readonly [K in keyof L]: Float64Array } {
  let total = 0;
  for (const n of lengths) total += n;
  const buffer = new Float64Array(total).buffer;
  const views: Float64Array[] = [];
  let offset = 0;
  for (const n of lengths) {
    views.push(new Float64Array(buffer, 8 * offset, n));
    offset += n;
  }
  return views as { -readonly [K in keyof L]: Float64Array };
}

/**
 * Householder QR of the m×n column-major `a` (m ≥ n), in place: R strictly above the diagonal of
 * `a`, its diagonal in `rdiag`, the reflectors on and below the diagonal. The `k` columns of `y`
 * (m×k, column-major) become Qᵀy, so their rows below n hold the parts orthogonal to A's range.
 * Returns the first column with a zero pivot (A rank-deficient), or −1.
 */
export function householderQr(a: Float64Array, m: number, n: number, rdiag: Float64Array, y: Float64Array, k = 1): number {
  if (m < n) throw new RangeError(`QR needs at least as many rows (${m}) as columns (${n})`);
  let singular = -1;
  for (let j = 0; j < n; j++) {
    const cj = j * m;
    let norm = columnNorm(a, cj + j, cj + m);
    if (norm === 0) {
      if (singular < 0) singular = j;
      rdiag[j] = 0;
      continue;
    }
    if (a[cj + j]! < 0) norm = -norm;
    for (let i = j; i < m; i++) a[cj + i]! /= norm;
    a[cj + j]! += 1;
    applyReflector(a, cj, j, m, a, (j + 1) * m, n - j - 1);
    applyReflector(a, cj, j, m, y, 0, k);
    rdiag[j] = -norm;
  }
  return singular;
}

/**
 * Qᵀy for the k columns of y (m×k, column-major) with the reflectors householderQr left in `a`:
 * the operations householderQr applies to its own y, in the same order, so a factor computed once
 * folds any number of right-hand sides exactly as factoring along with each of them would.
 */
export function applyHouseholderQt(a: Float64Array, m: number, n: number, rdiag: Float64Array, y: Float64Array, k = 1): void {
  for (let j = 0; j < n; j++) {
    // A zero pivot left its column without a reflector.
    if (rdiag[j] === 0) continue;
    applyReflector(a, j * m, j, m, y, 0, k);
  }
}

/**
 * Applies the Householder reflector I − v·vᵀ/v[j], v = rows j..m of the column at offset cv of
 * `v`, to `count` m-row columns of `w` starting at offset o. Four (then two) columns at a time, so
 * that their dot products are independent chains instead of one add waiting on the previous; each
 * column's sums keep their order, so the results do not depend on the grouping.
 */
export function applyReflector(v: Float64Array, cv: number, j: number, m: number, w: Float64Array, o: number, count: number): void {
  const vjj = v[cv + j]!;
  let c = 0;
  for (; c + 4 <= count; c += 4) {
    const o0 = o + c * m;
    const o1 = o0 + m;
    const o2 = o1 + m;
    const o3 = o2 + m;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let i = j; i < m; i++) {
      const vi = v[cv + i]!;
      s0 += vi * w[o0 + i]!;
      s1 += vi * w[o1 + i]!;
      s2 += vi * w[o2 + i]!;
      s3 += vi * w[o3 + i]!;
    }
    const t0 = s0 / vjj;
    const t1 = s1 / vjj;
    const t2 = s2 / vjj;
    const t3 = s3 / vjj;
    for (let i = j; i < m; i++) {
      const vi = v[cv + i]!;
      w[o0 + i]! -= t0 * vi;
      w[o1 + i]! -= t1 * vi;
      w[o2 + i]! -= t2 * vi;
      w[o3 + i]! -= t3 * vi;
    }
  }
  if (c + 2 <= count) {
    const o0 = o + c * m;
    const o1 = o0 + m;
    let s0 = 0;
    let s1 = 0;
    for (let i = j; i < m; i++) {
      const vi = v[cv + i]!;
      s0 += vi * w[o0 + i]!;
      s1 += vi * w[o1 + i]!;
    }
    const t0 = s0 / vjj;
    const t1 = s1 / vjj;
    for (let i = j; i < m; i++) {
      const vi = v[cv + i]!;
      w[o0 + i]! -= t0 * vi;
      w[o1 + i]! -= t1 * vi;
    }
    c += 2;
  }
  for (; c < count; c++) {
    const oc = o + c * m;
    let s = 0;
    for (let i = j; i < m; i++) s += v[cv + i]! * w[oc + i]!;
    const t = s / vjj;
    for (let i = j; i < m; i++) w[oc + i]! -= t * v[cv + i]!;
  }
}

/** Euclidean norm of a[start..end): a plain sum of squares, rescaled only if it over- or underflows. */
export function columnNorm(a: ArrayLike<number>, start: number, end: number): number {
  let s = 0;
  for (let i = start; i < end; i++) s += a[i]! * a[i]!;
  if (s > 1e-280 && s < Infinity) return Math.sqrt(s);
  let scale = 0;
  let ssq = 1;
  for (let i = start; i < end; i++) {
    const av = Math.abs(a[i]!);
    if (av === 0) continue;
    if (scale < av) {
      const r = scale / av;
      ssq = 1 + ssq * r * r;
      scale = av;
    } else {
      const r = av / scale;
      ssq += r * r;
    }
  }
  return scale * Math.sqrt(ssq);
}

/**
 * Least-squares solution of min ‖A x − y‖ by Householder QR. `a` (m×n, m ≥ n, column-major) and
 * `y` are overwritten; `rdiag` (n) is workspace. Throws when A is rank-deficient (a zero pivot).
 */
export function lstsqQr(a: Float64Array, m: number, n: number, y: Float64Array, x: Float64Array = new Float64Array(n), rdiag: Float64Array = new Float64Array(n)): Float64Array {
  const singular = householderQr(a, m, n, rdiag, y);
  return qrLeastSquares(a, m, n, rdiag, singular, y, x);
}

/**
 * The least-squares solution from a Householder QR (householderQr's a, rdiag and its return
 * value) and Qᵀy (m): back substitution in R, or the rank-deficiency error.
 */
export function qrLeastSquares(a: Float64Array, m: number, n: number, rdiag: Float64Array, singular: number, qty: Float64Array, x: Float64Array): Float64Array {
  if (singular >= 0) throw new RangeError(`least-squares matrix is rank-deficient (column ${singular})`);
  for (let j = n - 1; j >= 0; j--) {
    let s = qty[j]!;
    for (let k = j + 1; k < n; k++) s -= a[k * m + j]! * x[k]!;
    x[j] = s / rdiag[j]!;
  }
  return x;
}

/**
 * Inverse of a symmetric positive-definite n×n matrix by Cholesky factorisation; returns null when
 * the matrix is not positive definite (a singular normal matrix: no covariance).
 */
export function invertSpd(s: Float64Array, n: number): Float64Array | null {
  const [l, z] = float64Views([n * n, n]);
  for (let j = 0; j < n; j++) {
    let d = s[j * n + j]!;
    for (let k = 0; k < j; k++) d -= l[j * n + k]! ** 2;
    if (!(d > 0)) return null;
    const ljj = Math.sqrt(d);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let v = s[i * n + j]!;
      for (let k = 0; k < j; k++) v -= l[i * n + k]! * l[j * n + k]!;
      l[i * n + j] = v / ljj;
    }
  }
  // inv = L⁻ᵀ L⁻¹, column by column from unit vectors.
  const inv = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    z.fill(0);
    z[c] = 1;
    for (let i = 0; i < n; i++) {
      let v = z[i]!;
      for (let k = 0; k < i; k++) v -= l[i * n + k]! * z[k]!;
      z[i] = v / l[i * n + i]!;
    }
    for (let i = n - 1; i >= 0; i--) {
      let v = z[i]!;
      for (let k = i + 1; k < n; k++) v -= l[k * n + i]! * z[k]!;
      z[i] = v / l[i * n + i]!;
    }
    for (let i = 0; i < n; i++) inv[i * n + c] = z[i]!;
  }
  return inv;
}
