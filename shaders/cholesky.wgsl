// The damped Gauss–Newton step of the AUTOBK fits, shared by autobk_lm.wgsl and
// autobk_series.wgsl (spliced in at their `//! include "cholesky.wgsl"` line; never compiled
// alone). It works on three workgroup arrays each includer declares: cholL (MAXCOEF², row-major
// n × n), cholG and cholH (MAXCOEF each).

// With the lower triangle of a symmetric matrix M in cholL and the gradient g in cholG: M = L·Lᵀ
// (L into cholL's lower triangle, in place) and the step h = −M⁻¹·g into cholH. False when M is
// not positive definite in f32 (a pivot ≤ 0 or not finite; cholH is then undefined). One
// invocation runs it: the matrices are at most MAXCOEF (≈ 30) wide.
fn choleskyStep(n: u32) -> bool {
  for (var j = 0u; j < n; j++) {
    for (var k = 0u; k <= j; k++) {
      var sum = cholL[j * n + k];
      for (var p = 0u; p < k; p++) {
        sum -= cholL[j * n + p] * cholL[k * n + p];
      }
      if (k == j) {
        // NaN and ∞ are found by their bits: WGSL may assume finite values in comparisons.
        if (!(sum > 0.0) || (bitcast<u32>(sum) & 0x7f800000u) == 0x7f800000u) {
          return false;
        }
        cholL[j * n + j] = sqrt(sum);
      } else {
        cholL[j * n + k] = sum / cholL[k * n + k];
      }
    }
  }
  // L·y = −g (y into h), then Lᵀ·h = y.
  for (var j = 0u; j < n; j++) {
    var sum = -cholG[j];
    for (var p = 0u; p < j; p++) {
      sum -= cholL[j * n + p] * cholH[p];
    }
    cholH[j] = sum / cholL[j * n + j];
  }
  for (var jj = 0u; jj < n; jj++) {
    let j = n - 1u - jj;
    var sum = cholH[j];
    for (var p = j + 1u; p < n; p++) {
      sum -= cholL[p * n + j] * cholH[p];
    }
    cholH[j] = sum / cholL[j * n + j];
  }
  return true;
}
