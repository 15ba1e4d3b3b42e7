// Shared by the star kernels: spliced into stars_extract.wgsl, stars_metrics.wgsl and
// stars_fit.wgsl by their `//! include "stars_common.wgsl"` line (scripts/embed-shaders.mjs);
// never compiled alone. It declares one binding, the sky grid (binding 7 of group 0, which no
// star kernel may use for anything else; a kernel that does not read the sky leaves it out of
// its layout). It refers to two names each including shader declares: `params` (its uniform,
// with a nanBits field) and the override R (stamp radius).

// The uniform of stars_extract and stars_metrics (binding 0 of both; the same buffer range).
// One per chunk of stars; the host rewrites it (128 bytes) for every call.
struct Params {
  width: u32,
  height: u32,
  rowStart: i32,
  tileRows: u32,
  planeStride: u32,
  count: u32,
  gridX: u32,
  annulus: u32,
  saturation: f32,
  hasSaturation: u32,
  rnFloor: f32,
  poisson: f32,
  sigmaW: f32,
  sigma0: f32,
  fitting: u32,
  beta: f32,
  // 0x7fc00000: a NaN the compiler cannot fold (a constant NaN is a WGSL error).
  nanBits: u32,
  // PSF model of the fit (0 gaussian, 1 rotated, 2 moffat fixed β, 3 moffat free β): a uniform,
  // not an override, so one compiled kernel serves every model.
  model: u32,
  // Loop bounds passed at run time (WG/2, 40, 4, 4, SORT_N, 5) although they are constants: with
  // constant trip counts lavapipe's LLVM unrolls the loops around every barrier, and a cold
  // compile of the extraction kernel took most of a minute.
  halfWg: u32,
  centroidIterations: u32,
  moves: u32,
  shapePasses: u32,
  sortN: u32,
  clipIterations: u32,
  // 1: the frame binding holds three planes (pixels, sky, sky σ, planeStride apart); 0: pixels
  // only, and the sky comes from the tile grid (grid binding), interpolated where it is needed.
  skyPlanes: u32,
  gridNx: u32,
  gridNy: u32,
  // Tile size in pixels, width/gridNx and height/gridNy.
  cellW: f32,
  cellH: f32,
  // Stars of the call: the stride of the catalogue's planes.
  catStride: u32,
  // The expected FWHM (SNR aperture when no FWHM was measured) and the MEASURE_METHODS code asked for.
  fwhm: f32,
  method: u32,
  // The chunk's first slot: order is bound whole (a range would force 64-slot alignment).
  firstSlot: u32,
  // 1: the fit has the sky slope Bx, By as parameters (after B); 0: B only.
  skySlope: u32,
}

// Per-star INFO words: stars_extract writes [0, 16) and [25, 29), stars_metrics [16, 25).
const INFO: u32 = 32u;
const INFO_IX = 0u;
const INFO_IY = 1u;
const INFO_FLAGS = 2u;
const INFO_COUNT = 3u;
const INFO_SKY = 4u;
const INFO_SIGMA = 5u;
const INFO_CX = 6u;
const INFO_CY = 7u;
const INFO_CXX = 8u;
const INFO_CYY = 9u;
const INFO_CXY = 10u;
const INFO_SUMFLUX = 11u;
const INFO_SCALE = 12u;
const INFO_STAGE = 13u;
const INFO_MROUND = 14u;
const INFO_MASYM = 15u;
const INFO_PEAK = 16u;
const INFO_PEAKCORE = 17u;
const INFO_LAPLACIAN = 18u;
const INFO_SHARP = 19u;
const INFO_ROUND1 = 20u;
const INFO_ROUND2 = 21u;
const INFO_PX = 22u;
const INFO_PY = 23u;
// 1 once stars_metrics has written the star's catalogue row (stars_extract clears it).
const INFO_DONE = 24u;
// The local sky plane INFO_SKY + INFO_SKYBX·u + INFO_SKYBY·v, (u, v) offsets from the pixel
// (INFO_SKYIX, INFO_SKYIY) (i32 bits) the stamp was centred on; stars_extract writes them.
const INFO_SKYBX = 25u;
const INFO_SKYBY = 26u;
const INFO_SKYIX = 27u;
const INFO_SKYIY = 28u;

// Stages (INFO_STAGE): how far the measurement got.
const STAGE_MEASURED = 0u;
const STAGE_NO_BACKGROUND = 1u;
const STAGE_NO_PIXELS = 2u;
const STAGE_NO_POSITION = 3u;

// The FLAG_* bits of src/stars/types.ts.
const FLAG_EDGE = 1u;
const FLAG_SATURATED = 2u;
const FLAG_NAN_PIXELS = 4u;
const FLAG_FIT_FAILED = 8u;
const FLAG_MOMENTS_NOT_CONVERGED = 16u;
const FLAG_NO_SIGNAL = 128u;
const FLAG_ANNULUS_FALLBACK = 256u;
const FLAG_NO_BACKGROUND = 512u;
const FLAG_NO_PIXELS = 1024u;

