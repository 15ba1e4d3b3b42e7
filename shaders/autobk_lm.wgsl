// AUTOBK Levenberg–Marquardt on the GPU, one workgroup per spectrum, in the coefficient offset
// δ = c − c0 from the CPU's float64 initial coefficients c0 (so nothing large cancels in f32):
//
//   FFT rows    r_fft(δ) = r0 + A·δ          (A: transformed basis columns, r0: transformed
//                                              window·χ0 with χ0 = χ_data − B·c0 − χ_std, f64 on the CPU)
//   clamp rows  r_q(δ) = w_q·s(δ)·χ_q(δ),  χ_q(δ) = χ0_q − G_q·δ,  s = 0.1 + 10·mean(r_fft²)
//   Jacobian    FFT rows A; clamp rows w_q·(χ_q·∇s − s·G_q), ∇s = (20/rows)·Aᵀr_fft (exact)
//
// Entry points:
//   gram_matrix   AᵀA per group (constant during the fit), one workgroup per group
//   lm_iterate    one LM trial per active spectrum: JᵀJ and Jᵀr at δ, Cholesky of
//                 JᵀJ + λ·diag(JᵀJ), the trial residual, accept/reject, λ update, stop test
//   count_active  number of spectra still active into counter[0] (the only value read back per
//                 submission)
//
// Stop test: the model's predicted reduction hᵀJᵀJh + 2λ·hᵀDh of the trial step is at most
// ptol·χ². Near the f32 noise floor trial steps are rejected, λ grows and the predicted
// reduction falls below the threshold, so the test is always reached.
//
// Override constants:
//   WG       invocations per workgroup, a power of two
//   MAXCOEF  ≥ the largest nspl;  MAXROWS ≥ the largest 2·irbkg;  MAXNC ≥ max(nc, 1)
//            (they size the per-trial scratch, which lives in workgroup memory)
//
// Bindings (group 0):
//   0 params   uniform Params (below)
//   1 index    storage read, array<u32>: group record g at index[8g .. 8g+8] = col0, nspl, rows,
//              nk, knot0, win0, clampG0, clampW0 (see autobk_basis.wgsl); spectrum record s at
//              index[spectra + 2s .. +2] = group, FFT column of its data
//   2 consts   storage read, array<f32>: per group G (nc × nspl, row q at clampG0 + q·nspl) and
//              w (nc values at clampW0); per spectrum χ0 at the clamp points, nc values at
//              chiEnd + s·nc
//   3 spec     storage read, array<f32>: FFT output, column c at c·binStride (Re X0, Im X0, Re X1, …):
//              A column j of group g is column col0 + j, r0 of a spectrum is its data column
//   4 gram     storage read_write, array<f32>: AᵀA of group g at g·matStride, row-major nspl × nspl
//   5 delta    storage read_write, array<f32>: δ of spectrum s at s·vecStride (nspl values)
//   7 state    storage read_write, array<LmState>: λ, χ² (f32 estimate), iterations, status
//   8 counter  storage read_write, array<atomic<u32>>: counter[0] = active spectra
//   9 normal   storage read_write, array<f32>: JᵀJ (row-major nspl × nspl) of spectrum s at
//              s·matStride, at the δ of its last trial (read back for the host's f64 polish)
//
// Dispatch: workgroup grid (gridX, gridY); item = id.x + id.y·gridX (spectrum, or group for
// gram_matrix with its own gridX in groupGridX); count_active: one workgroup.

struct Params {
  nSpectra: u32,
  nGroups: u32,
  binStride: u32,
  vecStride: u32,
  matStride: u32,
  rowStride: u32,
  nc: u32,
  spectra: u32,
  chiEnd: u32,
  maxIter: u32,
  gridX: u32,
  groupGridX: u32,
  ptol: f32,
}

struct LmState {
  lambda: f32,
  chisq: f32,
  iter: u32,
  status: u32,
}

const ACTIVE: u32 = 0u;
const CONVERGED: u32 = 1u;
const MAX_ITER: u32 = 2u;
// Past this damping the step is pure (tiny) gradient descent: nothing more to gain in f32.
const LAMBDA_MAX: f32 = 1e16;

override WG: u32 = 64u;
override MAXCOEF: u32 = 1u;
override MAXROWS: u32 = 1u;
override MAXNC: u32 = 1u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> index: array<u32>;
@group(0) @binding(2) var<storage, read> consts: array<f32>;
@group(0) @binding(3) var<storage, read> spec: array<f32>;
@group(0) @binding(4) var<storage, read_write> gram: array<f32>;
@group(0) @binding(5) var<storage, read_write> delta: array<f32>;
@group(0) @binding(7) var<storage, read_write> state: array<LmState>;
@group(0) @binding(8) var<storage, read_write> counter: array<atomic<u32>>;
@group(0) @binding(9) var<storage, read_write> normal: array<f32>;

