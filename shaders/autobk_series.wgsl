// AUTOBK of a packed series (one energy grid, one e0): the per-spectrum setup as shared linear
// maps of μ, and the final Gauss–Newton polish, χ, bkg and χ² — so that the CPU does no
// per-spectrum arithmetic beyond copying results.
//
// For a fixed grid and e0 the setup is linear in μ. With μ' = μ − μ[iek0] (a constant, which
// lies in the spline space and changes no residual) over the nIn samples μ'[i] = μ[iek0 + i]:
//   r0   = K·μ'     FFT rows of the residual at c0 (K = 0.05/√π·F·diag(ftwin)·(L − B·P))
//   χ0_q = C·μ'     χ0 at the clamp points (rows of L − B·P)
//   χ0   = M·μ'     χ0 = χ_data − B·c0 on the k grid
//   c0'  = P·μ'     c0 − μ[iek0]
// r0 and χ0_q are formed in double-f32 ("df64", hi + lo, ~46 bits): the f32 LM loop stops
// where its gradient Aᵀr is known to ~ε32·‖A‖·‖r‖, and the polish step below recomputes the
// gradient from df64 residuals. χ0, c0', χ and bkg are f32 (their errors are ~ε32 of the edge
// step, far below the 1e-4·max|χ| the results need).
//
// df64 arithmetic: WGSL allows reassociation and does not fuse fma on every device (see
// docs/webgpu notes: lavapipe folds unguarded TwoSum away), so
//   - TwoSum and FastTwoSum multiply by params.one (1.0 at run time, unknown to the compiler);
//   - products are split Dekker-style into 12-bit halves, so every partial product is exact
//     whether or not the compiler contracts it into an fma. Matrix entries come pre-split from
//     the CPU (three planes: hi1, hi2 = hi − hi1, lo); vectors are split here;
//   - a rounded product that an error-free transform needs (4097·a, the product of the hi
//     parts) is multiplied by params.one too: lavapipe contracts a·b + c into an exact fma,
//     which silently changes which rounding error the next step removes;
//   - measured on lavapipe: without these guards a 479-term dot product came out ~2⁻³⁰
//     relative to Σ|terms| (barely better than f32's error sum), with them bit-identical to the
//     same algorithm emulated with Math.fround (~2⁻⁴⁶).
//
// Entry points (one workgroup of WG invocations per spectrum):
//   series_setup   checks the μ row (every sample finite and below 2¹⁰⁰, by bit pattern), forms
//                  the edge step (given, or pre_edge's as the fixed linear functional Σ w_j·μ'_j
//                  of src/xafs/edgeStepMap.ts, in df64) and checks it; decodes μ (raw float64
//                  words) to df64 and forms r0 and χ0_q (df64 mat-vecs), writing the f32 r0 into
//                  the LM's FFT output column and χ0_q into its consts, both in df64 into
//                  `data`; resets the spectrum's LM state (λ0, δ = 0). A spectrum that fails a
//                  check gets status REDO and is left out of the LM (the host fits it in float64);
//                  so does one whose edge step exceeds MAX_GPU_EDGE_STEP.
//   series_finish  after the LM loop: one df64 Gauss–Newton step from δ (kept when it lowers
//                  χ²), then χ² (df64 residuals), χ = (χ0 − B·δ)/edgeStep on the k grid, the
//                  coefficients c = μ[iek0] + c0' + δ and c0 = μ[iek0] + c0', written as float64
//                  bit patterns into planes the host copies straight into its result columns
//
// Override constants:
//   WG       invocations per workgroup (power of two)
//   MAXIN    ≥ nIn        MAXROWS ≥ rows        MAXCOEF ≥ nspl        MAXNC ≥ max(nc, 1)
//
// Bindings (group 0):
//   0 params  uniform Params (below)
//   1 mats    storage read, array<f32>, shared by the series:
//               D  at dOff: the rd = rows + nc rows [K; C], column-major (entry (r, i) at i·rd + r),
//                  three planes of rd·nIn (hi1, hi2, lo)
//               F  at fOff: the rf = nk + nspl rows [M; P], column-major (i·rf + r), f32
//               A  at aOff: rows × nspl, column-major (j·rows + i), three planes (hi1, hi2, lo)
//               G  at gOff: clamp basis rows, nc × nspl row-major, three planes (hi1, hi2, lo)
//               Bk at bkOff: per k point first basis index (as f32) and its 4 values (5 floats)
//               w  at wOff: the nc clamp weights
//               E  at eOff: the edge-step weights of μ[eStart + j], three planes of eLen (hi1, hi2, lo)
//   2 mu      storage read, array<u32>: spectrum s's float64 μ row (ne values, little-endian
//             word pairs) at 2·ne·s
//   3 steps   storage read, array<u32>: given edge steps as float64 words, spectrum s at 2s
//             (stepMode = 0)
//   4 data    storage read_write, array<f32>: per spectrum at dataStride·s: df64 [r0; χ0_q]
//             (rd hi values, then rd lo values), then 1/edgeStep (f32)
//   5 spec    storage read_write, array<f32>: the LM's FFT output; r0 (f32) into column s
//             at s·binStride (autobk_lm.wgsl reads it as the data column)
//   6 lmc     storage read_write, array<f32>: the LM's consts; χ0_q (f32) at chiEnd + s·nc
//   7 delta   storage read_write, array<f32>: δ of spectrum s at s·vecStride (LM state)
//   8 normal  storage read, array<f32>: JᵀJ of spectrum s at s·matStride (row-major nspl²)
//   9 state   storage read_write, array<vec4<u32>>: LM state (λ, χ², iterations, status)
//  10 out     storage read_write, array<u32>, planes of capacity spectra (word offsets in Params):
//               chi    [capacity][nk]   float64      χ(k) / edge step
//               coef   [capacity][nspl] float64      coefficients
//               init   [capacity][nspl] float64      initial coefficients
//               step   [capacity]       float64      edge step (|step|, pre_edge's floor 1e-12)
//               chisq  [capacity]       float64      χ² after the polish step
//               redchi [capacity]       float64      χ² / (rows + nc − nspl)
//               iter   [capacity]       u32          LM trial steps
//               status [capacity]       u32          0 converged, 1 max-iterations, 3 REDO
//
// Dispatch: workgroup grid (gridX, gridY), spectrum = id.x + id.y·gridX.

