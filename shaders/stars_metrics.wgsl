// The end of every star's measurement, one workgroup per star, run in each submission of the
// fit loop for the stars whose fit has finished since (INFO_DONE marks those already written):
// pixel metrics at the final centre pixel (the fit's position when it converged inside the
// stamp, else the windowed centroid) — peak and peak/core of the 3×3, −Laplacian, DAOFIND
// sharpness, roundness1 (quadrants of the convolved cut-out) and roundness2 (kernel marginals
// fitted to the data's), as computeMetrics and daofindMetrics of src/stars/measure.ts — then
// the star's catalogue row: shape from the fit or the moments (fittedShape, momentShape),
// flux, errors, SNR, status, as measureOne does on the CPU. The host reads the catalogue as it
// is, in input order.
//
// Override constants: R (stamp radius), KR (DAOFIND kernel radius; KS = 2KR+1, cut-out side
// CS = 4KR+1), TAPS (non-zero kernel taps), WG (invocations per workgroup).
//
// Bindings (group 0):
//   0 params    uniform Params (stars_common.wgsl), the buffer range stars_extract binds
//   1 tile      storage read, array<f32>: the frame band (layout in stars_extract.wgsl)
//   2 info      storage read_write, array<f32>: per-slot words (stars_extract.wgsl); reads the
//               centre, sky, shape and stage, writes INFO_PEAK…INFO_ROUND2 and INFO_DONE
//   3 lm        storage read, array<f32>: LM state (stars_fit.wgsl)
//   4 dao       storage read, array<f32>: the kernel, from the CPU workspace of the frame:
//               [0, TAPS) tap offsets into the cut-out (integers), [TAPS, 2·TAPS) tap weights,
//               then the KS² mask (0/1), the KS marginal of the kernel, and wSum, kSum, den
//   5 order     storage read, array<u32>: the input index of each slot (from firstSlot)
//   6 catalogue storage read_write, array<f32>: CAT_* planes of catStride words, the star of
//               input index i at [plane·catStride + i] (integer planes as u32/i32 bits)
//
// Dispatch: workgroup grid (gridX, gridY), slot = id.x + id.y·gridX < count.
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
@group(0) @binding(5) var<storage, read> order: array<u32>;
@group(0) @binding(6) var<storage, read_write> catalogue: array<f32>;

// Catalogue planes: STAR_FLOAT_FIELDS of src/stars/catalogue.ts, then the centre offsets and
// start pixel (x = ix + cx on the host, in float64) and STAR_INT_FIELDS.
const CAT_XERR = 0u;
const CAT_YERR = 1u;
const CAT_FLUX = 2u;
const CAT_FWHM = 3u;
const CAT_ECC = 4u;
const CAT_ELLIPTICITY = 5u;
const CAT_SIGMA_MAJOR = 6u;
const CAT_SIGMA_MINOR = 7u;
const CAT_THETA = 8u;
const CAT_BETA = 9u;
const CAT_BACKGROUND = 10u;
const CAT_NOISE = 11u;
const CAT_SNR = 12u;
const CAT_PEAK = 13u;
const CAT_SHARPNESS = 14u;
const CAT_ROUND1 = 15u;
const CAT_ROUND2 = 16u;
const CAT_PEAKCORE = 17u;
const CAT_MROUND = 18u;
const CAT_MASYM = 19u;
const CAT_LAPLACIAN = 20u;
const CAT_CHI2R = 21u;
const CAT_CX = 22u;
const CAT_CY = 23u;
const CAT_IX = 24u;
const CAT_IY = 25u;
const CAT_ITERATIONS = 26u;
const CAT_METHOD = 27u;
const CAT_FIT_REASON = 28u;
const CAT_STATUS = 29u;
const CAT_FLAGS = 30u;
const CAT_PLANES = 31u;
// STAR_STATUS codes and NO_FIT_REASON of src/stars/catalogue.ts.
const STATUS_OK = 0u;
const STATUS_FALLBACK = 1u;
const STATUS_FAILED = 2u;
const NO_FIT_REASON = 6u;

var<workgroup> cut: array<f32, CUTN>;
var<workgroup> cutOk: array<u32, CUTN>;
var<workgroup> conv: array<f32, KSN>;
var<workgroup> centre: vec4<i32>;

fn putF(plane: u32, i: u32, v: f32) {
  catalogue[plane * params.catStride + i] = v;
}

