/**
 * Small dense linear algebra on column-major Float64Arrays (element (i, j) of an m×n matrix at
 * i + j·m), for the handful of tiny solves outside the hot loops: polynomial fits and covariances.
 */

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
    const ajj = a[cj + j]!;
    for (let c = j + 1; c < n; c++) reflect(a, cj, ajj, a, c * m, j, m);
    for (let c = 0; c < k; c++) reflect(a, cj, ajj, y, c * m, j, m);
    rdiag[j] = -norm;
  }
  return singular;
}

/** Applies the reflector in column v (from row j, v[j] = ajj) to column o of w. */
function reflect(v: Float64Array, cv: number, ajj: number, w: Float64Array, o: number, j: number, m: number): void {
  let s = 0;
  for (let i = j; i < m; i++) s += v[cv + i]! * w[o + i]!;
  const t = s / ajj;
  for (let i = j; i < m; i++) w[o + i]! -= t * v[cv + i]!;
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
 * `y` are overwritten. Throws when A is rank-deficient (a zero pivot).
 */
export function lstsqQr(a: Float64Array, m: number, n: number, y: Float64Array, x: Float64Array = new Float64Array(n)): Float64Array {
  const rdiag = new Float64Array(n);
  const singular = householderQr(a, m, n, rdiag, y);
  if (singular >= 0) throw new RangeError(`least-squares matrix is rank-deficient (column ${singular})`);
  for (let j = n - 1; j >= 0; j--) {
    let s = y[j]!;
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
  const l = new Float64Array(n * n);
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
  const z = new Float64Array(n);
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