struct Params {
  nSpectra: u32,
  gridX: u32,
  ne: u32,
  iek0: u32,
  nIn: u32,
  rows: u32,
  nc: u32,
  nspl: u32,
  nk: u32,
  rd: u32,
  rf: u32,
  binStride: u32,
  chiEnd: u32,
  vecStride: u32,
  matStride: u32,
  dataStride: u32,
  dOff: u32,
  fOff: u32,
  aOff: u32,
  gOff: u32,
  bkOff: u32,
  wOff: u32,
  eOff: u32,
  eStart: u32,
  eLen: u32,
  stepMode: u32,
  oChi: u32,
  oCoef: u32,
  oInit: u32,
  oStep: u32,
  oChisq: u32,
  oRedchi: u32,
  oIter: u32,
  oStatus: u32,
  lambda0: f32,
  dof: f32,
  one: f32,
  one2: f32,
}

override WG: u32 = 64u;
override MAXIN: u32;
override MAXROWS: u32;
override MAXCOEF: u32;
override MAXNC: u32;

// Largest |edge step| the GPU fits (MAX_GPU_EDGE_STEP of src/xafs/autobkBatchGpu.ts): Larch's
// clamp weight s = 0.1 + 10·mean(r²) mixes a constant with μ units squared, and for μ in large
// units the clamp rows outweigh the FFT rows beyond what the float32 LM resolves; such a row
// gets status REDO and the host fits it in float64.
const MAX_GPU_EDGE_STEP: f32 = 16.0;
// Relative rounding noise of χ² summed in f32 from df64 residuals (a few hundred rows).
const CHISQ_NOISE: f32 = 1e-6;
// LM status words (autobk_lm.wgsl) and the result status codes.
const LM_ACTIVE: u32 = 0u;
const LM_CONVERGED: u32 = 1u;
const LM_MAX_ITER: u32 = 2u;
const STATUS_CONVERGED: u32 = 0u;
const STATUS_MAX_ITERATIONS: u32 = 1u;
const STATUS_REDO: u32 = 3u;
// Larch's pre_edge floors the edge step here.
const MIN_EDGE_STEP: f32 = 1e-12;
// μ at or above 2^100 (≈ 1.3e30): its squares and products would leave f32's range.
const MU_EXPONENT_LIMIT: u32 = 1123u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> mats: array<f32>;
@group(0) @binding(2) var<storage, read> mu: array<u32>;
@group(0) @binding(3) var<storage, read> steps: array<u32>;
@group(0) @binding(4) var<storage, read_write> data: array<f32>;
@group(0) @binding(5) var<storage, read_write> spec: array<f32>;
@group(0) @binding(6) var<storage, read_write> lmc: array<f32>;
@group(0) @binding(7) var<storage, read_write> delta: array<f32>;
@group(0) @binding(8) var<storage, read> normal: array<f32>;
@group(0) @binding(9) var<storage, read_write> state: array<vec4<u32>>;
@group(0) @binding(10) var<storage, read_write> out: array<u32>;