fn putU(plane: u32, i: u32, v: u32) {
  catalogue[plane * params.catStride + i] = bitcast<f32>(v);
}

// Whether the converged fit is believed (measureOne): its centre inside the stamp and the image;
// else position and shape come from the moments.
fn fitAccepted(ib: u32, lb: u32) -> bool {
  let p0 = lm[lb];
  let p1 = lm[lb + 1u];
  let fx = f32(bitcast<i32>(info[ib + INFO_IX])) + p0;
  let fy = f32(bitcast<i32>(info[ib + INFO_IY])) + p1;
  let inImage = fx >= -0.5 && fy >= -0.5 && fx < f32(params.width) - 0.5 && fy < f32(params.height) - 0.5;
  return params.fitting != 0u && lm[lb + LM_STATUS] == 0.0 && abs(p0) <= f32(R) && abs(p1) <= f32(R) && inImage && fittedFwhm(lb) <= f32(R);
}

// Geometric-mean FWHM of the fitted profile (fittedShape); a fit wider than the stamp radius is
// not believed (fitWithinStamp of src/stars/measure.ts).
fn fittedFwhm(lb: u32) -> f32 {
  let p3 = lm[lb + 3u];
  let p4 = lm[lb + 4u];
  switch (params.model) {
    case 0u: {
      return FWHM_PER_SIGMA * sqrt(p3 * p4);
    }
    case 1u: {
      // The covariance is the inverse of the precision matrix [[a, b], [b, c]]: det Σ = 1/(ac − b²).
      return FWHM_PER_SIGMA / sqrt(sqrt(p3 * lm[lb + 5u] - p4 * p4));
    }
    default: {
      let beta = select(params.beta, p4, params.model == 3u);
      return 2.0 * p3 * sqrt(pow(2.0, 1.0 / beta) - 1.0);
    }
  }
}

// A row with nothing measured: NaN everywhere but the flags, codes and, when known, the sky.
fn emptyRow(i: u32, flags: u32, sky: f32, sigma: f32) {
  let nan = nanValue();
  for (var f = 0u; f < CAT_IX; f++) {
    putF(f, i, nan);
  }
  putF(CAT_BACKGROUND, i, sky);
  putF(CAT_NOISE, i, sigma);
  putU(CAT_IX, i, 0u);
  putU(CAT_IY, i, 0u);
  putU(CAT_ITERATIONS, i, 0u);
  putU(CAT_METHOD, i, params.method);
  putU(CAT_FIT_REASON, i, NO_FIT_REASON);
  putU(CAT_STATUS, i, STATUS_FAILED);
  putU(CAT_FLAGS, i, flags);
}

// Major/minor σ and angle of the covariance (cxx, cyy, cxy), as principalAxes.
fn principalAxes(cxx: f32, cyy: f32, cxy: f32) -> vec3<f32> {
  let tr = cxx + cyy;
  let disc = sqrt(max(0.25 * (cxx - cyy) * (cxx - cyy) + cxy * cxy, 0.0));
  var th = 0.5 * atan2(2.0 * cxy, cxx - cyy);
  if (th <= -0.5 * PI) {
    th += PI;
  }
  return vec3<f32>(sqrt(max(0.5 * tr + disc, 0.0)), sqrt(max(0.5 * tr - disc, 0.0)), th);
}