var<workgroup> red: array<f32, WG>;
var<workgroup> redCount: atomic<u32>;
var<workgroup> wStatus: u32;
var<workgroup> wGroup: u32;
var<workgroup> wData: u32;
var<workgroup> wN: u32;
var<workgroup> wRows: u32;
var<workgroup> wOk: u32;
var<workgroup> wAccept: u32;
// One trial's scratch: JᵀJ and its Cholesky factor, the FFT residual rows, gradient, step,
// δ, trial δ, Aᵀr, the clamp rows of J and χ at the clamp points.
var<workgroup> wM: array<f32, MAXCOEF * MAXCOEF>;
var<workgroup> cholL: array<f32, MAXCOEF * MAXCOEF>;
var<workgroup> wR: array<f32, MAXROWS>;
var<workgroup> cholG: array<f32, MAXCOEF>;
var<workgroup> cholH: array<f32, MAXCOEF>;
var<workgroup> wX: array<f32, MAXCOEF>;
var<workgroup> wT: array<f32, MAXCOEF>;
var<workgroup> wGA: array<f32, MAXCOEF>;
var<workgroup> wJC: array<f32, MAXNC * MAXCOEF>;
var<workgroup> wCE: array<f32, MAXNC>;

//! include "cholesky.wgsl"

@compute @workgroup_size(WG)
fn gram_matrix(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * params.groupGridX;
  if (g >= params.nGroups) {
    return;
  }
  let col0 = index[8u * g];
  let n = index[8u * g + 1u];
  let rows = index[8u * g + 2u];
  let bs = params.binStride;
  for (var e = lid; e < n * n; e += WG) {
    let a = (col0 + e / n) * bs;
    let b = (col0 + e % n) * bs;
    var acc = 0.0;
    for (var i = 0u; i < rows; i++) {
      acc += spec[a + i] * spec[b + i];
    }
    gram[g * params.matStride + e] = acc;
  }
}

// Σ v over the workgroup, in a fixed order (the same result for every chunking of a batch).
fn wgSum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (lid < w) {
      red[lid] += red[lid + w];
    }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}

// r = r0 + A·x into wR (x: wX, or the trial wT when `trial`); returns Σ r².
fn fftResidual(trial: bool, n: u32, rows: u32, col0: u32, dataCol: u32, lid: u32) -> f32 {
  let bs = params.binStride;
  var ss = 0.0;
  for (var i = lid; i < rows; i += WG) {
    var acc = spec[dataCol * bs + i];
    for (var j = 0u; j < n; j++) {
      acc += spec[(col0 + j) * bs + i] * select(wX[j], wT[j], trial);
    }
    wR[i] = acc;
    ss += acc * acc;
  }
  return wgSum(ss, lid);
}

// χ_q = χ0_q − G_q·x at the clamp points into wCE.
fn clampChi(trial: bool, s: u32, n: u32, clampG0: u32, lid: u32) {
  let nc = params.nc;
  for (var q = lid; q < nc; q += WG) {
    var acc = consts[params.chiEnd + s * nc + q];
    for (var j = 0u; j < n; j++) {
      acc -= consts[clampG0 + q * n + j] * select(wX[j], wT[j], trial);
    }
    wCE[q] = acc;
  }
  workgroupBarrier();
}

// Σ_q (w_q·sc·χ_q)², read by one invocation.
fn clampSsq(clampW0: u32, sc: f32) -> f32 {
  var ss = 0.0;
  for (var q = 0u; q < params.nc; q++) {
    let v = consts[clampW0 + q] * sc * wCE[q];
    ss += v * v;
  }
  return ss;
}