// μ' per sample: Dekker halves of its hi part and its lo part (setup); the f32 value (finish).
var<workgroup> x1: array<f32, MAXIN>;
var<workgroup> x2: array<f32, MAXIN>;
var<workgroup> xlo: array<f32, MAXIN>;
// Residual rows r (halves of hi, lo), δ and its halves, the gradient and step of choleskyStep
// (cholG, cholH), coefficients, the Cholesky factor (cholL), clamp χ.
var<workgroup> r1: array<f32, MAXROWS>;
var<workgroup> r2: array<f32, MAXROWS>;
var<workgroup> rlo: array<f32, MAXROWS>;
var<workgroup> dv: array<f32, MAXCOEF>;
var<workgroup> d1: array<f32, MAXCOEF>;
var<workgroup> d2: array<f32, MAXCOEF>;
var<workgroup> cholG: array<f32, MAXCOEF>;
var<workgroup> cholH: array<f32, MAXCOEF>;
var<workgroup> cv: array<f32, MAXCOEF>;
var<workgroup> cholL: array<f32, MAXCOEF * MAXCOEF>;
var<workgroup> cq: array<f32, MAXNC>;
var<workgroup> red: array<f32, WG>;
var<workgroup> redLo: array<f32, WG>;
var<workgroup> wFlag: u32;
var<workgroup> wBad: atomic<u32>;
// Largest biased float64 exponent of the row's μ (for the dead-channel check of the edge step).
var<workgroup> wMaxExp: atomic<u32>;

//! include "df64.wgsl"
//! include "cholesky.wgsl"

// μ[j] − μ[iek0] of spectrum s in df64 (j on the energy grid): the constant μ[iek0] lies in
// the spline space and in the kernel of the edge-step functional, so nothing large cancels.
fn muRel(s: u32, j: u32) -> vec2<f32> {
  let row = 2u * params.ne * s;
  let a = decodeF64(mu[row + 2u * j], mu[row + 2u * j + 1u]);
  let b = decodeF64(mu[row + 2u * params.iek0], mu[row + 2u * params.iek0 + 1u]);
  let d = twoSum(a.x, -b.x);
  return fastTwoSum(d.x, d.y + (a.y - b.y));
}