// The catalogue row of a measured star from its INFO and LM words (the tail of measureOne).
fn writeRow(i: u32, ib: u32, lb: u32) {
  let nan = nanValue();
  var flags = bitcast<u32>(info[ib + INFO_FLAGS]);
  var cx = info[ib + INFO_CX];
  var cy = info[ib + INFO_CY];
  var fwhm = nan;
  var ecc = nan;
  var theta = nan;
  var beta = nan;
  var xErr = nan;
  var yErr = nan;
  var chi2r = nan;
  var iterations = 0u;
  var fitReason = NO_FIT_REASON;
  var flux = info[ib + INFO_SUMFLUX];
  var fitted = false;
  if (params.fitting != 0u) {
    let code = lm[lb + LM_STATUS];
    // A fit still pending or active when the dispatch budget ran out stopped at its iteration limit.
    fitReason = select(u32(code), FIT_MAX_ITERATIONS, code >= f32(FIT_PENDING));
    iterations = u32(lm[lb + LM_ITER]);
    let p0 = lm[lb];
    let p1 = lm[lb + 1u];
    if (fitAccepted(ib, lb)) {
      fitted = true;
      cx = p0;
      cy = p1;
      let S = info[ib + INFO_SCALE];
      let np = select(select(select(6.0, 5.0, params.model == 2u), 7.0, params.model == 1u), 6.0, params.model == 0u) + 2.0 * f32(params.skySlope);
      chi2r = lm[lb + LM_CHI2] / max(lm[lb + LM_PIXELS] - np, 1.0);
      // With a gain the weights are absolute inverse variances; without one only relative.
      let scale = select(max(chi2r, 0.0), 1.0, params.poisson > 0.0);
      xErr = sqrt(lm[lb + LM_VARX] * scale);
      yErr = sqrt(lm[lb + LM_VARY] * scale);
      let p2 = lm[lb + 2u];
      let p3 = lm[lb + 3u];
      let p4 = lm[lb + 4u];
      switch (params.model) {
        case 0u: {
          fwhm = FWHM_PER_SIGMA * sqrt(p3 * p4);
          let q = min(p3, p4) / max(p3, p4);
          ecc = sqrt(1.0 - q * q);
          theta = select(0.5 * PI, 0.0, p3 >= p4);
          flux = p2 * S;
        }
        case 1u: {
          let c = lm[lb + 5u];
          let det = p3 * c - p4 * p4;
          let ax = principalAxes(c / det, p3 / det, -p4 / det);
          fwhm = FWHM_PER_SIGMA * sqrt(ax.x * ax.y);
          let q = ax.y / ax.x;
          ecc = sqrt(max(1.0 - q * q, 0.0));
          theta = ax.z;
          flux = p2 * S;
        }
        default: {
          // The circular Moffat: eccentricity and θ come from the moments below.
          beta = select(params.beta, p4, params.model == 3u);
          fwhm = 2.0 * p3 * sqrt(pow(2.0, 1.0 / beta) - 1.0);
          flux = PI * p3 * p3 * p2 / (beta - 1.0) * S;
        }
      }
    } else {
      flags |= FLAG_FIT_FAILED;
    }
  }
  let cxx = info[ib + INFO_CXX];
  if (isFiniteBits(cxx)) {
    let ax = principalAxes(cxx, info[ib + INFO_CYY], info[ib + INFO_CXY]);
    if (!isFiniteBits(ecc)) {
      let q = ax.y / ax.x;
      ecc = sqrt(max(1.0 - q * q, 0.0));
      theta = ax.z;
    }
    if (!isFiniteBits(fwhm)) {
      fwhm = FWHM_PER_SIGMA * sqrt(ax.x * ax.y);
    }
  }
  // Ellipticity and axis σ from FWHM and eccentricity (ellipseAxes of measure.ts).
  let q = sqrt(max(1.0 - ecc * ecc, 0.0));
  let sq = sqrt(q);
  let s = fwhm / FWHM_PER_SIGMA;
  // CCD equation over an aperture of radius 1.5·FWHM (snrMetric).
  let sig = info[ib + INFO_SIGMA];
  let fwhmAp = select(params.fwhm, fwhm, isFiniteBits(fwhm));
  let npix = PI * (1.5 * fwhmAp) * (1.5 * fwhmAp);
  let varF = max(flux, 0.0) * params.poisson + npix * sig * sig;
  putF(CAT_XERR, i, xErr);
  putF(CAT_YERR, i, yErr);
  putF(CAT_FLUX, i, flux);
  putF(CAT_FWHM, i, fwhm);
  putF(CAT_ECC, i, ecc);
  putF(CAT_ELLIPTICITY, i, 1.0 - q);
  putF(CAT_SIGMA_MAJOR, i, s / sq);
  putF(CAT_SIGMA_MINOR, i, s * sq);
  putF(CAT_THETA, i, theta);
  putF(CAT_BETA, i, beta);
  putF(CAT_BACKGROUND, i, info[ib + INFO_SKY]);
  putF(CAT_NOISE, i, sig);
  putF(CAT_SNR, i, select(nan, flux / sqrt(varF), varF > 0.0));
  putF(CAT_PEAK, i, info[ib + INFO_PEAK]);
  putF(CAT_SHARPNESS, i, info[ib + INFO_SHARP]);
  putF(CAT_ROUND1, i, info[ib + INFO_ROUND1]);
  putF(CAT_ROUND2, i, info[ib + INFO_ROUND2]);
  putF(CAT_PEAKCORE, i, info[ib + INFO_PEAKCORE]);
  putF(CAT_MROUND, i, info[ib + INFO_MROUND]);
  putF(CAT_MASYM, i, info[ib + INFO_MASYM]);
  putF(CAT_LAPLACIAN, i, info[ib + INFO_LAPLACIAN]);
  putF(CAT_CHI2R, i, chi2r);
  putF(CAT_CX, i, cx);
  putF(CAT_CY, i, cy);
  catalogue[CAT_IX * params.catStride + i] = info[ib + INFO_IX];
  catalogue[CAT_IY * params.catStride + i] = info[ib + INFO_IY];
  putU(CAT_ITERATIONS, i, iterations);
  putU(CAT_METHOD, i, select(0u, params.method, fitted));
  putU(CAT_FIT_REASON, i, fitReason);
  var status = STATUS_OK;
  if ((flags & FLAG_NO_SIGNAL) != 0u) {
    status = STATUS_FAILED;
  } else if ((flags & FLAG_FIT_FAILED) != 0u) {
    status = STATUS_FALLBACK;
  }
  putU(CAT_STATUS, i, status);
  putU(CAT_FLAGS, i, flags);
}

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
  let lb = star * LM;
  let row = order[params.firstSlot + star];
  if (lid == 0u) {
    var cx = info[ib + INFO_CX];
    var cy = info[ib + INFO_CY];
    let px0 = lm[lb];
    let py0 = lm[lb + 1u];
    let stage = bitcast<u32>(info[ib + INFO_STAGE]);
    let code = lm[lb + LM_STATUS];
    // 0: measure now; 1: already written, or its fit still runs; 2: written here, nothing to measure.
    var todo = 0;
    if (info[ib + INFO_DONE] != 0.0 || (stage == STAGE_MEASURED && (code == f32(FIT_PENDING) || code == f32(FIT_ACTIVE)))) {
      todo = 1;
    } else if (stage != STAGE_MEASURED) {
      todo = 2;
      var flags = bitcast<u32>(info[ib + INFO_FLAGS]);
      let nan = nanValue();
      var sky = info[ib + INFO_SKY];
      var sigma = info[ib + INFO_SIGMA];
      if (stage == STAGE_NO_POSITION || stage == STAGE_NO_BACKGROUND) {
        sky = nan;
        sigma = nan;
      }
      if (stage == STAGE_NO_BACKGROUND) {
        flags |= FLAG_NO_BACKGROUND;
      }
      emptyRow(row, flags, sky, sigma);
      info[ib + INFO_DONE] = 1.0;
    }
    if (fitAccepted(ib, lb)) {
      cx = px0;
      cy = py0;
    }
    let px = bitcast<i32>(info[ib + INFO_IX]) + i32(floor(cx + 0.5));
    let py = bitcast<i32>(info[ib + INFO_IY]) + i32(floor(cy + 0.5));
    centre = vec4<i32>(px, py, todo, 0);
  }
  let c = workgroupUniformLoad(&centre);
  if (c.z != 0) {
    return;
  }
  let sky = info[ib + INFO_SKY];
  let skyBx = info[ib + INFO_SKYBX];
  let skyBy = info[ib + INFO_SKYBY];
  let skyIx = bitcast<i32>(info[ib + INFO_SKYIX]);
  let skyIy = bitcast<i32>(info[ib + INFO_SKYIY]);
  // The cut-out: pixels − the sky plane within 2·KR of the centre, 0 (and not ok) off the image
  // or NaN (fillCut).
  for (var q = lid; q < CUTN; q += WG) {
    let x = c.x - 2 * KR + i32(q) % CS;
    let y = c.y - 2 * KR + i32(q) / CS;
    cut[q] = 0.0;
    cutOk[q] = 0u;
    if (x >= 0 && y >= 0 && x < i32(params.width) && y < i32(params.height)) {
      let row = clamp(y - params.rowStart, 0, i32(params.tileRows) - 1);
      let v = tile[u32(row) * params.width + u32(x)];
      if (isFiniteBits(v)) {
        cut[q] = v - (sky + skyBx * f32(x - skyIx) + skyBy * f32(y - skyIy));
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
  writeRow(row, ib, lb);
  info[ib + INFO_DONE] = 1.0;
}
