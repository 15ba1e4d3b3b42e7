// Star stamps, one workgroup per star: local sky (the map per pixel or the σ-clipped annulus plane), the stamp,
// the over-relaxed windowed centroid with re-centring, adaptive windowed second moments, the
// stamp marginals, and for the PSF fit the scaled stamp, its weights and the starting
// parameters. Mirrors measureOne() of src/stars/measure.ts step by step, in float32 with
// stamp-local coordinates (centroid.md §11).
//
// Override constants:
//   R        stamp radius; SIDE = 2R+1, NPIX = SIDE²
//   RO       annulus outer radius ceil(1.5R); SORT_N a power of two ≥ the annulus pixel count
//   WG       invocations per workgroup (a power of two ≥ 2·SIDE)
//
// Bindings (group 0). Stars are processed in slots (grouped by frame band); info, stamps and lm
// are bound as the chunk's range of slots, starIn and order whole:
//   0 params  uniform Params (stars_common.wgsl), one per chunk of stars
//   1 tile    storage read, array<f32>: the frame band, tileRows × width pixels starting at
//             image row rowStart: pixel (x, y) at [(y − rowStart)·width + x]; with skyPlanes the
//             sky map at the same index + planeStride and the sky σ map at + 2·planeStride
//   2 starIn  storage read, array<vec4<f32>>: per input star (ix, iy, fx, fy) with ix, iy the
//             i32 bits of the start pixel floor(x + ½) and fx, fy = x − ix, y − iy; a position
//             that cannot be measured has ix = 0x80000000 and its FLAG_* bit in iy
//   3 info    storage read_write, array<f32>: INFO words per slot (INFO_* offsets in
//             stars_common.wgsl; ints as u32/i32 bits)
//   4 stamps  storage read_write, array<vec2<f32>>: NPIX per slot, row-major, (z, w) = (pixel −
//             sky)/S and the inverse variance in the same units; w = 0 leaves a pixel out
//   5 lm      storage read_write, array<f32>: LM words per slot (layout in stars_fit.wgsl);
//             this kernel writes the start parameters, the status, pixels and noise
//   6 order   storage read, array<u32>: the input index of each slot (the chunk's slot k at
//             firstSlot + k)
//   7 skyGrid storage read, array<vec4<f32>>: without skyPlanes the sky mesh grid's spline
//             coefficients (layout at its declaration in stars_common.wgsl; a dummy otherwise)
//
// Dispatch: workgroup grid (gridX, gridY), slot = id.x + id.y·gridX < count.
//
// Params, the INFO_* and LM_* offsets, isFiniteBits, nanValue and admissible come from
// stars_common.wgsl, spliced in at the include line.

//! include "stars_common.wgsl"

override R: i32;
override RO: i32;
override SORT_N: u32;
override WG: u32 = 64u;
override SIDE: i32 = 2 * R + 1;
override NPIX: u32 = u32(SIDE * SIDE);

const CENTROID_OK = 0u;
const CENTROID_NO_SIGNAL = 1u;
const CENTROID_NOT_CONVERGED = 2u;
const MAD_TO_SIGMA = 1.482602218505602;
const PIXEL_VARIANCE = 0.08333333333333333;
const BIG = 3.0e38;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> tile: array<f32>;
@group(0) @binding(2) var<storage, read> starIn: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> info: array<f32>;
@group(0) @binding(4) var<storage, read_write> stamps: array<vec2<f32>>;
@group(0) @binding(5) var<storage, read_write> lm: array<f32>;
@group(0) @binding(6) var<storage, read> order: array<u32>;
// Binding 7, the sky grid (skyGrid), is declared in stars_common.wgsl.

var<workgroup> raw: array<f32, NPIX>;
var<workgroup> valid: array<u32, NPIX>;
var<workgroup> ex: array<f32, SIDE>;
var<workgroup> ey: array<f32, SIDE>;
var<workgroup> red: array<vec4<f32>, WG>;
var<workgroup> redOut: vec4<f32>;
// Two areas of SORT_N: the annulus pixels (annulusPlane) at 0, the values being sorted at SORT_N.
var<workgroup> sorts: array<f32, 2u * SORT_N>;
var<workgroup> annCount: atomic<u32>;
var<workgroup> wgFlags: atomic<u32>;
var<workgroup> wgPeak: atomic<u32>;
var<workgroup> uScalar: u32;
var<workgroup> mrg: array<f32, 64>;