// μ[iek0 + i] − μ[iek0] of spectrum s in df64.
fn muPrime(s: u32, i: u32) -> vec2<f32> {
  return muRel(s, params.iek0 + i);
}

// Σ over the workgroup in a fixed order (results independent of chunking).
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

// The df64 Σ over the workgroup, in a fixed order.
fn wgSumDf64(v: vec2<f32>, lid: u32) -> vec2<f32> {
  red[lid] = v.x;
  redLo[lid] = v.y;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (lid < w) {
      let t = twoSum(red[lid], red[lid + w]);
      let u = fastTwoSum(t.x, t.y + (redLo[lid] + redLo[lid + w]));
      red[lid] = u.x;
      redLo[lid] = u.y;
    }
    workgroupBarrier();
  }
  let total = vec2<f32>(red[0], redLo[0]);
  workgroupBarrier();
  return total;
}

fn spectrumIndex(wid: vec3<u32>) -> u32 {
  return wid.x + wid.y * params.gridX;
}

// Biased float64 exponent of a high word.
fn exponent64(hi: u32) -> u32 {
  return (hi >> 20u) & 0x7ffu;
}

// |v| of a df64, floored at pre_edge's 1e-12; v.x = 0 flags a value unusable as a step.
fn edgeStepOf(v: vec2<f32>) -> vec2<f32> {
  var a = v;
  if ((bitcast<u32>(v.x) & 0x80000000u) != 0u) {
    a = -v;
  }
  if (a.x < MIN_EDGE_STEP) {
    return vec2<f32>(MIN_EDGE_STEP, 0.0);
  }
  return a;
}

