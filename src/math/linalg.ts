/**
 * Small dense linear algebra on column-major Float64Arrays (element (i, j) of an m×n matrix at
 * i + j·m), for the handful of tiny solves outside the hot loops: polynomial fits and covariances.
 */

/**
 * Least-squares solution of min ‖A x − y‖ by Householder QR. `a` (m×n, m ≥ n, column-major) and
 * `y` are overwritten. Throws when A is rank-deficient (a zero pivot).
 */
export function lstsqQr(a: Float64Array, m: number, n: number, y: Float64Array, x: Float64Array = new Float64Array(n)): Float64Array {
  if (m < n) throw new RangeError(`least squares needs at least as many rows (${m}) as unknowns (${n})`);
  const rdiag = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const cj = j * m;
    let norm = 0;
    for (let i = j; i < m; i++) norm = Math.hypot(norm, a[cj + i]!);
    if (norm === 0) throw new RangeError(`least-squares matrix is rank-deficient (column ${j})`);
    if (a[cj + j]! < 0) norm = -norm;
    for (let i = j; i < m; i++) a[cj + i]! /= norm;
    a[cj + j]! += 1;
    for (let k = j + 1; k < n; k++) {
      const ck = k * m;
      let s = 0;
      for (let i = j; i < m; i++) s += a[cj + i]! * a[ck + i]!;
      const t = s / a[cj + j]!;
      for (let i = j; i < m; i++) a[ck + i]! -= t * a[cj + i]!;
    }
    let s = 0;
    for (let i = j; i < m; i++) s += a[cj + i]! * y[i]!;
    const t = s / a[cj + j]!;
    for (let i = j; i < m; i++) y[i]! -= t * a[cj + i]!;
    rdiag[j] = -norm;
  }
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