// Image value and map values of pixel (x, y), which the caller has checked lies in the image;
// the tile's halo guarantees it lies in the tile as well.
fn pixelIndex(x: i32, y: i32) -> u32 {
  let row = clamp(y - params.rowStart, 0, i32(params.tileRows) - 1);
  return u32(row) * params.width + u32(x);
}

// Sky and sky σ of the map at pixel (x, y): the planes, or the bicubic spline of the mesh grid
// that backgroundMap (src/stars/background.ts) evaluates on the CPU (gridSky, stars_common.wgsl).
fn mapSky(x: i32, y: i32) -> vec2<f32> {
  if (params.skyPlanes != 0u) {
    let k = pixelIndex(x, y);
    return vec2<f32>(tile[k + params.planeStride], tile[k + 2u * params.planeStride]);
  }
  return gridSky(f32(x), f32(y), params.gridNx, params.gridNy, params.cellW, params.cellH);
}

// A star's stamp centre pixel, flags and stage, and its local sky: the plane sky.x + sky.y·u +
// sky.z·v about the pixel skyAt, with σ sky.w (the INFO words stars_metrics reads).
fn writePlace(ib: u32, ix: i32, iy: i32, flags: u32, stage: u32, sky: vec4<f32>, skyAt: vec2<i32>) {
  info[ib + INFO_IX] = bitcast<f32>(ix);
  info[ib + INFO_IY] = bitcast<f32>(iy);
  info[ib + INFO_FLAGS] = bitcast<f32>(flags);
  info[ib + INFO_STAGE] = bitcast<f32>(stage);
  info[ib + INFO_SKY] = sky.x;
  info[ib + INFO_SKYBX] = sky.y;
  info[ib + INFO_SKYBY] = sky.z;
  info[ib + INFO_SIGMA] = sky.w;
  info[ib + INFO_SKYIX] = bitcast<f32>(skyAt.x);
  info[ib + INFO_SKYIY] = bitcast<f32>(skyAt.y);
}