@compute @workgroup_size(WG)
fn series_setup(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = spectrumIndex(wid);
  if (s >= params.nSpectra) {
    return;
  }
  if (lid == 0u) {
    atomicStore(&wBad, 0u);
    atomicStore(&wMaxExp, 0u);
  }
  workgroupBarrier();
  // Every sample finite and below 2^100, read from the exponent bits: the float64 cleaning of
  // the CPU path (which drops non-finite rows and re-grids) is the host's, for such spectra.
  let row = 2u * params.ne * s;
  var bad = false;
  var maxExp = 0u;
  for (var j = lid; j < params.ne; j += WG) {
    let e = exponent64(mu[row + 2u * j + 1u]);
    bad = bad || e >= MU_EXPONENT_LIMIT;
    maxExp = max(maxExp, e);
  }
  atomicMax(&wMaxExp, maxExp);

  var step: vec2<f32>;
  var stepWords: vec2<u32>;
  if (params.stepMode == 0u) {
    // Given: finite, non-zero and within f32's comfortable range (else the host's float64 path
    // gives autobk's own message or result); |step| keeps the given float64 exactly.
    let hi = steps[2u * s + 1u];
    let e = exponent64(hi);
    bad = bad || e >= MU_EXPONENT_LIMIT || e <= 2046u - MU_EXPONENT_LIMIT;
    step = edgeStepOf(decodeF64(steps[2u * s], hi));
    stepWords = vec2<u32>(steps[2u * s], hi & 0x7fffffffu);
  } else {
    // pre_edge's step as Σ w_j·μ'_j over the samples its two fits read.
    var acc = vec2<f32>(0.0, 0.0);
    let eLen = params.eLen;
    for (var j = lid; j < eLen; j += WG) {
      let v = muRel(s, params.eStart + j);
      let h = split(v.x);
      let e = params.eOff + j;
      acc = mac(acc, mats[e], mats[e + eLen], mats[e + 2u * eLen], h.x, h.y, v.y);
    }
    let sum = wgSumDf64(finishSum(acc), lid);
    bad = bad || !isFiniteBits(sum.x) || !isFiniteBits(sum.y);
    step = edgeStepOf(sum);
    stepWords = encodeDf64(step);
  }
  // Written as a negated ≤ so that a NaN step (already flagged above) stays flagged.
  bad = bad || !(abs(step.x) <= MAX_GPU_EDGE_STEP);
  // A dead channel: an edge step at pre_edge's floor, or below 2⁻³⁰ of the largest |μ| (the
  // host's rule is 1e-10·max|μ|, about 2⁻³³; the rows in between go to the host, which decides).
  workgroupBarrier();
  let muExp = i32(atomicLoad(&wMaxExp)) - 1023;
  let floorStep = exp2(f32(clamp(muExp - 30, -126, 127)));
  bad = bad || !(abs(step.x) > max(MIN_EDGE_STEP, floorStep));
  if (bad) {
    atomicOr(&wBad, 1u);
  }
  workgroupBarrier();
  if (lid == 0u) {
    wFlag = atomicLoad(&wBad);
    data[params.dataStride * s + 2u * params.rd] = 1.0 / step.x;
    out[params.oStep + 2u * s] = stepWords.x;
    out[params.oStep + 2u * s + 1u] = stepWords.y;
    out[params.oStatus + s] = select(STATUS_CONVERGED, STATUS_REDO, wFlag != 0u);
    // The LM's start: λ0, δ = 0; a spectrum left to the host never becomes active.
    state[s] = vec4<u32>(bitcast<u32>(params.lambda0), 0u, 0u, select(LM_ACTIVE, LM_CONVERGED, wFlag != 0u));
  }
  for (var j = lid; j < params.nspl; j += WG) {
    delta[s * params.vecStride + j] = 0.0;
  }
  if (workgroupUniformLoad(&wFlag) != 0u) {
    return;
  }

  let nIn = params.nIn;
  for (var i = lid; i < nIn; i += WG) {
    let v = muPrime(s, i);
    let h = split(v.x);
    x1[i] = h.x;
    x2[i] = h.y;
    xlo[i] = v.y;
  }
  workgroupBarrier();
  let rd = params.rd;
  let plane = rd * nIn;
  let o = params.dOff;
  let d0 = params.dataStride * s;
  for (var r = lid; r < rd; r += WG) {
    var acc = vec2<f32>(0.0, 0.0);
    for (var i = 0u; i < nIn; i++) {
      let e = o + i * rd + r;
      acc = mac(acc, mats[e], mats[e + plane], mats[e + 2u * plane], x1[i], x2[i], xlo[i]);
    }
    let v = finishSum(acc);
    data[d0 + r] = v.x;
    data[d0 + rd + r] = v.y;
    if (r < params.rows) {
      spec[s * params.binStride + r] = v.x;
    } else {
      lmc[params.chiEnd + s * params.nc + r - params.rows] = v.x;
    }
  }
}

// Residuals at δ (in dv): r = r0 + A·δ into r1/r2/rlo and χ_q = χ0_q − G_q·δ into cq (df64,
// kept as f32 for the clamp terms); returns (χ², Σ r_fft²) to every invocation.
fn evaluate(s: u32, lid: u32) -> vec2<f32> {
  let rows = params.rows;
  let n = params.nspl;
  let rd = params.rd;
  let aPlane = rows * n;
  for (var i = lid; i < rows; i += WG) {
    var acc = vec2<f32>(data[params.dataStride * s + i], data[params.dataStride * s + rd + i]);
    for (var j = 0u; j < n; j++) {
      let e = params.aOff + j * rows + i;
      acc = mac(acc, mats[e], mats[e + aPlane], mats[e + 2u * aPlane], d1[j], d2[j], 0.0);
    }
    let v = finishSum(acc);
    let h = split(v.x);
    r1[i] = h.x;
    r2[i] = h.y;
    rlo[i] = v.y;
  }
  let nc = params.nc;
  let gPlane = nc * n;
  for (var q = lid; q < nc; q += WG) {
    var acc = vec2<f32>(data[params.dataStride * s + rows + q], data[params.dataStride * s + rd + rows + q]);
    for (var j = 0u; j < n; j++) {
      let e = params.gOff + q * n + j;
      acc = mac(acc, -mats[e], -mats[e + gPlane], -mats[e + 2u * gPlane], d1[j], d2[j], 0.0);
    }
    let v = finishSum(acc);
    cq[q] = v.x + v.y;
  }
  workgroupBarrier();
  var ss = 0.0;
  for (var i = lid; i < rows; i += WG) {
    let h = r1[i] + r2[i];
    ss += h * h + 2.0 * h * rlo[i];
  }
  let total = wgSum(ss, lid);
  var clamp = 0.0;
  for (var q = 0u; q < nc; q++) {
    let v = mats[params.wOff + q] * cq[q];
    clamp += v * v;
  }
  let sc = 0.1 + 10.0 * total / f32(rows);
  return vec2<f32>(total + sc * sc * clamp, total);
}

