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
//   series_setup   decode μ (raw float64 words) to df64, r0 and χ0_q = df64 mat-vecs; writes
//                  the f32 r0 into the LM's FFT output column and χ0_q into its consts, both
//                  in df64 into `data`
//   series_finish  after the LM loop: one df64 Gauss–Newton step from δ (kept when it lowers
//                  χ²), then χ² (df64 residuals), χ = (χ0 − B·δ)/edgeStep on the k grid,
//                  d = μ − bkg on the fitted points, c' = c0' + δ and c0' into `out`
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
//               Be at beOff: the same for the nFit fitted energy points
//               w  at wOff: the nc clamp weights
//   2 mu      storage read, array<u32>: spectrum s's float64 μ row (ne values, little-endian
//             word pairs) at 2·ne·s
//   3 inv     storage read, array<f32>: 1/edgeStep of spectrum s
//   4 data    storage read_write, array<f32>: df64 [r0; χ0_q] of spectrum s at 2·rd·s
//             (rd hi values, then rd lo values)
//   5 spec    storage read_write, array<f32>: the LM's FFT output; r0 (f32) into column s
//             at s·binStride (autobk_lm.wgsl reads it as the data column)
//   6 lmc     storage read_write, array<f32>: the LM's consts; χ0_q (f32) at chiEnd + s·nc
//   7 delta   storage read, array<f32>: δ of spectrum s at s·vecStride (LM result)
//   8 normal  storage read, array<f32>: JᵀJ of spectrum s at s·matStride (row-major nspl²)
//   9 state   storage read, array<vec4<u32>>: LM state (λ, χ², iterations, status)
//  10 out     storage read_write, array<f32>, planes of capacity spectra:
//               χ    [capacity][nk]    at 0
//               d    [capacity][nFit]  at capacity·nk                (μ − bkg from iek0)
//               c'   [capacity][nspl]  at capacity·(nk + nFit)       (coefficients − μ[iek0])
//               c0'  [capacity][nspl]  at capacity·(nk + nFit + nspl)
//               misc [capacity][4]     at capacity·(nk + nFit + 2·nspl): χ², iterations,
//                                      LM status, 1 if the polish step was kept
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
  nFit: u32,
  rd: u32,
  rf: u32,
  binStride: u32,
  chiEnd: u32,
  vecStride: u32,
  matStride: u32,
  dOff: u32,
  fOff: u32,
  aOff: u32,
  gOff: u32,
  bkOff: u32,
  beOff: u32,
  wOff: u32,
  capacity: u32,
  one: f32,
  one2: f32,
}

override WG: u32 = 64u;
override MAXIN: u32;
override MAXROWS: u32;
override MAXCOEF: u32;
override MAXNC: u32;

// Relative rounding noise of χ² summed in f32 from df64 residuals (a few hundred rows).
const CHISQ_NOISE: f32 = 1e-6;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> mats: array<f32>;
@group(0) @binding(2) var<storage, read> mu: array<u32>;
@group(0) @binding(3) var<storage, read> inv: array<f32>;
@group(0) @binding(4) var<storage, read_write> data: array<f32>;
@group(0) @binding(5) var<storage, read_write> spec: array<f32>;
@group(0) @binding(6) var<storage, read_write> lmc: array<f32>;
@group(0) @binding(7) var<storage, read> delta: array<f32>;
@group(0) @binding(8) var<storage, read> normal: array<f32>;
@group(0) @binding(9) var<storage, read> state: array<vec4<u32>>;
@group(0) @binding(10) var<storage, read_write> out: array<f32>;

// μ' per sample: Dekker halves of its hi part and its lo part (setup); the f32 value (finish).
var<workgroup> x1: array<f32, MAXIN>;
var<workgroup> x2: array<f32, MAXIN>;
var<workgroup> xlo: array<f32, MAXIN>;
// Residual rows r (halves of hi, lo), δ and its halves, trial step, coefficients, clamp χ.
var<workgroup> r1: array<f32, MAXROWS>;
var<workgroup> r2: array<f32, MAXROWS>;
var<workgroup> rlo: array<f32, MAXROWS>;
var<workgroup> dv: array<f32, MAXCOEF>;
var<workgroup> d1: array<f32, MAXCOEF>;
var<workgroup> d2: array<f32, MAXCOEF>;
var<workgroup> gv: array<f32, MAXCOEF>;
var<workgroup> hv: array<f32, MAXCOEF>;
var<workgroup> cv: array<f32, MAXCOEF>;
var<workgroup> chol: array<f32, MAXCOEF * MAXCOEF>;
var<workgroup> cq: array<f32, MAXNC>;
var<workgroup> red: array<f32, WG>;
var<workgroup> wFlag: u32;

//! include "df64.wgsl"

