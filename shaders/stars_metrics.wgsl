// Pixel metrics of measured stars, one workgroup per star, at the final centre pixel (the fit's
// position when it converged inside the stamp, else the windowed centroid): peak and
// peak/core of the 3×3, −Laplacian, and DAOFIND sharpness, roundness1 (quadrants of the
// convolved cut-out) and roundness2 (kernel marginals fitted to the data's), as computeMetrics
// and daofindMetrics of src/stars/measure.ts. SNR is left to the host (it needs only numbers
// the host already has).
//
// Override constants: R (stamp radius), KR (DAOFIND kernel radius; KS = 2KR+1, cut-out side
// CS = 4KR+1), TAPS (non-zero kernel taps), WG (invocations per workgroup).
//
// Bindings (group 0):
//   0 params  uniform Params (stars_common.wgsl), the buffer range stars_extract binds
//   1 tile    storage read, array<f32>: the frame tile (layout in stars_extract.wgsl)
//   2 info    storage read_write, array<f32>: per-star words (stars_extract.wgsl); reads the
//             centre, sky and stage, writes INFO_PEAK…INFO_ROUND2
//   3 lm      storage read, array<f32>: LM state (stars_fit.wgsl): status and x0, y0
//   4 dao     storage read, array<f32>: the kernel, from the CPU workspace of the frame:
//             [0, TAPS) tap offsets into the cut-out (integers), [TAPS, 2·TAPS) tap weights,
//             then the KS² mask (0/1), the KS marginal of the kernel, and wSum, kSum, den
//
// Dispatch: workgroup grid (gridX, gridY), star = id.x + id.y·gridX < count.
//
// Params, the INFO_* and LM_* offsets, isFiniteBits and nanValue come from stars_common.wgsl,
// spliced in at the include line.

//! include "stars_common.wgsl"

override R: i32;
override KR: i32;
override TAPS: u32;
override WG: u32 = 64u;
override KS: i32 = 2 * KR + 1;
override CS: i32 = 4 * KR + 1;
override CUTN: u32 = u32(CS * CS);
override KSN: u32 = u32(KS * KS);

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> tile: array<f32>;
@group(0) @binding(2) var<storage, read_write> info: array<f32>;
@group(0) @binding(3) var<storage, read> lm: array<f32>;
@group(0) @binding(4) var<storage, read> dao: array<f32>;

var<workgroup> cut: array<f32, CUTN>;
var<workgroup> cutOk: array<u32, CUTN>;
var<workgroup> conv: array<f32, KSN>;
var<workgroup> centre: vec4<i32>;

// Amplitude of the kernel's marginal fitted (with a constant) to the data's, along x with
// (step, across) = (1, CS), along y with (CS, 1); NaN when not positive.
fn marginalAmplitude(stride: i32, across: i32) -> f32 {
  let mBase = 2u * TAPS + KSN;
  let origin = KR * CS + KR;
  var dSum = 0.0;
  var dkSum = 0.0;
  for (var u = 0; u < KS; u++) {
    let wu = f32(KR + 1 - abs(u - KR));
    var dm = 0.0;
    for (var t = 0; t < KS; t++) {
      dm += f32(KR + 1 - abs(t - KR)) * cut[origin + u * stride + t * across];
    }
    dSum += wu * dm;
    dkSum += wu * dm * dao[mBase + u32(u)];
  }
  let wSum = dao[mBase + u32(KS)];
  let kSum = dao[mBase + u32(KS) + 1u];
  let den = dao[mBase + u32(KS) + 2u];
  let num = dkSum - dSum * kSum / wSum;
  if (num > 0.0 && den > 0.0) {
    return num / den;
  }
  return -1.0;
}