fn reduceSum(v: vec4<f32>, lid: u32) -> vec4<f32> {
  red[lid] = v;
  workgroupBarrier();
  for (var s = params.halfWg; s > 0u; s = s >> 1u) {
    if (lid < s) {
      red[lid] = red[lid] + red[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    redOut = red[0];
  }
  return workgroupUniformLoad(&redOut);
}

// Ascending bitonic sort of sorts[off..off + SORT_N).
fn bitonicSort(off: u32, lid: u32) {
  for (var k = 2u; k <= params.sortN; k = k << 1u) {
    for (var j = k >> 1u; j > 0u; j = j >> 1u) {
      workgroupBarrier();
      for (var i = lid; i < SORT_N; i += WG) {
        let l = i ^ j;
        if (l > i) {
          let a = sorts[off + i];
          let b = sorts[off + l];
          let up = (i & k) == 0u;
          if ((a > b) == up) {
            sorts[off + i] = b;
            sorts[off + l] = a;
          }
        }
      }
    }
  }
  workgroupBarrier();
}

// The median, made workgroup-uniform: the clipping loop branches on it.
fn uniformMedian(base: u32, n: u32, lid: u32) -> f32 {
  if (lid == 0u) {
    redOut = vec4<f32>(medianSorted(base, n), 0.0, 0.0, 0.0);
  }
  return workgroupUniformLoad(&redOut).x;
}

fn medianSorted(base: u32, n: u32) -> f32 {
  let h = n >> 1u;
  let a = sorts[base + h];
  let b = sorts[base + max(h, 1u) - 1u];
  if ((n & 1u) == 1u) {
    return a;
  }
  return 0.5 * (a + b);
}

// Sky plane B + Bx·u + By·v (u, v offsets from (ix, iy)) from the pixels R ≤ r ≤ RO around
// (ix, iy), as annulusPlane (src/stars/localSky.ts): from the median level, repeatedly the MAD σ
// of the residuals about the plane, the pixels within 3σ kept and the plane refitted to them by
// least squares (sums about the median, as there), until the kept set no longer changes.
// Returns (B, Bx, By, σ); B is NaN below 10 usable pixels. sorts[0, n) hold each pixel's index
// in the (2RO+1)² span with bit 31 set while it is kept; sorts[SORT_N, …) the values being sorted.
// params.clipIterations is the number of fits (PLANE_ITERATIONS of localSky.ts).
const PLANE_KEPT = 0x80000000u;

fn annulusPixel(bits: u32, ix: i32, iy: i32) -> vec3<f32> {
  let span = 2 * RO + 1;
  let q = i32(bits & 0x7fffffffu);
  let dx = q % span - RO;
  let dy = q / span - RO;
  return vec3<f32>(f32(dx), f32(dy), tile[pixelIndex(ix + dx, iy + dy)]);
}

fn annulusPlane(ix: i32, iy: i32, lid: u32) -> vec4<f32> {
  if (lid == 0u) {
    atomicStore(&annCount, 0u);
  }
  workgroupBarrier();
  let span = 2 * RO + 1;
  let rin2 = R * R;
  let rout2 = RO * RO;
  for (var q = i32(lid); q < span * span; q += i32(WG)) {
    let dx = q % span - RO;
    let dy = q / span - RO;
    let x = ix + dx;
    let y = iy + dy;
    let r2 = dx * dx + dy * dy;
    if (x < 0 || y < 0 || x >= i32(params.width) || y >= i32(params.height) || r2 < rin2 || r2 > rout2) {
      continue;
    }
    let v = tile[pixelIndex(x, y)];
    if (isFiniteBits(v)) {
      let slot = atomicAdd(&annCount, 1u);
      sorts[slot] = bitcast<f32>(u32(q) | PLANE_KEPT);
      sorts[SORT_N + slot] = v;
    }
  }
  workgroupBarrier();
  if (lid == 0u) {
    uScalar = atomicLoad(&annCount);
  }
  let n = workgroupUniformLoad(&uScalar);
  if (n < 10u) {
    return vec4<f32>(nanValue(), nanValue(), nanValue(), nanValue());
  }
  for (var i = n + lid; i < SORT_N; i += WG) {
    sorts[SORT_N + i] = BIG;
  }
  bitonicSort(SORT_N, lid);
  let m0 = uniformMedian(SORT_N, n, lid);
  // The plane about the median level: b0 is B − m0.
  var b0 = 0.0;
  var bx = 0.0;
  var by = 0.0;
  var sigma = 0.0;
  for (var it = 0u; it <= params.clipIterations; it++) {
    for (var i = lid; i < SORT_N; i += WG) {
      if (i < n) {
        let a = annulusPixel(bitcast<u32>(sorts[i]), ix, iy);
        sorts[SORT_N + i] = abs(a.z - m0 - (b0 + bx * a.x + by * a.y));
      } else {
        sorts[SORT_N + i] = BIG;
      }
    }
    bitonicSort(SORT_N, lid);
    sigma = MAD_TO_SIGMA * uniformMedian(SORT_N, n, lid);
    if (it == params.clipIterations) {
      break;
    }
    let lim = 3.0 * sigma;
    var s0 = vec4<f32>(0.0);
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    for (var i = lid; i < n; i += WG) {
      let bits = bitcast<u32>(sorts[i]);
      let a = annulusPixel(bits, ix, iy);
      let zc = a.z - m0;
      let keep = select(true, abs(zc - (b0 + bx * a.x + by * a.y)) <= lim, sigma > 0.0);
      if (((bits & PLANE_KEPT) != 0u) != keep) {
        s2.y += 1.0;
      }
      sorts[i] = bitcast<f32>(select(bits & 0x7fffffffu, bits | PLANE_KEPT, keep));
      if (keep) {
        s0 += vec4<f32>(1.0, a.x, a.y, a.x * a.x);
        s1 += vec4<f32>(a.x * a.y, a.y * a.y, zc, a.x * zc);
        s2.x += a.y * zc;
      }
    }
    let t0 = reduceSum(s0, lid);
    let t1 = reduceSum(s1, lid);
    let t2 = reduceSum(s2, lid);
    if (!(it == 0u || t2.y > 0.0) || t0.x < 10.0) {
      break;
    }
    let mu = t0.y / t0.x;
    let mv = t0.z / t0.x;
    let mz = t1.z / t0.x;
    let cuu = t0.w - t0.y * mu;
    let cuv = t1.x - t0.y * mv;
    let cvv = t1.y - t0.z * mv;
    let cuz = t1.w - t0.y * mz;
    let cvz = t2.x - t0.z * mz;
    let det = cuu * cvv - cuv * cuv;
    if (det > 1e-6 * (cuu * cvv + 1e-30) && cuu > 0.0 && cvv > 0.0) {
      bx = (cvv * cuz - cuv * cvz) / det;
      by = (cuu * cvz - cuv * cuz) / det;
    } else {
      bx = 0.0;
      by = 0.0;
    }
    b0 = mz - bx * mu - by * mv;
  }
  return vec4<f32>(m0 + b0, bx, by, sigma);
}

// Fills raw/valid around (ix, iy) with pixel − sky, the sky the plane (B, Bx, By) about (ix, iy)
// or, with fromMap, the map at each pixel; sets edge, NaN and saturation flags in wgFlags.
// Returns the number of valid pixels.
fn extractStamp(ix: i32, iy: i32, plane: vec3<f32>, fromMap: bool, lid: u32) -> u32 {
  var n = 0.0;
  for (var k = lid; k < NPIX; k += WG) {
    let x = ix - R + i32(k) % SIDE;
    let y = iy - R + i32(k) / SIDE;
    raw[k] = 0.0;
    valid[k] = 0u;
    if (x < 0 || y < 0 || x >= i32(params.width) || y >= i32(params.height)) {
      atomicOr(&wgFlags, FLAG_EDGE);
      continue;
    }
    let v = tile[pixelIndex(x, y)];
    if (!isFiniteBits(v)) {
      atomicOr(&wgFlags, FLAG_NAN_PIXELS);
      continue;
    }
    if (params.hasSaturation != 0u && v >= params.saturation) {
      atomicOr(&wgFlags, FLAG_SATURATED);
      continue;
    }
    var sky = plane.x + plane.y * f32(x - ix) + plane.z * f32(y - iy);
    if (fromMap) {
      sky = mapSky(x, y).x;
    }
    raw[k] = v - sky;
    valid[k] = 1u;
    n += 1.0;
  }
  return u32(reduceSum(vec4<f32>(n, 0.0, 0.0, 0.0), lid).x);
}

// Gaussian window exp(−(i − R − c)²·k) per column (ex) and row (ey).
fn windowTables(cx: f32, cy: f32, k: f32, lid: u32) {
  let i = i32(lid);
  if (i < SIDE) {
    let d = f32(i - R) - cx;
    ex[i] = exp(-d * d * k);
  } else if (i >= 32 && i < 32 + SIDE) {
    let d = f32(i - 32 - R) - cy;
    ey[i - 32] = exp(-d * d * k);
  }
  workgroupBarrier();
}

struct Centroid {
  status: u32,
  cx: f32,
  cy: f32,
}

// SExtractor-style windowed centroid with Newton steps on g(c) − c (windowedCentroid): for a
// Gaussian window ∂g/∂c is the windowed covariance over σw², summed in the same pass, so a
// step is (I − C/σw²)⁻¹·(g − c) — the doubled plain step where that matrix is near singular,
// plain windowed means once a residual grows (noise).
fn windowedCentroid(cx0: f32, cy0: f32, lid: u32) -> Centroid {
  var c = Centroid(CENTROID_NOT_CONVERGED, cx0, cy0);
  let s2 = params.sigmaW * params.sigmaW;
  let inv2s2 = 1.0 / (2.0 * s2);
  var newton = true;
  var lastResidual = BIG;
  for (var it = 0u; it < params.centroidIterations; it++) {
    windowTables(c.cx, c.cy, inv2s2, lid);
    var acc = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    for (var k = lid; k < NPIX; k += WG) {
      let dx = f32(i32(k) % SIDE - R) - c.cx;
      let dy = f32(i32(k) / SIDE - R) - c.cy;
      let t = ex[i32(k) % SIDE] * ey[i32(k) / SIDE] * raw[k];
      acc += vec4<f32>(t, t * dx, t * dy, t * dx * dy);
      acc2 += vec4<f32>(t * dx * dx, t * dy * dy, 0.0, 0.0);
    }
    let s = reduceSum(acc, lid);
    let q = reduceSum(acc2, lid);
    if (!(s.x > 0.0)) {
      c.status = CENTROID_NO_SIGNAL;
      return c;
    }
    let mx = s.y / s.x;
    let my = s.z / s.x;
    let residual = sqrt(mx * mx + my * my);
    var dx = mx;
    var dy = my;
    if (residual > lastResidual) {
      newton = false;
    }
    lastResidual = residual;
    if (newton) {
      let bxx = 1.0 - (q.x / s.x - mx * mx) / s2;
      let byy = 1.0 - (q.y / s.x - my * my) / s2;
      let bxy = -(s.w / s.x - mx * my) / s2;
      let det = bxx * byy - bxy * bxy;
      if (bxx > 0.1 && byy > 0.1 && bxx < 1.0 && byy < 1.0 && det > 0.01) {
        dx = (byy * mx - bxy * my) / det;
        dy = (bxx * my - bxy * mx) / det;
      } else {
        dx = 2.0 * mx;
        dy = 2.0 * my;
      }
    }
    // A window that runs off the stamp would follow noise: each move is capped at a quarter of it.
    let cap = 0.25 * f32(SIDE);
    let stepLen = sqrt(dx * dx + dy * dy);
    if (stepLen > cap) {
      dx *= cap / stepLen;
      dy *= cap / stepLen;
    }
    c.cx += dx;
    c.cy += dy;
    if (abs(c.cx) > f32(R) || abs(c.cy) > f32(R)) {
      c.status = CENTROID_NO_SIGNAL;
      return c;
    }
    if (abs(dx) < 1e-4 && abs(dy) < 1e-4) {
      c.status = CENTROID_OK;
      return c;
    }
  }
  return c;
}

// Adaptive windowed second moments, deconvolved from the window and the pixel (windowedShape).
// Returns (cxx, cyy, cxy, ok).
fn windowedShape(cx: f32, cy: f32, lid: u32) -> vec4<f32> {
  var sw2 = params.sigmaW * params.sigmaW;
  var res = vec4<f32>(0.0);
  for (var iter = 0u; iter < params.shapePasses; iter++) {
    windowTables(cx, cy, 1.0 / (2.0 * sw2), lid);
    var acc = vec4<f32>(0.0);
    for (var k = lid; k < NPIX; k += WG) {
      let i = i32(k) % SIDE;
      let j = i32(k) / SIDE;
      let t = ex[i] * ey[j] * raw[k];
      let dx = f32(i - R) - cx;
      let dy = f32(j - R) - cy;
      acc += vec4<f32>(t, t * dx * dx, t * dy * dy, t * dx * dy);
    }
    let s = reduceSum(acc, lid);
    if (!(s.x > 0.0)) {
      break;
    }
    let mxx = s.y / s.x;
    let myy = s.z / s.x;
    let mxy = s.w / s.x;
    let det = mxx * myy - mxy * mxy;
    if (!(det > 0.0 && mxx > 0.0)) {
      break;
    }
    let iw = 1.0 / sw2;
    let pxx = myy / det - iw;
    let pyy = mxx / det - iw;
    let pxy = -mxy / det;
    let pdet = pxx * pyy - pxy * pxy;
    if (!(pxx > 0.0 && pdet > 0.0)) {
      sw2 *= 4.0;
      continue;
    }
    res = vec4<f32>(pyy / pdet, pxx / pdet, -pxy / pdet, 1.0);
    let matched = sqrt(res.x * res.y - res.z * res.z);
    if (abs(matched - sw2) < 1e-3 * sw2) {
      break;
    }
    sw2 = min(max(matched, 0.25), f32(R * R));
  }
  if (res.w > 0.0) {
    res.x = max(res.x - PIXEL_VARIANCE, 0.01);
    res.y = max(res.y - PIXEL_VARIANCE, 0.01);
  }
  return res;
}

@compute @workgroup_size(WG)
fn extract(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let star = wid.x + wid.y * params.gridX;
  if (star >= params.count) {
    return;
  }
  let sIn = starIn[order[params.firstSlot + star]];
  let ib = star * INFO;
  let lb = star * LM;
  if (bitcast<u32>(sIn.x) == 0x80000000u) {
    if (lid == 0u) {
      info[ib + INFO_FLAGS] = sIn.y;
      info[ib + INFO_STAGE] = bitcast<f32>(STAGE_NO_POSITION);
      info[ib + INFO_DONE] = 0.0;
      lm[lb + LM_STATUS] = f32(FIT_SKIP);
    }
    return;
  }
  if (lid == 0u) {
    info[ib + INFO_DONE] = 0.0;
  }
  let ix0 = bitcast<i32>(sIn.x);
  let iy0 = bitcast<i32>(sIn.y);
  var ix = ix0;
  var iy = iy0;
  var cx = sIn.z;
  var cy = sIn.w;
  var flags = 0u;
  var sky = 0.0;
  var skyBx = 0.0;
  var skyBy = 0.0;
  var skyIx = ix0;
  var skyIy = iy0;
  var fromMap = false;
  var skySigma = 0.0;
  var centroid = CENTROID_NO_SIGNAL;
  var count = 0u;
  if (lid == 0u) {
    atomicStore(&wgFlags, 0u);
    atomicStore(&wgPeak, 0u);
  }
  for (var mv = 0u; mv < params.moves; mv++) {
    flags &= FLAG_ANNULUS_FALLBACK;
    // The local sky as localSky does it: the annulus plane, else the map (its value at the
    // centre pixel, its slopes over ±R for the metrics' cut-out, per pixel for the stamp).
    var sk = vec4<f32>(nanValue(), 0.0, 0.0, nanValue());
    var skyOk = false;
    fromMap = false;
    if (params.annulus != 0u) {
      sk = annulusPlane(ix, iy, lid);
      skyOk = isFiniteBits(sk.x);
      if (!skyOk) {
        flags |= FLAG_ANNULUS_FALLBACK;
      }
    }
    if (!skyOk) {
      let m = mapSky(ix, iy);
      let xl = max(ix - R, 0);
      let xr = min(ix + R, i32(params.width) - 1);
      let yl = max(iy - R, 0);
      let yr = min(iy + R, i32(params.height) - 1);
      let gx = select(0.0, (mapSky(xr, iy).x - mapSky(xl, iy).x) / f32(xr - xl), xr > xl);
      let gy = select(0.0, (mapSky(ix, yr).x - mapSky(ix, yl).x) / f32(yr - yl), yr > yl);
      sk = vec4<f32>(m.x, gx, gy, m.y);
      skyOk = isFiniteBits(m.x);
      fromMap = true;
    }
    if (!skyOk) {
      if (lid == 0u) {
        info[ib + INFO_IX] = bitcast<f32>(ix);
        info[ib + INFO_IY] = bitcast<f32>(iy);
        info[ib + INFO_FLAGS] = bitcast<f32>(flags);
        info[ib + INFO_STAGE] = bitcast<f32>(STAGE_NO_BACKGROUND);
        lm[lb + LM_STATUS] = f32(FIT_SKIP);
      }
      return;
    }
    sky = sk.x;
    skyBx = sk.y;
    skyBy = sk.z;
    skyIx = ix;
    skyIy = iy;
    skySigma = max(select(0.0, sk.w, isFiniteBits(sk.w)), params.rnFloor);
    workgroupBarrier();
    if (lid == 0u) {
      atomicStore(&wgFlags, 0u);
    }
    workgroupBarrier();
    count = extractStamp(ix, iy, sk.xyz, fromMap, lid);
    flags |= atomicLoad(&wgFlags);
    workgroupBarrier();
    if (count > 0u) {
      let c = windowedCentroid(cx, cy, lid);
      centroid = c.status;
      cx = c.cx;
      cy = c.cy;
    } else {
      centroid = CENTROID_NO_SIGNAL;
    }
    if (centroid == CENTROID_NO_SIGNAL) {
      break;
    }
    let mx = i32(floor(cx + 0.5));
    let my = i32(floor(cy + 0.5));
    if ((mx == 0 && my == 0) || mv + 1u == params.moves) {
      break;
    }
    let nx = ix + mx;
    let ny = iy + my;
    if (nx < 0 || ny < 0 || nx >= i32(params.width) || ny >= i32(params.height)) {
      break;
    }
    ix = nx;
    iy = ny;
    cx -= f32(mx);
    cy -= f32(my);
  }
  var stage = STAGE_MEASURED;
  if (centroid == CENTROID_NO_SIGNAL) {
    flags |= FLAG_NO_SIGNAL;
    // Metrics describe the place asked for: back to the input position (the stamp stays).
    ix = ix0;
    iy = iy0;
    cx = sIn.z;
    cy = sIn.w;
    if (count == 0u) {
      stage = STAGE_NO_PIXELS;
      flags |= FLAG_NO_PIXELS;
    }
  } else if (centroid == CENTROID_NOT_CONVERGED) {
    flags |= FLAG_MOMENTS_NOT_CONVERGED;
  }
  if (stage != STAGE_MEASURED) {
    if (lid == 0u) {
      writePlace(ib, ix, iy, flags, stage, vec4<f32>(sky, skyBx, skyBy, skySigma), vec2<i32>(skyIx, skyIy));
      lm[lb + LM_STATUS] = f32(FIT_SKIP);
    }
    return;
  }
  let shape = windowedShape(cx, cy, lid);

  // Aperture sum within R, the highest valid pixel and the clipped marginals.
  var acc = vec4<f32>(0.0);
  let R2 = f32(R * R);
  for (var k = lid; k < NPIX; k += WG) {
    if (valid[k] == 0u) {
      continue;
    }
    let v = raw[k];
    if (v > 0.0) {
      atomicMax(&wgPeak, bitcast<u32>(v));
    }
    let dx = f32(i32(k) % SIDE - R) - cx;
    let dy = f32(i32(k) / SIDE - R) - cy;
    if (dx * dx + dy * dy <= R2) {
      acc.x += v;
    }
  }
  let i = i32(lid);
  if (i < SIDE) {
    var m = 0.0;
    for (var j = 0; j < SIDE; j++) {
      m += max(raw[j * SIDE + i], 0.0);
    }
    mrg[i] = m;
  } else if (i >= 32 && i < 32 + SIDE) {
    var m = 0.0;
    for (var c = 0; c < SIDE; c++) {
      m += max(raw[(i - 32) * SIDE + c], 0.0);
    }
    mrg[i] = m;
  }
  let sumFlux = reduceSum(acc, lid).x;
  let peakAll = bitcast<f32>(atomicLoad(&wgPeak));
  if (lid == 0u) {
    var hx = 0.0;
    var hy = 0.0;
    var left = 0.0;
    var right = 0.0;
    var top = 0.0;
    var bottom = 0.0;
    for (var k = 0; k < SIDE; k++) {
      let a = mrg[k];
      let b = mrg[32 + k];
      hx = max(hx, a);
      hy = max(hy, b);
      if (k < R) {
        left += a;
        top += b;
      } else if (k > R) {
        right += a;
        bottom += b;
      }
    }
    info[ib + INFO_MROUND] = select(nanValue(), (hx - hy) / (hx + hy), hx + hy > 0.0);
    let ax = select(0.0, (right - left) / (left + right), left + right > 0.0);
    let ay = select(0.0, (bottom - top) / (top + bottom), top + bottom > 0.0);
    info[ib + INFO_MASYM] = min(sqrt(ax * ax + ay * ay), 1.0);
    writePlace(ib, ix, iy, flags, STAGE_MEASURED, vec4<f32>(sky, skyBx, skyBy, skySigma), vec2<i32>(skyIx, skyIy));
    info[ib + INFO_COUNT] = bitcast<f32>(count);
    info[ib + INFO_CX] = cx;
    info[ib + INFO_CY] = cy;
    let nan = nanValue();
    info[ib + INFO_CXX] = select(nan, shape.x, shape.w > 0.0);
    info[ib + INFO_CYY] = select(nan, shape.y, shape.w > 0.0);
    info[ib + INFO_CXY] = select(nan, shape.z, shape.w > 0.0);
    info[ib + INFO_SUMFLUX] = sumFlux;
  }
  if (params.fitting == 0u) {
    if (lid == 0u) {
      lm[lb + LM_STATUS] = f32(FIT_SKIP);
    }
    return;
  }

  // The fit's data: scaled by S so amplitudes are O(1) (prepareFitStamp).
  let S = max(max(peakAll, 3.0 * skySigma), 1e-30);
  let invS = 1.0 / S;
  let s2 = skySigma * skySigma;
  let floorV = 1e-12 * S * S;
  let sb = star * NPIX;
  for (var k = lid; k < NPIX; k += WG) {
    if (valid[k] == 0u) {
      stamps[sb + k] = vec2<f32>(0.0, 0.0);
      continue;
    }
    let v = raw[k];
    stamps[sb + k] = vec2<f32>(v * invS, (S * S) / (max(v, 0.0) * params.poisson + s2 + floorV));
  }
  if (lid != 0u) {
    return;
  }
  info[ib + INFO_SCALE] = S;
  // Starting parameters from the moments (initialParams).
  // Zeros beyond the model's own parameters: a fitted sky slope starts at the subtracted plane.
  var p = array<f32, MAXP>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
  var cxx = shape.x;
  var cyy = shape.y;
  var cxy = shape.z;
  let hi = f32(R * R);
  if (!(shape.w > 0.0 && cxx > 0.25 && cyy > 0.25 && cxx < hi && cyy < hi && cxx * cyy - cxy * cxy > 0.01)) {
    cxx = params.sigma0 * params.sigma0;
    cyy = cxx;
    cxy = 0.0;
  }
  p[0] = cx;
  p[1] = cy;
  p[2] = max(sumFlux / S, 1.0);
  switch (params.model) {
    case 0u: {
      p[3] = sqrt(cxx);
      p[4] = sqrt(cyy);
    }
    case 1u: {
      let det = cxx * cyy - cxy * cxy;
      p[3] = cyy / det;
      p[4] = -cxy / det;
      p[5] = cxx / det;
    }
    default: {
      let b = select(2.5, params.beta, params.model == 2u);
      let fwhm = FWHM_PER_SIGMA * sqrt(sqrt(cxx * cyy - cxy * cxy));
      p[3] = fwhm / (2.0 * sqrt(pow(2.0, 1.0 / b) - 1.0));
      p[2] = max(p[2] * (b - 1.0) / (3.141592653589793 * p[3] * p[3]), 1e-3);
      if (params.model == 3u) {
        p[4] = b;
      }
    }
  }
  for (var k = 0u; k < MAXP; k++) {
    lm[lb + k] = p[k];
  }
  lm[lb + LM_PIXELS] = f32(count);
  lm[lb + LM_NOISE] = max(skySigma * invS, 1e-6);
  // Too few pixels and an inadmissible start end the fit before it starts, as on the CPU.
  let np = select(select(select(6u, 5u, params.model == 2u), 7u, params.model == 1u), 6u, params.model == 0u) + 2u * params.skySlope;
  if (count <= np) {
    lm[lb + LM_STATUS] = 4.0;
  } else if (!admissible(p, params.model)) {
    lm[lb + LM_STATUS] = 5.0;
  } else {
    lm[lb + LM_STATUS] = f32(FIT_PENDING);
  }
}