fn setDelta(v: f32, j: u32) {
  dv[j] = v;
  let h = split(v);
  d1[j] = h.x;
  d2[j] = h.y;
}

@compute @workgroup_size(WG)
fn series_finish(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = spectrumIndex(wid);
  if (s >= params.nSpectra) {
    return;
  }
  if (lid == 0u) {
    wFlag = out[params.oStatus + s];
  }
  // Spectra the setup left to the host have nothing to finish.
  if (workgroupUniformLoad(&wFlag) == STATUS_REDO) {
    return;
  }
  let n = params.nspl;
  let rows = params.rows;
  let nc = params.nc;
  for (var j = lid; j < n; j += WG) {
    setDelta(delta[s * params.vecStride + j], j);
  }
  workgroupBarrier();
  let at = evaluate(s, lid);
  let chisq = at.x;

  // Gradient Jᵀr of Larch's residual (the exact Jacobian, as autobkChisqr's): (1 + ds)·Aᵀr_fft
  // − sc²·Σ_q w_q²·χ_q·G_q, with Aᵀr_fft in df64 (it is where the f32 loop loses accuracy).
  var clampDot = 0.0;
  for (var q = 0u; q < nc; q++) {
    let w = mats[params.wOff + q];
    clampDot += w * w * cq[q] * cq[q];
  }
  let aPlane = rows * n;
  let gPlane = nc * n;
  for (var j = lid; j < n; j += WG) {
    var acc = vec2<f32>(0.0, 0.0);
    for (var i = 0u; i < rows; i++) {
      let e = params.aOff + j * rows + i;
      acc = mac(acc, mats[e], mats[e + aPlane], mats[e + 2u * aPlane], r1[i], r2[i], rlo[i]);
    }
    cholG[j] = acc.x + acc.y;
  }
  let sc = 0.1 + 10.0 * at.y / f32(rows);
  let ds = (20.0 / f32(rows)) * sc * clampDot;
  for (var j = lid; j < n; j += WG) {
    var cl = 0.0;
    for (var q = 0u; q < nc; q++) {
      let w = mats[params.wOff + q];
      let e = params.gOff + q * n + j;
      cl += w * w * cq[q] * (mats[e] + mats[e + gPlane]);
    }
    cholG[j] = (1.0 + ds) * cholG[j] - sc * sc * cl;
  }
  workgroupBarrier();

  // One invocation: Cholesky of the LM's JᵀJ (f32; its rounding only scales the small step)
  // and h = −(JᵀJ)⁻¹·g.
  if (lid == 0u) {
    let m0 = s * params.matStride;
    for (var j = 0u; j < n; j++) {
      for (var k = 0u; k <= j; k++) {
        cholL[j * n + k] = normal[m0 + j * n + k];
      }
    }
    wFlag = select(0u, 1u, choleskyStep(n));
  }
  var chisqFinal = chisq;
  if (workgroupUniformLoad(&wFlag) == 1u) {
    // cholG is free again: it keeps δ, to go back to if the trial is rejected.
    for (var j = lid; j < n; j += WG) {
      cholG[j] = dv[j];
      setDelta(dv[j] + cholH[j], j);
    }
    workgroupBarrier();
    let chisqTrial = evaluate(s, lid).x;
    // Near the minimum the step lowers χ² by far less than the f32 rounding of the sums, so
    // the comparison only rejects a step that makes χ² clearly worse.
    if (chisqTrial <= chisq * (1.0 + CHISQ_NOISE)) {
      chisqFinal = chisqTrial;
    } else {
      for (var j = lid; j < n; j += WG) {
        setDelta(cholG[j], j);
      }
    }
  }
  workgroupBarrier();

  // μ' in f32 for the f32 maps.
  let nIn = params.nIn;
  for (var i = lid; i < nIn; i += WG) {
    let v = muPrime(s, i);
    xlo[i] = v.x + v.y;
  }
  workgroupBarrier();
  let rf = params.rf;
  let nk = params.nk;
  // c = μ[iek0] + c0' + δ in df64 (μ[iek0] can be large, c0' + δ is the fitted part), then as
  // float64 bits: the host's coefficient planes receive them as they are.
  let row = 2u * params.ne * s;
  let mu0 = decodeF64(mu[row + 2u * params.iek0], mu[row + 2u * params.iek0 + 1u]);
  for (var r = nk + lid; r < rf; r += WG) {
    var acc = 0.0;
    for (var i = 0u; i < nIn; i++) {
      acc += mats[params.fOff + i * rf + r] * xlo[i];
    }
    let j = r - nk;
    cv[j] = acc + dv[j];
    let c = twoSum(mu0.x, cv[j]);
    let c0 = twoSum(mu0.x, acc);
    let wc = encodeDf64(fastTwoSum(c.x, c.y + mu0.y));
    let wi = encodeDf64(fastTwoSum(c0.x, c0.y + mu0.y));
    out[params.oCoef + 2u * (s * n + j)] = wc.x;
    out[params.oCoef + 2u * (s * n + j) + 1u] = wc.y;
    out[params.oInit + 2u * (s * n + j)] = wi.x;
    out[params.oInit + 2u * (s * n + j) + 1u] = wi.y;
  }
  workgroupBarrier();
  let invEdge = data[params.dataStride * s + 2u * params.rd];
  for (var r = lid; r < nk; r += WG) {
    var acc = 0.0;
    for (var i = 0u; i < nIn; i++) {
      acc += mats[params.fOff + i * rf + r] * xlo[i];
    }
    let b = params.bkOff + 5u * r;
    let f = u32(mats[b]);
    let bd = mats[b + 1u] * dv[f] + mats[b + 2u] * dv[f + 1u] + mats[b + 3u] * dv[f + 2u] + mats[b + 4u] * dv[f + 3u];
    let w = encodeF32((acc - bd) * invEdge);
    out[params.oChi + 2u * (s * nk + r)] = w.x;
    out[params.oChi + 2u * (s * nk + r) + 1u] = w.y;
  }
  if (lid == 0u) {
    let st = state[s];
    let wq = encodeF32(chisqFinal);
    // dof ≤ 0 (more knots than residuals) leaves redchi undefined, as the CPU path's NaN.
    let wr = select(vec2<u32>(0u, 0x7ff80000u), encodeF32(chisqFinal / params.dof), params.dof > 0.0);
    out[params.oChisq + 2u * s] = wq.x;
    out[params.oChisq + 2u * s + 1u] = wq.y;
    out[params.oRedchi + 2u * s] = wr.x;
    out[params.oRedchi + 2u * s + 1u] = wr.y;
    out[params.oIter + s] = st.z;
    out[params.oStatus + s] = select(STATUS_CONVERGED, STATUS_MAX_ITERATIONS, st.w == LM_MAX_ITER);
  }
}