@compute @workgroup_size(WG)
fn metrics(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let star = wid.x + wid.y * params.gridX;
  if (star >= params.count) {
    return;
  }
  let ib = star * INFO;
  if (lid == 0u) {
    var cx = info[ib + INFO_CX];
    var cy = info[ib + INFO_CY];
    let lb = star * LM;
    let px0 = lm[lb];
    let py0 = lm[lb + 1u];
    if (params.fitting != 0u && lm[lb + LM_STATUS] == 0.0 && abs(px0) <= f32(R) && abs(py0) <= f32(R)) {
      cx = px0;
      cy = py0;
    }
    let px = bitcast<i32>(info[ib + INFO_IX]) + i32(floor(cx + 0.5));
    let py = bitcast<i32>(info[ib + INFO_IY]) + i32(floor(cy + 0.5));
    centre = vec4<i32>(px, py, i32(bitcast<u32>(info[ib + INFO_STAGE])), 0);
  }
  let c = workgroupUniformLoad(&centre);
  if (c.z != 0) {
    return;
  }
  let sky = info[ib + INFO_SKY];
  // The cut-out: pixels − sky within 2·KR of the centre, 0 (and not ok) off the image or NaN.
  for (var q = lid; q < CUTN; q += WG) {
    let x = c.x - 2 * KR + i32(q) % CS;
    let y = c.y - 2 * KR + i32(q) / CS;
    cut[q] = 0.0;
    cutOk[q] = 0u;
    if (x >= 0 && y >= 0 && x < i32(params.width) && y < i32(params.height)) {
      let row = clamp(y - params.rowStart, 0, i32(params.tileRows) - 1);
      let v = tile[u32(row) * params.width + u32(x)];
      if (isFiniteBits(v)) {
        cut[q] = v - sky;
        cutOk[q] = 1u;
      }
    }
  }
  workgroupBarrier();
  for (var o = lid; o < KSN; o += WG) {
    let base = (i32(o) / KS) * CS + i32(o) % KS;
    var s = 0.0;
    for (var t = 0u; t < TAPS; t++) {
      s += dao[TAPS + t] * cut[base + i32(dao[t])];
    }
    conv[o] = s;
  }
  workgroupBarrier();
  if (lid != 0u) {
    return;
  }
  let nan = nanValue();
  let cc = 2 * KR * CS + 2 * KR;
  var peak = -3.0e38;
  var core = 0.0;
  var seen = false;
  for (var dy = -1; dy <= 1; dy++) {
    for (var dx = -1; dx <= 1; dx++) {
      let k = cc + dy * CS + dx;
      if (cutOk[k] == 0u) {
        continue;
      }
      core += cut[k];
      peak = max(peak, cut[k]);
      seen = true;
    }
  }
  info[ib + INFO_PEAK] = select(nan, peak, seen);
  info[ib + INFO_PEAKCORE] = select(nan, clamp(peak / core, 0.0, 1.0), seen && core > 0.0);
  let sig = info[ib + INFO_SIGMA];
  let lapOk = cutOk[cc] != 0u && cutOk[cc - 1] != 0u && cutOk[cc + 1] != 0u && cutOk[cc - CS] != 0u && cutOk[cc + CS] != 0u;
  let lap = cut[cc - 1] + cut[cc + 1] + cut[cc - CS] + cut[cc + CS] - 4.0 * cut[cc];
  info[ib + INFO_LAPLACIAN] = select(nan, max(-lap, 0.0) / sig, lapOk && sig > 0.0);

  let convPeak = conv[KR * KS + KR];
  var sumMask = 0.0;
  var nMask = 0.0;
  for (var j = 0; j < KS; j++) {
    for (var i = 0; i < KS; i++) {
      let k = (j + KR) * CS + i + KR;
      if (dao[2u * TAPS + u32(j * KS + i)] == 0.0 || cutOk[k] == 0u) {
        continue;
      }
      sumMask += cut[k];
      nMask += 1.0;
    }
  }
  let d0 = cut[cc];
  info[ib + INFO_SHARP] = select(nan, (d0 - (sumMask - d0) / (nMask - 1.0)) / convPeak, convPeak > 0.0 && nMask > 1.0 && cutOk[cc] != 0u);

  var sum2 = 0.0;
  var sum4 = 0.0;
  for (var j = 0; j < KS; j++) {
    for (var i = 0; i < KS; i++) {
      if (i == KR && j == KR) {
        continue;
      }
      let v = conv[j * KS + i];
      sum4 += abs(v);
      // Quadrants as photutils cuts them (the centre excluded).
      if (j <= KR && i > KR) {
        sum2 -= v;
      }
      if (j < KR && i <= KR) {
        sum2 += v;
      }
      if (j >= KR && i < KR) {
        sum2 -= v;
      }
      if (j > KR && i >= KR) {
        sum2 += v;
      }
    }
  }
  info[ib + INFO_ROUND1] = select(nan, 2.0 * sum2 / sum4, sum4 > 0.0);
  let hx = marginalAmplitude(1, CS);
  let hy = marginalAmplitude(CS, 1);
  info[ib + INFO_ROUND2] = select(nan, 2.0 * (hx - hy) / (hx + hy), hx > 0.0 && hy > 0.0);
  info[ib + INFO_PX] = bitcast<f32>(c.x);
  info[ib + INFO_PY] = bitcast<f32>(c.y);
}