// μ[iek0 + i] − μ[iek0] of spectrum s in df64.
fn muPrime(s: u32, i: u32) -> vec2<f32> {
  let base = 2u * (params.ne * s + params.iek0);
  let a = decodeF64(mu[base + 2u * i], mu[base + 2u * i + 1u]);
  let b = decodeF64(mu[base], mu[base + 1u]);
  let d = twoSum(a.x, -b.x);
  return fastTwoSum(d.x, d.y + (a.y - b.y));
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

fn spectrumIndex(wid: vec3<u32>) -> u32 {
  return wid.x + wid.y * params.gridX;
}

@compute @workgroup_size(WG)
fn series_setup(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = spectrumIndex(wid);
  if (s >= params.nSpectra) {
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
  for (var r = lid; r < rd; r += WG) {
    var acc = vec2<f32>(0.0, 0.0);
    for (var i = 0u; i < nIn; i++) {
      let e = o + i * rd + r;
      acc = mac(acc, mats[e], mats[e + plane], mats[e + 2u * plane], x1[i], x2[i], xlo[i]);
    }
    let v = finishSum(acc);
    data[2u * rd * s + r] = v.x;
    data[2u * rd * s + rd + r] = v.y;
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
    var acc = vec2<f32>(data[2u * rd * s + i], data[2u * rd * s + rd + i]);
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
    var acc = vec2<f32>(data[2u * rd * s + rows + q], data[2u * rd * s + rd + rows + q]);
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
    gv[j] = acc.x + acc.y;
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
    gv[j] = (1.0 + ds) * gv[j] - sc * sc * cl;
  }
  workgroupBarrier();

  // One invocation: Cholesky of the LM's JᵀJ (f32; its rounding only scales the small step)
  // and h = −(JᵀJ)⁻¹·g.
  if (lid == 0u) {
    let m0 = s * params.matStride;
    var ok = 1u;
    for (var j = 0u; j < n && ok == 1u; j++) {
      for (var k = 0u; k <= j; k++) {
        var sum = normal[m0 + j * n + k];
        for (var p = 0u; p < k; p++) {
          sum -= chol[j * n + p] * chol[k * n + p];
        }
        if (k == j) {
          if (!(sum > 0.0)) {
            ok = 0u;
            break;
          }
          chol[j * n + j] = sqrt(sum);
        } else {
          chol[j * n + k] = sum / chol[k * n + k];
        }
      }
    }
    if (ok == 1u) {
      for (var j = 0u; j < n; j++) {
        var sum = -gv[j];
        for (var p = 0u; p < j; p++) {
          sum -= chol[j * n + p] * hv[p];
        }
        hv[j] = sum / chol[j * n + j];
      }
      for (var jj = 0u; jj < n; jj++) {
        let j = n - 1u - jj;
        var sum = hv[j];
        for (var p = j + 1u; p < n; p++) {
          sum -= chol[p * n + j] * hv[p];
        }
        hv[j] = sum / chol[j * n + j];
      }
    }
    wFlag = ok;
  }
  var kept = 0u;
  var chisqFinal = chisq;
  if (workgroupUniformLoad(&wFlag) == 1u) {
    for (var j = lid; j < n; j += WG) {
      gv[j] = dv[j];
      setDelta(dv[j] + hv[j], j);
    }
    workgroupBarrier();
    let chisqTrial = evaluate(s, lid).x;
    // Near the minimum the step lowers χ² by far less than the f32 rounding of the sums, so
    // the comparison only rejects a step that makes χ² clearly worse.
    if (chisqTrial <= chisq * (1.0 + CHISQ_NOISE)) {
      kept = 1u;
      chisqFinal = chisqTrial;
    } else {
      for (var j = lid; j < n; j += WG) {
        setDelta(gv[j], j);
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
  let cap = params.capacity;
  let oD = cap * nk;
  let oC = oD + cap * params.nFit;
  let oI = oC + cap * n;
  let oM = oI + cap * n;
  for (var r = nk + lid; r < rf; r += WG) {
    var acc = 0.0;
    for (var i = 0u; i < nIn; i++) {
      acc += mats[params.fOff + i * rf + r] * xlo[i];
    }
    let j = r - nk;
    cv[j] = acc + dv[j];
    out[oI + s * n + j] = acc;
    out[oC + s * n + j] = cv[j];
  }
  workgroupBarrier();
  let invEdge = inv[s];
  for (var r = lid; r < nk; r += WG) {
    var acc = 0.0;
    for (var i = 0u; i < nIn; i++) {
      acc += mats[params.fOff + i * rf + r] * xlo[i];
    }
    let b = params.bkOff + 5u * r;
    let f = u32(mats[b]);
    let bd = mats[b + 1u] * dv[f] + mats[b + 2u] * dv[f + 1u] + mats[b + 3u] * dv[f + 2u] + mats[b + 4u] * dv[f + 3u];
    out[s * nk + r] = (acc - bd) * invEdge;
  }
  for (var i = lid; i < params.nFit; i += WG) {
    let b = params.beOff + 5u * i;
    let f = u32(mats[b]);
    let bc = mats[b + 1u] * cv[f] + mats[b + 2u] * cv[f + 1u] + mats[b + 3u] * cv[f + 2u] + mats[b + 4u] * cv[f + 3u];
    out[oD + s * params.nFit + i] = xlo[i] - bc;
  }
  if (lid == 0u) {
    let st = state[s];
    out[oM + 4u * s] = chisqFinal;
    out[oM + 4u * s + 1u] = f32(st.z);
    out[oM + 4u * s + 2u] = f32(st.w);
    out[oM + 4u * s + 3u] = f32(kept);
  }
}