// Finite by bit pattern: a compiler may assume floats finite and fold `v == v` away.
fn finiteF32(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(WG)
fn lm_iterate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = wid.x + wid.y * params.gridX;
  if (s >= params.nSpectra) {
    return;
  }
  if (lid == 0u) {
    wStatus = state[s].status;
    let g = index[params.spectra + 2u * s];
    wGroup = g;
    wData = index[params.spectra + 2u * s + 1u];
    wN = index[8u * g + 1u];
    wRows = index[8u * g + 2u];
  }
  if (workgroupUniformLoad(&wStatus) != ACTIVE) {
    return;
  }
  let g = workgroupUniformLoad(&wGroup);
  let dataCol = workgroupUniformLoad(&wData);
  let n = workgroupUniformLoad(&wN);
  let rows = workgroupUniformLoad(&wRows);
  let col0 = index[8u * g];
  let clampG0 = index[8u * g + 6u];
  let clampW0 = index[8u * g + 7u];
  let nc = params.nc;
  let bs = params.binStride;
  let V = params.vecStride;
  let oM = s * params.matStride;

  for (var j = lid; j < n; j += WG) {
    wX[j] = delta[s * V + j];
  }
  workgroupBarrier();
  let ss = fftResidual(false, n, rows, col0, dataCol, lid);
  for (var j = lid; j < n; j += WG) {
    var acc = 0.0;
    for (var i = 0u; i < rows; i++) {
      acc += spec[(col0 + j) * bs + i] * wR[i];
    }
    wGA[j] = acc;
  }
  clampChi(false, s, n, clampG0, lid);
  let sc = 0.1 + 10.0 * ss / f32(rows);
  let ds = 20.0 / f32(rows);
  for (var e = lid; e < nc * n; e += WG) {
    let q = e / n;
    let j = e % n;
    wJC[e] = consts[clampW0 + q] * (wCE[q] * ds * wGA[j] - sc * consts[clampG0 + e]);
  }
  workgroupBarrier();
  for (var j = lid; j < n; j += WG) {
    var acc = wGA[j];
    for (var q = 0u; q < nc; q++) {
      acc += wJC[q * n + j] * consts[clampW0 + q] * sc * wCE[q];
    }
    cholG[j] = acc;
  }
  for (var e = lid; e < n * n; e += WG) {
    let j = e / n;
    let k = e % n;
    var acc = gram[g * params.matStride + e];
    for (var q = 0u; q < nc; q++) {
      acc += wJC[q * n + j] * wJC[q * n + k];
    }
    wM[e] = acc;
    // JᵀJ at the latest trial, for the final Gauss–Newton step of the caller.
    normal[oM + e] = acc;
  }
  workgroupBarrier();

  // One invocation: chi², Cholesky of M + λ·diag(M), the step h and its predicted reduction.
  var chisq = 0.0;
  var pred = 0.0;
  if (lid == 0u) {
    chisq = ss + clampSsq(clampW0, sc);
    let lambda = state[s].lambda;
    // M + λ·diag(M) into the factor's place (its lower triangle is all choleskyStep reads).
    for (var j = 0u; j < n; j++) {
      for (var k = 0u; k <= j; k++) {
        cholL[j * n + k] = wM[j * n + k];
      }
      cholL[j * n + j] += lambda * wM[j * n + j];
    }
    var ok = select(0u, 1u, choleskyStep(n));
    if (ok == 1u) {
      for (var j = 0u; j < n; j++) {
        var mh = 0.0;
        for (var k = 0u; k < n; k++) {
          mh += wM[j * n + k] * cholH[k];
        }
        let hj = cholH[j];
        pred += hj * mh + 2.0 * lambda * wM[j * n + j] * hj * hj;
        wT[j] = wX[j] + hj;
      }
      if (!finiteF32(pred) || !finiteF32(chisq)) {
        ok = 0u;
      }
    }
    wOk = ok;
  }
  let ok = workgroupUniformLoad(&wOk);

  var chisqTrial = 0.0;
  if (ok == 1u) {
    let sst = fftResidual(true, n, rows, col0, dataCol, lid);
    clampChi(true, s, n, clampG0, lid);
    chisqTrial = sst + clampSsq(clampW0, 0.1 + 10.0 * sst / f32(rows));
  }

  if (lid == 0u) {
    var st = state[s];
    st.iter += 1u;
    var accept = 0u;
    if (ok == 0u) {
      st.lambda *= 10.0;
    } else {
      let actual = chisq - chisqTrial;
      if (actual > 0.0 && finiteF32(chisqTrial)) {
        accept = 1u;
        st.chisq = chisqTrial;
        // Nielsen's update from the gain ratio actual / predicted.
        let rho = 2.0 * min(actual / pred, 1.0) - 1.0;
        st.lambda *= max(1.0 / 3.0, 1.0 - rho * rho * rho);
      } else {
        st.chisq = chisq;
        st.lambda *= 10.0;
      }
      if (pred <= params.ptol * chisq) {
        st.status = CONVERGED;
      }
    }
    if (st.status == ACTIVE && st.lambda > LAMBDA_MAX) {
      st.status = CONVERGED;
    }
    if (st.status == ACTIVE && st.iter >= params.maxIter) {
      st.status = MAX_ITER;
    }
    state[s] = st;
    wAccept = accept;
  }
  if (workgroupUniformLoad(&wAccept) == 1u) {
    for (var j = lid; j < n; j += WG) {
      delta[s * V + j] = wT[j];
    }
  }
}

@compute @workgroup_size(WG)
fn count_active(@builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) {
    atomicStore(&redCount, 0u);
  }
  workgroupBarrier();
  var local = 0u;
  for (var s = lid; s < params.nSpectra; s += WG) {
    if (state[s].status == ACTIVE) {
      local += 1u;
    }
  }
  atomicAdd(&redCount, local);
  workgroupBarrier();
  if (lid == 0u) {
    atomicStore(&counter[0], atomicLoad(&redCount));
  }
}