// Per-star LM words (layout in the header of stars_fit.wgsl).
const LM: u32 = 80u;
// Parameters of the largest fit (the rotated Gaussian with the sky slope) and the entries of its
// packed JᵀWJ.
const MAXP = 9u;
const MAXH = 45u;
const LM_G = 9u;
const LM_TOL = 18u;
const LM_H = 27u;
const LM_LAMBDA = 72u;
const LM_CHI2 = 73u;
const LM_ITER = 74u;
const LM_STATUS = 75u;
const LM_PIXELS = 76u;
const LM_VARX = 77u;
const LM_VARY = 78u;
const LM_NOISE = 79u;
// LM_STATUS: a finished fit's stop reason (the FIT_* codes of src/stars/psfModel.ts, written by
// stars_fit), or one of the three after them: stars_extract sets a star PENDING (fit it from its
// start) or SKIP (no fit), stars_fit keeps one it has not finished ACTIVE between dispatches.
const FIT_CONVERGED = 0u;
const FIT_MAX_ITERATIONS = 1u;
const FIT_SINGULAR = 2u;
const FIT_LAMBDA_OVERFLOW = 3u;
const FIT_INVALID = 5u;
const FIT_PENDING = 100u;
const FIT_ACTIVE = 101u;
const FIT_SKIP = 102u;

const BETA_MIN = 1.5;
const BETA_MAX = 20.0;
const FWHM_PER_SIGMA = 2.3548200450309493;
const PI = 3.141592653589793;

// WGSL lets implementations assume values are finite, so NaN and ±inf pixels are found by
// their bits, never by comparisons.
fn isFiniteBits(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

fn nanValue() -> f32 {
  return bitcast<f32>(params.nanBits);
}

// Whether PSF parameters p of `model` (stamp-local, scaled) lie where the fit may go: the
// extraction's start check and the fit's trial-step check, as in psfModel.ts.
fn admissible(p: array<f32, MAXP>, model: u32) -> bool {
  let lim = f32(R + 1);
  if (!(abs(p[0]) < lim && abs(p[1]) < lim && p[2] > 0.0)) {
    return false;
  }
  let wMax = 3.0 * f32(R);
  switch (model) {
    case 0u: {
      return p[3] > 0.2 && p[4] > 0.2 && p[3] < wMax && p[4] < wMax && isFiniteBits(p[5]);
    }
    case 1u: {
      let a = p[3];
      let b = p[4];
      let c = p[5];
      let tr = a + c;
      let det = a * c - b * b;
      if (!(a > 0.0 && c > 0.0 && det > 0.0)) {
        return false;
      }
      let disc = sqrt(max(0.25 * tr * tr - det, 0.0));
      return 0.5 * tr + disc < 25.0 && 0.5 * tr - disc > 1.0 / (wMax * wMax) && isFiniteBits(p[6]);
    }
    case 2u: {
      return p[3] > 0.2 && p[3] < 2.0 * wMax && isFiniteBits(p[4]);
    }
    default: {
      return p[3] > 0.2 && p[3] < 2.0 * wMax && p[4] >= BETA_MIN && p[4] <= BETA_MAX && isFiniteBits(p[5]);
    }
  }
}

// The sky mesh grid of backgroundMap (src/stars/background.ts), as src/gpu/starsFrame.ts uploads
// it: the bicubic spline coefficients (f, f_xx/6, f_yy/6, f_xxyy/36) of each mesh, row-major,
// gridNx·gridNy vec4 for the sky level, then as many for the sky σ (a 16-byte dummy when the sky
// comes as planes).
@group(0) @binding(7) var<storage, read> skyGrid: array<vec4<f32>>;

// Sky level and sky σ of the mesh grid at pixel coordinate (x, y) (pixel centres at integers,
// any real position): the tensor-product natural cubic spline through the mesh centres, the end
// cubics extrapolated beyond them — skyAt of src/stars/background.ts in float32. nx × ny meshes
// of cellW × cellH pixels. σ is never negative; a NaN grid gives NaN.
fn gridSky(x: f32, y: f32, nx: u32, ny: u32, cellW: f32, cellH: f32) -> vec2<f32> {
  let gx = (x + 0.5) / cellW - 0.5;
  let gy = (y + 0.5) / cellH - 0.5;
  var i = 0u;
  var t = 0.0;
  if (nx > 1u) {
    i = u32(clamp(floor(gx), 0.0, f32(nx - 2u)));
    t = gx - f32(i);
  }
  var j = 0u;
  var u = 0.0;
  if (ny > 1u) {
    j = u32(clamp(floor(gy), 0.0, f32(ny - 2u)));
    u = gy - f32(j);
  }
  let i1 = min(i + 1u, nx - 1u);
  let j1 = min(j + 1u, ny - 1u);
  let a = 1.0 - t;
  let wx = vec4<f32>(a, t, a * a * a - a, t * t * t - t);
  let b = 1.0 - u;
  let wy = vec4<f32>(b, u, b * b * b - b, u * u * u - u);
  let n = nx * ny;
  var out = vec2<f32>(0.0);
  for (var p = 0u; p < 2u; p++) {
    let o = p * n;
    let c00 = skyGrid[o + j * nx + i];
    let c10 = skyGrid[o + j * nx + i1];
    let c01 = skyGrid[o + j1 * nx + i];
    let c11 = skyGrid[o + j1 * nx + i1];
    // Along x on the two mesh rows: the level and its y-curvature; then along y.
    let f0 = wx.x * c00.x + wx.y * c10.x + wx.z * c00.y + wx.w * c10.y;
    let f1 = wx.x * c01.x + wx.y * c11.x + wx.z * c01.y + wx.w * c11.y;
    let g0 = wx.x * c00.z + wx.y * c10.z + wx.z * c00.w + wx.w * c10.w;
    let g1 = wx.x * c01.z + wx.y * c11.z + wx.z * c01.w + wx.w * c11.w;
    let v = wy.x * f0 + wy.y * f1 + wy.z * g0 + wy.w * g1;
    // NaN is tested by its bits: arithmetic may assume finite values and drop it.
    out[p] = select(nanValue(), v, isFiniteBits(v));
  }
  out.y = select(out.y, max(out.y, 0.0), isFiniteBits(out.y));
  return out;
}
