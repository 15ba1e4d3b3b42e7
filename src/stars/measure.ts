/**
 * Per-star measurement: stamp, windowed moments, PSF fit, metrics. All per-star scratch lives in
 * a `StarWorkspace` allocated once per frame; results go into the columns of a StarCatalogue
 * through one reused record, so nothing is allocated per star.
 */
import { DaofindMetrics } from './daofindKernel.js';
import { allocateStarColumns, finalCheckFlags, NO_FIT_REASON, StarCatalogue, starMessage, writeStarRow, type CatalogueMeta, type StarColumns } from './catalogue.js';
import { backgroundMap, type BackgroundMap } from './background.js';
import { frameChecks } from './frameChecks.js';
import { annulusPlane, planeScratch, type PlaneScratch } from './localSky.js';
import { checkImage, numberOption, optionsObject, showValue, type Image } from './image.js';
import {
  createPsfFitter,
  FIT_CONVERGED,
  FIT_REASONS,
  fitParams,
  MAXP,
  newFitOutcome,
  PSF_GAUSSIAN,
  PSF_GAUSSIAN_ROTATED,
  PSF_MOFFAT,
  PSF_MOFFAT_BETA,
  PSF_PARAMS,
  type FitOutcome,
  type FitReason,
  type FitStamp,
  type PsfFitter,
  type PsfModel,
} from './psfFit.js';
import {
  FLAG_ANNULUS_FALLBACK,
  FLAG_CENTRE_OUTSIDE,
  FLAG_EDGE,
  FLAG_FIT_FAILED,
  FLAG_INVALID_POSITION,
  FLAG_MOMENTS_NOT_CONVERGED,
  FLAG_NAN_PIXELS,
  FLAG_NO_BACKGROUND,
  FLAG_NO_PIXELS,
  FLAG_NO_SHAPE,
  FLAG_NO_SIGNAL,
  FLAG_OUTSIDE,
  FLAG_SATURATED,
  FWHM_MAX,
  FWHM_MIN,
  defaultSkySlope,
  type MeasureMethod,
  type MeasureOptions,
  type StarMeasurement,
} from './types.js';

export const FWHM_PER_SIGMA = 2.3548200450309493;
export const FWHM_TO_SIGMA = 1 / FWHM_PER_SIGMA;
/**
 * NaN for the per-star code. V8 reads the global `NaN` as a heap constant, and a variable or a
 * conditional that merges it with a computed double became a boxed number (16 bytes of garbage
 * per star each); a module constant is folded as a plain double.
 */
const NAN = Number.NaN;
const STAMP_RADIUS_FWHM_FACTOR = 1.75;
const MIN_STAMP_RADIUS = 4;
/** The largest stamp the GPU kernels hold in workgroup memory (31×31); FWHM_MAX (types.ts) follows from it. */
const MAX_STAMP_RADIUS = 15;
/** Moment centroid: step below which it has converged (px), and the iteration cap. */
const CENTROID_TOLERANCE = 1e-4;
const CENTROID_MAX_ITERATIONS = 40;
/** A pixel-integrated profile has the point profile's second moments plus 1/12 px² per axis. */
const PIXEL_VARIANCE = 1 / 12;

/**
 * The window and the star, both Gaussians, multiply to one of variance σp² = σs²σw²/(σs² + σw²)
 * (σs² the pixel-integrated star's, σ² + 1/12), and sampling that product at unit steps biases
 * its mean by about 4πσp²·exp(−2π²σp²)·sin(2π·phase) (Poisson summation): 0.07 px at FWHM 1.5
 * with the matched window, against 1e-7 px at FWHM 3. So the window is widened until σp² reaches
 * MIN_PRODUCT_VARIANCE (bias ≈ 0.006 px there); the price, sky-limited, is (σs² + σw²)⁴/(4σs⁴σw⁴)
 * in variance against the matched window's 1 (1.08 in σ at FWHM 1.5). Well-sampled stars keep
 * the matched window (FWHM ≥ 1.9 px); below ≈ 1.3 px the widening stops at 4σs².
 */
const MIN_PRODUCT_VARIANCE = 0.33;

/** Moment window σw for the expected star σ (see MIN_PRODUCT_VARIANCE). */
export function momentWindow(sigma0: number): number {
  const ss2 = sigma0 * sigma0 + PIXEL_VARIANCE;
  const t = MIN_PRODUCT_VARIANCE;
  const wide = ss2 > 1.25 * t ? (t * ss2) / (ss2 - t) : 4 * ss2;
  return Math.sqrt(Math.max(sigma0 * sigma0, 0.25, Math.min(wide, 4 * ss2)));
}

/**
 * Stamp radius for an expected FWHM: ceil(1.75·fwhm) clamped to [4, 15] (15×15 stamps at FWHM 4).
 * The options never ask for more than 15 (fwhm ≤ FWHM_MAX); the clamp keeps the function total.
 */
export function stampRadius(fwhm: number): number {
  const r = Math.ceil(STAMP_RADIUS_FWHM_FACTOR * fwhm);
  return Math.min(MAX_STAMP_RADIUS, Math.max(MIN_STAMP_RADIUS, Number.isFinite(r) ? r : MIN_STAMP_RADIUS));
}

/**
 * Stamp centre pixel of a coordinate inside the image. Rounds half up, as `floor(v + 0.5)` does in
 * WGSL. An int32, so that pixel indices derived from it stay integer arithmetic in V8.
 */
function centrePixel(v: number): number {
  return Math.floor(v + 0.5) | 0;
}

/**
 * Everything one star needs, allocated once per frame and reused. Layouts (side = 2R+1, row-major,
 * stamp pixel (i, j) is image pixel (ix − R + i, iy − R + j)):
 *   skyStamp[side²] local sky per pixel (ADU): the annulus plane, or the map's value at the pixel
 *   raw[side²]   pixel − sky (ADU), 0 where invalid
 *   valid[side²] 1 for a finite, in-image, unsaturated pixel
 *   fit.z/w      raw / S and the inverse variances in the same scaled units (0 = left out)
 */
export class StarWorkspace {
  readonly radius: number;
  readonly side: number;
  readonly raw: Float64Array;
  readonly skyStamp: Float64Array;
  readonly valid: Uint8Array;
  readonly fitStamp: FitStamp;
  readonly fitter: PsfFitter;
  readonly outcome: FitOutcome = newFitOutcome();
  readonly params = new Float64Array(MAXP);
  readonly ex: Float64Array;
  readonly ey: Float64Array;
  readonly annulus: PlaneScratch;
  /** Moment window σ at the expected FWHM, and that σ itself (the fit's fallback width). */
  readonly sigmaW: number;
  readonly sigma0: number;
  /** DAOFIND kernel and sharpness/roundness, run on `cut` (its arrays). */
  readonly dao: DaofindMetrics;
  /**
   * Sky-subtracted image pixels within 2·kr of the metric centre (side 4kr + 1): `cut` NaN off the
   * image or where the image is NaN, `cutZ` the same with 0 there. Every metric of
   * `computeMetrics` that looks at pixels near the centre reads them from here, so the image is
   * read once per star with one bounds check per pixel instead of once per kernel tap.
   */
  readonly cutRadius: number;
  readonly cut: Float64Array;
  readonly cutZ: Float64Array;
  readonly marginalX: Float64Array;
  readonly marginalY: Float64Array;
  // Per-star state written by the stages. Doubles travel between the stages here rather than as
  // arguments: a call V8 does not inline boxes every double it passes.
  ix = 0;
  iy = 0;
  /**
   * Local sky as a plane sky + skyBx·u + skyBy·v about the pixel (skyIx, skyIy) the stamp was
   * centred on: fitted in the annulus, or from the map (its value there and its slopes over ±R).
   * The stamp subtracts the annulus plane, or the map per pixel (ws.skyStamp); the metrics'
   * cut-out, which may reach beyond the stamp, the plane.
   */
  sky = 0;
  skyBx = 0;
  skyBy = 0;
  skyIx = 0;
  skyIy = 0;
  skySigma = 0;
  cx = 0;
  cy = 0;
  flags = 0;
  /** Deconvolved, pixel-corrected covariance from windowed moments (px²). */
  cxx = NaN;
  cyy = NaN;
  cxy = NaN;
  /** Scale S of the fit's data, the aperture sum within R and the highest valid stamp pixel (ADU). */
  scale = 1;
  sumFlux = 0;
  stampPeak = 0;
  /** Sink for the early row reads of extractStamp (kept so that the reads are not optimised away). */
  touch = 0;
  /** Whether the last stamp has invalid pixels (then `valid` is not all ones). */
  stampHoles = true;
  /** Window variance of the next windowedSums and its six sums (see there). */
  winVar = 1;
  sum0 = 0;
  sumX = 0;
  sumY = 0;
  sumXX = 0;
  sumXY = 0;
  sumYY = 0;
  /** Whether the sums are the converged centroid's last pass, and that pass's step. */
  centroidSums = false;
  lastDx = 0;
  lastDy = 0;

  constructor(fwhm: number, precision: 'f64' | 'f32') {
    // Every array below is sized from fwhm (the DAOFIND cut-out as its square).
    numberOption('StarWorkspace', 'fwhm', fwhm, 0, FWHM_MIN, FWHM_MAX, { required: true });
    this.radius = stampRadius(fwhm);
    this.side = 2 * this.radius + 1;
    const n = this.side * this.side;
    this.raw = new Float64Array(n);
    this.skyStamp = new Float64Array(n);
    this.valid = new Uint8Array(n);
    const Arr = precision === 'f32' ? Float32Array : Float64Array;
    this.fitStamp = { side: this.side, radius: this.radius, z: new Arr(n), w: new Arr(n), noise: 1, beta: NaN };
    this.fitter = createPsfFitter(precision);
    this.ex = new Float64Array(this.side);
    this.ey = new Float64Array(this.side);
    this.annulus = planeScratch(Math.ceil(1.5 * this.radius));
    this.marginalX = new Float64Array(this.side);
    this.marginalY = new Float64Array(this.side);
    this.sigma0 = fwhm * FWHM_TO_SIGMA;
    this.sigmaW = momentWindow(this.sigma0);
    const s = Math.max(fwhm, 0.5) * FWHM_TO_SIGMA;
    // photutils/DAOFIND kernel: Gaussian truncated at 1.5σ (at least radius 2), lowered to zero sum
    // and normalised so that its convolution estimates the amplitude of a fitted Gaussian.
    this.dao = new DaofindMetrics(s);
    this.cutRadius = 2 * this.dao.kr;
    this.cut = this.dao.cut;
    this.cutZ = this.dao.cutZ;
  }
}

/**
 * Fills `ws.raw`/`ws.valid` around (ws.ix, ws.iy), sets the edge/NaN/saturation flags, and in the
 * same pass takes what depends on the stamp alone: the highest valid pixel (`ws.stampPeak`, which
 * scales the fit) and the clipped marginals of the metrics (negative pixels and invalid ones
 * count as 0). Returns the number of valid pixels.
 */
function extractStamp(ws: StarWorkspace, image: Image, o: Resolved): number {
  const { width: W, height: H, data } = image;
  const R = ws.radius;
  const side = ws.side;
  const sky = ws.skyStamp;
  const saturation = o.saturation;
  const raw = ws.raw;
  const valid = ws.valid;
  const mx = ws.marginalX;
  const my = ws.marginalY;
  const x0 = ws.ix - R;
  // The columns of the stamp on the image, [iLo, iHi): bounds are checked per row, not per pixel.
  const iLo = Math.max(0, -x0);
  const iHi = Math.min(side, W - x0);
  // `valid` is all ones unless the last stamp had a hole; the usual pixel then writes nothing there.
  if (ws.stampHoles) valid.fill(1);
  let holes = 0;
  let peak = 0;
  let flags = 0;
  if (iLo > 0 || iHi < side) flags |= FLAG_EDGE;
  for (let i = 0; i < side; i++) mx[i] = 0;
  // Each stamp row is a cache miss on a large frame. Reading both ends of every row first issues
  // those misses together, so they overlap instead of each waiting behind the previous row's work.
  let touch = 0;
  if (iHi > iLo) {
    for (let j = 0; j < side; j++) {
      const y = ws.iy - R + j;
      if (y >= 0 && y < H) touch += (data[y * W + x0 + iLo] as number) + (data[y * W + x0 + iHi - 1] as number);
    }
  }
  ws.touch = touch;
  for (let j = 0; j < side; j++) {
    const y = ws.iy - R + j;
    const base = j * side;
    let row = 0;
    if (y < 0 || y >= H) {
      flags |= FLAG_EDGE;
      for (let i = 0; i < side; i++) {
        raw[base + i] = 0;
        valid[base + i] = 0;
      }
      holes += side;
      my[j] = 0;
      continue;
    }
    for (let i = 0; i < iLo; i++) {
      raw[base + i] = 0;
      valid[base + i] = 0;
    }
    for (let i = iHi; i < side; i++) {
      raw[base + i] = 0;
      valid[base + i] = 0;
    }
    holes += side - (iHi - iLo);
    const rowStart = y * W + x0;
    for (let i = iLo; i < iHi; i++) {
      const k = base + i;
      const v = data[rowStart + i] as number;
      // One test for the usual pixel; NaN, ±∞ and saturated ones fail it and are sorted out below.
      if (v < saturation && v > -Infinity) {
        const d = v - (sky[k] as number);
        raw[k] = d;
        if (d > peak) peak = d;
        // max(d, 0) without a branch: noise pixels have random signs, which a branch mispredicts.
        const dp = 0.5 * (d + Math.abs(d));
        mx[i] = (mx[i] as number) + dp;
        row += dp;
      } else {
        raw[k] = 0;
        valid[k] = 0;
        holes++;
        flags |= Number.isFinite(v) ? FLAG_SATURATED : FLAG_NAN_PIXELS;
      }
    }
    my[j] = row;
  }
  ws.flags |= flags;
  ws.stampPeak = peak;
  ws.stampHoles = holes > 0;
  return side * side - holes;
}

/**
 * Local sky of the stamp about (ws.ix, ws.iy) into ws.sky… and ws.skyStamp: the annulus plane
 * (option 'annulus'), else the map's value at every stamp pixel. False when neither gives one.
 */
function localSky(ws: StarWorkspace, image: Image, map: BackgroundMap | undefined, o: Resolved): boolean {
  let sky = NAN;
  let sigma = NAN;
  const R = ws.radius;
  const side = ws.side;
  const st = ws.skyStamp;
  if (o.annulus) {
    annulusPlane(image, ws.ix, ws.iy, R, Math.ceil(1.5 * R), ws.annulus);
    const out = ws.annulus.out;
    sky = out[0] as number;
    sigma = out[3] as number;
    if (sky - sky === 0) {
      const bx = out[1] as number;
      const by = out[2] as number;
      ws.skyBx = bx;
      ws.skyBy = by;
      for (let j = 0; j < side; j++) {
        const row = sky + by * (j - R);
        for (let i = 0; i < side; i++) st[j * side + i] = row + bx * (i - R);
      }
    } else {
      ws.flags |= FLAG_ANNULUS_FALLBACK;
    }
  }
  if (!(sky - sky === 0) && map) {
    const W = image.width;
    const H = image.height;
    const k = ws.iy * W + ws.ix;
    const bg = map.background;
    sky = bg[k] as number;
    sigma = map.noise[k] as number;
    const xl = Math.max(ws.ix - R, 0);
    const xr = Math.min(ws.ix + R, W - 1);
    const yl = Math.max(ws.iy - R, 0);
    const yr = Math.min(ws.iy + R, H - 1);
    ws.skyBx = xr > xl ? ((bg[ws.iy * W + xr] as number) - (bg[ws.iy * W + xl] as number)) / (xr - xl) : 0;
    ws.skyBy = yr > yl ? ((bg[yr * W + ws.ix] as number) - (bg[yl * W + ws.ix] as number)) / (yr - yl) : 0;
    for (let j = 0; j < side; j++) {
      const y = ws.iy - R + j;
      const yc = y < 0 ? 0 : y >= H ? H - 1 : y;
      for (let i = 0; i < side; i++) {
        // Off the image the pixel is invalid anyway; the nearest map value keeps the entry finite.
        const x = ws.ix - R + i;
        const xc = x < 0 ? 0 : x >= W ? W - 1 : x;
        st[j * side + i] = bg[yc * W + xc] as number;
      }
    }
  }
  if (!(sky - sky === 0)) return false;
  ws.sky = sky;
  ws.skyIx = ws.ix;
  ws.skyIy = ws.iy;
  ws.skySigma = Math.max(sigma - sigma === 0 ? sigma : 0, o.rnFloor);
  return true;
}

const CENTROID_OK = 0;
const CENTROID_NO_SIGNAL = 1;
const CENTROID_NOT_CONVERGED = 2;

/**
 * Window weights exp(−(i − R − c)²·k) for i < side, given f = exp(−2k). The window is a Gaussian
 * sampled at unit steps, so each weight is its neighbour times a factor q that itself changes by
 * f per step, and the factors of the two directions from the centre pixel multiply to f: two
 * exponentials per table instead of one per pixel. The recurrence runs outwards from the pixel
 * nearest the centre, where the weights are largest, so they only ever shrink (and underflow
 * gracefully far out) and the relative error stays at a few ulp.
 */
function windowTable(t: Float64Array, side: number, R: number, c: number, k: number, f: number): void {
  const m = Math.min(Math.max(Math.round(R + c), 0), side - 1);
  const d = m - R - c;
  const e0 = Math.exp(-d * d * k);
  t[m] = e0;
  let e = e0;
  const up = Math.exp(-(2 * d + 1) * k);
  let q = up;
  for (let i = m + 1; i < side; i++) {
    e *= q;
    q *= f;
    t[i] = e;
  }
  e = e0;
  // exp((2d − 1)k) = exp(−2k) / exp(−(2d + 1)k).
  q = f / up;
  for (let i = m - 1; i >= 0; i--) {
    e *= q;
    q *= f;
    t[i] = e;
  }
}

/**
 * Window-weighted sums over the stamp with the window exp(−r²/(2·ws.winVar)) centred on
 * (ws.cx, ws.cy), about that centre (dx = i − R − cx, dy = j − R − cy): Σw·I, Σw·dx·I, Σw·dy·I,
 * Σw·dx²·I, Σw·dx·dy·I, Σw·dy²·I into ws.sum0…ws.sumYY. The window is separable, so each row
 * first sums Σe_x·I, Σe_x·dx·I and Σe_x·dx²·I and only those meet the row's y weight.
 */
function windowedSums(ws: StarWorkspace): void {
  const side = ws.side;
  const R = ws.radius;
  const raw = ws.raw;
  const ex = ws.ex;
  const ey = ws.ey;
  const cx = ws.cx;
  const cy = ws.cy;
  const inv2s2 = 1 / (2 * ws.winVar);
  const f = Math.exp(-2 * inv2s2);
  windowTable(ex, side, R, cx, inv2s2, f);
  windowTable(ey, side, R, cy, inv2s2, f);
  let s = 0;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  // Three rows at a time share the loads of the window and keep nine independent sums in
  // flight; each row's sums still run in column order, so the result is that of one row at a time.
  let j = 0;
  for (; j + 2 < side; j += 3) {
    const b0 = j * side;
    const b1 = b0 + side;
    const b2 = b1 + side;
    let a0 = 0, f0 = 0, q0 = 0, a1 = 0, f1 = 0, q1 = 0, a2 = 0, f2 = 0, q2 = 0;
    for (let i = 0; i < side; i++) {
      const e = ex[i] as number;
      const dx = i - R - cx;
      const t0 = e * (raw[b0 + i] as number);
      const t1 = e * (raw[b1 + i] as number);
      const t2 = e * (raw[b2 + i] as number);
      a0 += t0; f0 += t0 * dx; q0 += t0 * dx * dx;
      a1 += t1; f1 += t1 * dx; q1 += t1 * dx * dx;
      a2 += t2; f2 += t2 * dx; q2 += t2 * dx * dx;
    }
    const dy0 = j - R - cy;
    const dy1 = j + 1 - R - cy;
    const dy2 = j + 2 - R - cy;
    const e0 = ey[j] as number;
    const e1 = ey[j + 1] as number;
    const e2 = ey[j + 2] as number;
    s += e0 * a0; sx += e0 * f0; sy += e0 * a0 * dy0; sxx += e0 * q0; sxy += e0 * f0 * dy0; syy += e0 * a0 * dy0 * dy0;
    s += e1 * a1; sx += e1 * f1; sy += e1 * a1 * dy1; sxx += e1 * q1; sxy += e1 * f1 * dy1; syy += e1 * a1 * dy1 * dy1;
    s += e2 * a2; sx += e2 * f2; sy += e2 * a2 * dy2; sxx += e2 * q2; sxy += e2 * f2 * dy2; syy += e2 * a2 * dy2 * dy2;
  }
  for (; j < side; j++) {
    const base = j * side;
    const dy = j - R - cy;
    let r0 = 0;
    let r1 = 0;
    let r2 = 0;
    for (let i = 0; i < side; i++) {
      const dx = i - R - cx;
      const t = (ex[i] as number) * (raw[base + i] as number);
      r0 += t;
      r1 += t * dx;
      r2 += t * dx * dx;
    }
    const e = ey[j] as number;
    s += e * r0;
    sx += e * r1;
    sy += e * r0 * dy;
    sxx += e * r2;
    sxy += e * r1 * dy;
    syy += e * r0 * dy * dy;
  }
  ws.sum0 = s;
  ws.sumX = sx;
  ws.sumY = sy;
  ws.sumXX = sxx;
  ws.sumXY = sxy;
  ws.sumYY = syy;
}

/**
 * SExtractor-style windowed centroid (XWIN): the fixed point c = windowed mean about c, with a
 * Gaussian window of σw. A plain windowed-mean step only removes about σw²/(σ²+σw²) of the error
 * (SExtractor doubles it for that reason); here each step is Newton's on g(c) − c instead. The
 * Jacobian needs no extra pass: for a Gaussian window ∂g/∂c is exactly the windowed covariance
 * over σw², which the same pass sums. The step is (I − C/σw²)⁻¹·(g − c), so the iteration
 * converges quadratically to the same fixed point and stops on a step below 1e-4 px as before,
 * now within far less of the fixed point than a step's size. Where that matrix is near singular
 * (a source much wider than the window) or the covariance is not one (noise), the step is the
 * doubled one; once a residual grows, which only happens on noise, plain windowed means follow.
 * On success the last pass's sums (window σw at the previous centre) stay in ws.sum… and
 * `ws.centroidSums` is set, so windowedShape starts from them instead of another pass.
 */
function windowedCentroid(ws: StarWorkspace): number {
  const s2 = ws.sigmaW * ws.sigmaW;
  const R = ws.radius;
  const cap = 0.25 * ws.side;
  let newton = true;
  let lastResidual = Infinity;
  ws.winVar = s2;
  ws.centroidSums = false;
  for (let it = 0; it < CENTROID_MAX_ITERATIONS; it++) {
    windowedSums(ws);
    const s = ws.sum0;
    if (!(s > 0)) return CENTROID_NO_SIGNAL;
    // The windowed mean's offset from the window centre: the residual g(c) − c.
    const mx = ws.sumX / s;
    const my = ws.sumY / s;
    // sqrt of the sum rather than Math.hypot, which V8 calls out of line with boxed arguments.
    const residual = Math.sqrt(mx * mx + my * my);
    let dx = mx;
    let dy = my;
    if (residual > lastResidual) newton = false;
    lastResidual = residual;
    if (newton) {
      // I − C/σw², C the windowed covariance about the windowed mean.
      const bxx = 1 - (ws.sumXX / s - mx * mx) / s2;
      const byy = 1 - (ws.sumYY / s - my * my) / s2;
      const bxy = -(ws.sumXY / s - mx * my) / s2;
      const det = bxx * byy - bxy * bxy;
      if (bxx > 0.1 && byy > 0.1 && bxx < 1 && byy < 1 && det > 0.01) {
        dx = (byy * mx - bxy * my) / det;
        dy = (bxx * my - bxy * mx) / det;
      } else {
        dx = 2 * mx;
        dy = 2 * my;
      }
    }
    // A window that runs off the stamp would follow noise; cap each move at a quarter of the stamp.
    const step = Math.sqrt(dx * dx + dy * dy);
    if (step > cap) {
      dx *= cap / step;
      dy *= cap / step;
    }
    ws.cx += dx;
    ws.cy += dy;
    if (Math.abs(ws.cx) > R || Math.abs(ws.cy) > R) return CENTROID_NO_SIGNAL;
    if (Math.abs(dx) < CENTROID_TOLERANCE && Math.abs(dy) < CENTROID_TOLERANCE) {
      ws.lastDx = dx;
      ws.lastDy = dy;
      ws.centroidSums = true;
      return CENTROID_OK;
    }
  }
  return CENTROID_NOT_CONVERGED;
}

/**
 * Adaptive windowed second moments about (cx, cy): the window is matched to the source a few
 * times, the measured moments are deconvolved from the Gaussian window, C = (M⁻¹ − I/σw²)⁻¹,
 * and the pixel's 1/12 px² is taken off. Unbiased for Gaussians, unlike plain moments of the
 * clipped stamp. Leaves NaN in ws.cxx… when the source is too faint to measure. The first
 * window is σw, whose sums the converged centroid left behind: their window sits less than
 * the centroid's last step (< 1e-4 px) from (cx, cy), and moving the moments' origin onto
 * (cx, cy) is exact.
 */
function windowedShape(ws: StarWorkspace): void {
  let sw2 = ws.sigmaW * ws.sigmaW;
  ws.cxx = NAN;
  ws.cyy = NAN;
  ws.cxy = NAN;
  for (let pass = 0; pass < 4; pass++) {
    let mxx = 0;
    let myy = 0;
    let mxy = 0;
    if (pass === 0 && ws.centroidSums) {
      const s = ws.sum0;
      // The sums are about the previous centre c − d: moments about c follow by the binomial shift.
      const dx = ws.lastDx;
      const dy = ws.lastDy;
      const mx = ws.sumX / s;
      const my = ws.sumY / s;
      mxx = ws.sumXX / s - 2 * dx * mx + dx * dx;
      myy = ws.sumYY / s - 2 * dy * my + dy * dy;
      mxy = ws.sumXY / s - dx * my - dy * mx + dx * dy;
    } else {
      ws.winVar = sw2;
      windowedSums(ws);
      const s = ws.sum0;
      if (!(s > 0)) return;
      mxx = ws.sumXX / s;
      myy = ws.sumYY / s;
      mxy = ws.sumXY / s;
    }
    const det = mxx * myy - mxy * mxy;
    if (!(det > 0 && mxx > 0)) return;
    const iw = 1 / sw2;
    const pxx = myy / det - iw;
    const pyy = mxx / det - iw;
    const pxy = -mxy / det;
    const pdet = pxx * pyy - pxy * pxy;
    if (!(pxx > 0 && pdet > 0)) {
      // The source is as wide as the window or wider: widen the window and measure again.
      sw2 *= 4;
      continue;
    }
    ws.cxx = pyy / pdet;
    ws.cyy = pxx / pdet;
    ws.cxy = -pxy / pdet;
    const matched = Math.sqrt(ws.cxx * ws.cyy - ws.cxy * ws.cxy);
    if (Math.abs(matched - sw2) < 1e-3 * sw2) break;
    sw2 = Math.min(Math.max(matched, 0.25), ws.radius * ws.radius);
  }
  if (Number.isFinite(ws.cxx)) {
    ws.cxx = Math.max(ws.cxx - PIXEL_VARIANCE, 0.01);
    ws.cyy = Math.max(ws.cyy - PIXEL_VARIANCE, 0.01);
  }
}

function insideAperture(i: number, R: number, cx: number, dy2: number, R2: number): boolean {
  const dx = i - R - cx;
  return dx * dx + dy2 <= R2;
}

/**
 * Background-subtracted sum of the valid stamp pixels within R of (cx, cy), into ws.sumFlux (a
 * double returned from a call that is not inlined would be boxed). In each row the
 * pixels inside the circle form one run of columns, found from the chord and checked against
 * the exact test at its ends, so the sum visits only those pixels, in row-major order.
 */
function apertureSum(ws: StarWorkspace): void {
  const side = ws.side;
  const R = ws.radius;
  const R2 = R * R;
  const raw = ws.raw;
  const cx = ws.cx;
  const cy = ws.cy;
  let sum = 0;
  for (let j = 0; j < side; j++) {
    const dy = j - R - cy;
    const dy2 = dy * dy;
    if (dy2 > R2) continue;
    const half = Math.sqrt(R2 - dy2);
    const a = R + cx - half;
    const b = R + cx + half;
    let lo = Math.max(Math.ceil(a), 0);
    let hi = Math.min(Math.floor(b), side - 1);
    // A chord end that falls within rounding of a pixel centre may be off by that pixel: there the
    // exact test of the per-pixel definition, dx² + dy² ≤ R² with dx = i − R − cx, settles it.
    if (Math.abs(a - Math.round(a)) < 1e-9) {
      while (lo > 0 && insideAperture(lo - 1, R, cx, dy2, R2)) lo--;
      while (lo <= hi && !insideAperture(lo, R, cx, dy2, R2)) lo++;
    }
    if (Math.abs(b - Math.round(b)) < 1e-9) {
      while (hi < side - 1 && insideAperture(hi + 1, R, cx, dy2, R2)) hi++;
      while (hi >= lo && !insideAperture(hi, R, cx, dy2, R2)) hi--;
    }
    // Invalid pixels hold 0 in raw.
    const base = j * side;
    for (let i = lo; i <= hi; i++) sum += raw[base + i] as number;
  }
  ws.sumFlux = sum;
}

/**
 * Major/minor σ and angle of the covariance [cxx, cyy, cxy] held in `m`, written back over it as
 * [σmaj, σmin, θ]. Through an array because three doubles passed to a call that V8 does not
 * inline are boxed.
 */
export function principalAxes(m: Float64Array): void {
  const cxx = m[0] as number;
  const cyy = m[1] as number;
  const cxy = m[2] as number;
  const tr = cxx + cyy;
  const disc = Math.sqrt(Math.max(0.25 * (cxx - cyy) * (cxx - cyy) + cxy * cxy, 0));
  m[0] = Math.sqrt(Math.max(0.5 * tr + disc, 0));
  m[1] = Math.sqrt(Math.max(0.5 * tr - disc, 0));
  let th = 0.5 * Math.atan2(2 * cxy, cxx - cyy);
  if (th <= -Math.PI / 2) th += Math.PI;
  m[2] = th;
}

/**
 * FWHM, eccentricity and θ of a converged fit with parameters p (psfFit's layouts, stamp units)
 * into shape[0..2], and its flux in units of the stamp scale into shape[3]. The circular Moffat
 * leaves eccentricity and θ NaN (the moments give them) and takes a fixed β from shape[4], where
 * it leaves the β it used. Through arrays, as principalAxes.
 */
export function fittedShape(model: number, p: ArrayLike<number>, shape: Float64Array, axes: Float64Array): void {
  switch (model) {
    case PSF_GAUSSIAN: {
      const sx = p[3] as number;
      const sy = p[4] as number;
      shape[0] = FWHM_PER_SIGMA * Math.sqrt(sx * sy);
      const q = Math.min(sx, sy) / Math.max(sx, sy);
      shape[1] = Math.sqrt(1 - q * q);
      shape[2] = sx >= sy ? 0 : Math.PI / 2;
      shape[3] = p[2] as number;
      return;
    }
    case PSF_GAUSSIAN_ROTATED: {
      const a = p[3] as number;
      const b = p[4] as number;
      const c = p[5] as number;
      const det = a * c - b * b;
      axes[0] = c / det;
      axes[1] = a / det;
      axes[2] = -b / det;
      principalAxes(axes);
      shape[0] = FWHM_PER_SIGMA * Math.sqrt((axes[0] as number) * (axes[1] as number));
      const q = (axes[1] as number) / (axes[0] as number);
      shape[1] = Math.sqrt(Math.max(1 - q * q, 0));
      shape[2] = axes[2] as number;
      shape[3] = p[2] as number;
      return;
    }
    default: {
      const alpha = p[3] as number;
      const beta = model === PSF_MOFFAT_BETA ? (p[4] as number) : (shape[4] as number);
      shape[4] = beta;
      shape[0] = 2 * alpha * Math.sqrt(2 ** (1 / beta) - 1);
      shape[1] = NAN;
      shape[2] = NAN;
      shape[3] = (Math.PI * alpha * alpha * (p[2] as number)) / (beta - 1);
    }
  }
}

/**
 * The shape entries no fit gave (NaN in shape[0..2]) from the windowed moments, whose covariance
 * [cxx, cyy, cxy] is in axes (principal axes on return).
 */
export function momentShape(axes: Float64Array, shape: Float64Array): void {
  principalAxes(axes);
  if (!Number.isFinite(shape[1] as number)) {
    const q = (axes[1] as number) / (axes[0] as number);
    shape[1] = Math.sqrt(Math.max(1 - q * q, 0));
    shape[2] = axes[2] as number;
  }
  if (!Number.isFinite(shape[0] as number)) shape[0] = FWHM_PER_SIGMA * Math.sqrt((axes[0] as number) * (axes[1] as number));
}

const axes = new Float64Array(3);
const shape = new Float64Array(5);

const MODEL_OF: Record<Exclude<MeasureMethod, 'moments'>, PsfModel> = {
  gaussian: PSF_GAUSSIAN,
  gaussianRotated: PSF_GAUSSIAN_ROTATED,
  moffat: PSF_MOFFAT,
};

/** A result record with every field present (one hidden class for all records). */
/**
 * Ellipticity and the σ of both axes from FWHM and eccentricity (the fit's or the moments', as
 * they were combined): q = minor/major = sqrt(1 − e²), σmaj·σmin = (FWHM/2.3548)².
 */
function ellipseAxes(res: StarMeasurement): void {
  const q = Math.sqrt(Math.max(1 - res.eccentricity * res.eccentricity, 0));
  const s = res.fwhm * FWHM_TO_SIGMA;
  const r = Math.sqrt(q);
  res.ellipticity = 1 - q;
  res.semimajorSigma = s / r;
  res.semiminorSigma = s * r;
}

/**
 * An empty record for FrameMeasurer.measure to fill (and to reuse star after star): id −1, every
 * number NaN, no iterations, status 'failed'.
 */
export function newStarMeasurement(): StarMeasurement {
  return {
    id: -1, xInput: NaN, yInput: NaN, x: NaN, y: NaN, xErr: NaN, yErr: NaN, flux: NaN, fwhm: NaN,
    eccentricity: NaN, ellipticity: NaN, semimajorSigma: NaN, semiminorSigma: NaN, theta: NaN, beta: NaN, background: NaN, backgroundNoise: NaN, snr: NaN,
    peak: NaN, sharpness: NaN, roundness1: NaN, roundness2: NaN, peakCoreRatio: NaN,
    marginalRoundness: NaN, marginalAsymmetry: NaN, laplacianSnr: NaN, chi2Reduced: NaN,
    iterations: 0, method: 'moments', fitReason: '', status: 'failed', flags: 0, message: '',
  };
}

function resetRecord(r: StarMeasurement, id: number, x: number, y: number, method: MeasureMethod): void {
  r.id = id; r.xInput = x; r.yInput = y; r.x = NAN; r.y = NAN; r.xErr = NAN; r.yErr = NAN;
  r.flux = NAN; r.fwhm = NAN; r.eccentricity = NAN; r.ellipticity = NAN;
  r.semimajorSigma = NAN; r.semiminorSigma = NAN; r.theta = NAN; r.beta = NAN;
  r.background = NAN; r.backgroundNoise = NAN; r.snr = NAN; r.peak = NAN; r.sharpness = NAN;
  r.roundness1 = NAN; r.roundness2 = NAN; r.peakCoreRatio = NAN; r.marginalRoundness = NAN;
  r.marginalAsymmetry = NAN; r.laplacianSnr = NAN; r.chi2Reduced = NAN; r.iterations = 0;
  r.method = method; r.fitReason = ''; r.status = 'failed'; r.flags = 0; r.message = '';
}

export interface Resolved {
  method: MeasureMethod;
  fwhm: number;
  gain: number;
  saturation: number;
  annulus: boolean;
  beta: number;
  rnFloor: number;
  /** The fit's model; unused for moments. */
  model: PsfModel;
  /** Fit the sky's slope with the PSF (option skySlope 'fit'). */
  slope: boolean;
}

const METHODS: readonly MeasureMethod[] = ['moments', 'gaussian', 'gaussianRotated', 'moffat'];

/** A string option: undefined gives `fallback`, anything but one of `allowed` throws naming it. */
function choice<T extends string>(name: string, value: unknown, fallback: T, allowed: readonly T[], sayUnknown = false): T {
  if (value === undefined) return fallback;
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  const list = allowed.map((a) => `'${a}'`).join(', ');
  throw new Error(`measureStars: ${sayUnknown && typeof value === 'string' ? `unknown ${name} ${showValue(value)}` : `${name} = ${showValue(value)}`} (${name} must be one of ${list})`);
}

/**
 * Checks the options (throwing with measureStars' messages: the option, the value, the range)
 * and fills in the defaults. Every path (measureStars, FrameMeasurer, measureStarsBatch on
 * either device) goes through here first, so they give the same verdict.
 */
/** `image` supplies the saturation level when the option is not given (Image.saturation, set by readFits/readImage). */
export function resolveOptions(options: MeasureOptions | undefined, image?: Image): Resolved {
  const o = optionsObject<MeasureOptions>('measureStars', 'options', options);
  const fwhm = numberOption('measureStars', 'fwhm', o.fwhm, 3, FWHM_MIN, FWHM_MAX);
  const gain = numberOption('measureStars', 'gain', o.gain, NaN, 0, Infinity, { loOpen: true });
  const rn = numberOption('measureStars', 'readNoise', o.readNoise, 0, 0, Infinity);
  const method = choice('method', o.method, 'gaussian', METHODS, true);
  // ±Infinity are meaningful here: no saturation level, or every pixel saturated.
  if (o.saturation !== undefined && (typeof o.saturation !== 'number' || Number.isNaN(o.saturation))) {
    throw new Error(`measureStars: saturation = ${showValue(o.saturation)} must be a number (ADU) or omitted`);
  }
  const imageSaturation = o.saturation === undefined ? (image as Partial<Image> | null | undefined)?.saturation : undefined;
  if (imageSaturation !== undefined && (typeof imageSaturation !== 'number' || Number.isNaN(imageSaturation))) {
    throw new Error(`measureStars: image.saturation = ${showValue(imageSaturation)} must be a number (ADU) or omitted`);
  }
  const beta = o.beta ?? NaN;
  if (o.beta !== undefined && !(typeof o.beta === 'number' && beta > 1.05 && beta < 30)) throw new Error(`measureStars: beta = ${showValue(o.beta)} must lie in (1.05, 30)`);
  const background = choice('background', o.background, 'map', ['map', 'annulus'] as const);
  choice('precision', o.precision, 'f64', ['f64', 'f32'] as const);
  const skySlope = choice('skySlope', o.skySlope, defaultSkySlope(method), ['fixed', 'fit'] as const);
  return {
    method,
    fwhm,
    gain,
    saturation: o.saturation ?? imageSaturation ?? Infinity,
    annulus: background === 'annulus',
    beta,
    rnFloor: gain > 0 ? rn / gain : 0,
    model: method === 'moments' ? PSF_GAUSSIAN : method === 'moffat' && !(beta > 0) ? PSF_MOFFAT_BETA : MODEL_OF[method],
    slope: skySlope === 'fit',
  };
}

/**
 * Whether a fitted profile of this FWHM fits its stamp of radius R. The stamp is sized for the
 * expected star (R = ceil(1.75·fwhm)); a profile wider than R has more of its light outside the
 * stamp than the stamp can tell from the sky, and such a fit is what sky structure the local
 * plane does not follow produces: on a nebula blob (test/stars/skies.test.ts) faint stars' fits
 * grew to FWHM 8–21 px for an expected 3–3.5, their centres pulled 2–14 px towards the blob.
 */
export function fitWithinStamp(fwhm: number, R: number): boolean {
  return fwhm <= R;
}

/** Starting parameters of the fit (scaled layout of psfFit.ts) from the moments. */
function initialParams(ws: StarWorkspace, o: Resolved): void {
  const model = o.model;
  const beta = o.beta;
  const p = ws.params;
  const S = ws.scale;
  const sigma0 = ws.sigma0;
  const R = ws.radius;
  let cxx = ws.cxx;
  let cyy = ws.cyy;
  let cxy = ws.cxy;
  const lo = 0.25;
  const hi = R * R;
  if (!(cxx > lo && cyy > lo && cxx < hi && cyy < hi && cxx * cyy - cxy * cxy > 0.01)) {
    cxx = sigma0 * sigma0;
    cyy = cxx;
    cxy = 0;
  }
  p[0] = ws.cx;
  p[1] = ws.cy;
  p[2] = Math.max(ws.sumFlux / S, 1);
  switch (model) {
    case PSF_GAUSSIAN:
      p[3] = Math.sqrt(cxx);
      p[4] = Math.sqrt(cyy);
      p[5] = 0;
      break;
    case PSF_GAUSSIAN_ROTATED: {
      const det = cxx * cyy - cxy * cxy;
      p[3] = cyy / det;
      p[4] = -cxy / det;
      p[5] = cxx / det;
      p[6] = 0;
      break;
    }
    default: {
      // α from the moment FWHM and the starting β: FWHM = 2α·sqrt(2^(1/β) − 1).
      const b = model === PSF_MOFFAT ? beta : 2.5;
      const fwhm = FWHM_PER_SIGMA * Math.sqrt(Math.sqrt(cxx * cyy - cxy * cxy));
      p[3] = fwhm / (2 * Math.sqrt(2 ** (1 / b) - 1));
      // The Moffat is fitted by its peak: flux = πα²A/(β − 1).
      p[2] = Math.max(((p[2] as number) * (b - 1)) / (Math.PI * (p[3] as number) ** 2), 1e-3);
      if (model === PSF_MOFFAT_BETA) {
        p[4] = b;
        p[5] = 0;
      } else {
        p[4] = 0;
      }
    }
  }
  // The stamp has the local plane subtracted already: a fitted slope starts from it, at zero.
  const np = PSF_PARAMS[model] as number;
  p[np] = 0;
  p[np + 1] = 0;
}

/** Fills `ws.fitStamp` from `ws.raw`: scaled data and inverse-variance weights. */
function prepareFitStamp(ws: StarWorkspace, o: Resolved): void {
  const gain = o.gain;
  const S = ws.scale;
  const n = ws.side * ws.side;
  const st = ws.fitStamp;
  const invS = 1 / S;
  const s2 = ws.skySigma * ws.skySigma;
  // Tiny floor so a noiseless synthetic frame still gives finite weights.
  const floor = 1e-12 * S * S;
  const poisson = gain > 0 ? 1 / gain : 0;
  const S2 = S * S;
  const z = st.z;
  const w = st.w;
  const raw = ws.raw;
  const valid = ws.valid;
  const holes = ws.stampHoles;
  for (let k = 0; k < n; k++) {
    if (holes && valid[k] === 0) {
      z[k] = 0;
      w[k] = 0;
      continue;
    }
    const v = raw[k] as number;
    z[k] = v * invS;
    // max(v, 0) without a branch, as in extractStamp.
    w[k] = S2 / (0.5 * (v + Math.abs(v)) * poisson + s2 + floor);
  }
  st.noise = Math.max(ws.skySigma * invS, 1e-6);
}

/** Measures the star near (x, y) into `res` (every field is overwritten). */
function measureOne(ws: StarWorkspace, image: Image, map: BackgroundMap | undefined, o: Resolved, id: number, x: number, y: number, res: StarMeasurement): StarMeasurement {
  resetRecord(res, id, x, y, o.method);
  const { width: W, height: H } = image;
  ws.flags = 0;
  if (!Number.isFinite(x) || !Number.isFinite(y)) {
    res.flags = FLAG_INVALID_POSITION;
    return res;
  }
  if (x < -0.5 || y < -0.5 || x >= W - 0.5 || y >= H - 0.5) {
    res.flags = FLAG_OUTSIDE;
    return res;
  }
  const R = ws.radius;
  ws.ix = centrePixel(x);
  ws.iy = centrePixel(y);
  ws.cx = x - ws.ix;
  ws.cy = y - ws.iy;
  let centroid = CENTROID_NO_SIGNAL;
  let count = 0;
  // Re-centre the stamp when the centroid lands on another pixel (a start position that is off by
  // a pixel or more); three moves are plenty for any start inside the stamp.
  for (let move = 0; move < 4; move++) {
    ws.flags &= FLAG_ANNULUS_FALLBACK;
    if (!localSky(ws, image, map, o)) {
      res.flags = ws.flags | FLAG_NO_BACKGROUND;
      return res;
    }
    count = extractStamp(ws, image, o);
    centroid = count > 0 ? windowedCentroid(ws) : CENTROID_NO_SIGNAL;
    if (centroid === CENTROID_NO_SIGNAL) break;
    const mx = Math.round(ws.cx) | 0;
    const my = Math.round(ws.cy) | 0;
    if ((mx === 0 && my === 0) || move === 3) break;
    const nx = ws.ix + mx;
    const ny = ws.iy + my;
    if (nx < 0 || ny < 0 || nx >= W || ny >= H) break;
    ws.ix = nx;
    ws.iy = ny;
    ws.cx -= mx;
    ws.cy -= my;
  }
  res.background = ws.sky;
  res.backgroundNoise = ws.skySigma;
  if (centroid === CENTROID_NO_SIGNAL) {
    res.flags = ws.flags | FLAG_NO_SIGNAL | (count === 0 ? FLAG_NO_PIXELS : 0);
    // Keep the input position so metrics still describe the place asked for.
    ws.ix = centrePixel(x);
    ws.iy = centrePixel(y);
    ws.cx = x - ws.ix;
    ws.cy = y - ws.iy;
    if (count === 0) return res;
  } else if (centroid === CENTROID_NOT_CONVERGED) {
    ws.flags |= FLAG_MOMENTS_NOT_CONVERGED;
  }
  windowedShape(ws);

  apertureSum(ws);
  const sumFlux = ws.sumFlux;

  let fitted = false;
  shape[0] = NAN;
  shape[1] = NAN;
  shape[2] = NAN;
  let flux = sumFlux;
  if (o.method !== 'moments') {
    const model = o.model;
    const S = Math.max(ws.stampPeak, 3 * ws.skySigma, 1e-30);
    ws.scale = S;
    prepareFitStamp(ws, o);
    initialParams(ws, o);
    const out = ws.outcome;
    ws.fitter.fit(model, ws.fitStamp, ws.params, out);
    res.fitReason = FIT_REASONS[out.reason] ?? 'invalidParameters';
    res.iterations = out.iterations;
    const p = ws.params;
    const np = fitParams(model, o.slope);
    // A converged fit is not believed, and the moments give position and shape, when its centre
    // left the stamp or the image (a star cut by the frame's edge pulls a profile fit outwards)
    // or when its FWHM exceeds the stamp radius (fitWithinStamp).
    const fx = ws.ix + (p[0] as number);
    const fy = ws.iy + (p[1] as number);
    shape[4] = o.beta;
    fittedShape(model, p, shape, axes);
    if (out.reason === FIT_CONVERGED && fitWithinStamp(shape[0] as number, R) && Math.abs(p[0] as number) <= R && Math.abs(p[1] as number) <= R && fx >= -0.5 && fy >= -0.5 && fx < W - 0.5 && fy < H - 0.5) {
      fitted = true;
      ws.cx = p[0] as number;
      ws.cy = p[1] as number;
      const dof = Math.max(out.pixels - np, 1);
      res.chi2Reduced = out.chi2 / dof;
      // With a gain the weights are absolute inverse variances; without one only relative.
      const scale = o.gain > 0 ? 1 : Math.max(res.chi2Reduced, 0);
      res.xErr = Math.sqrt(out.varX * scale);
      res.yErr = Math.sqrt(out.varY * scale);
      flux = (shape[3] as number) * S;
      if (model === PSF_MOFFAT || model === PSF_MOFFAT_BETA) res.beta = shape[4] as number;
    } else {
      ws.flags |= FLAG_FIT_FAILED;
      shape[0] = NAN;
      shape[1] = NAN;
      shape[2] = NAN;
    }
  }
  res.method = fitted ? o.method : 'moments';
  if (Number.isFinite(ws.cxx)) {
    axes[0] = ws.cxx;
    axes[1] = ws.cyy;
    axes[2] = ws.cxy;
    // The Moffat model is circular: its shape comes from the moments even when the fit converged.
    momentShape(axes, shape);
  }
  res.x = ws.ix + ws.cx;
  res.y = ws.iy + ws.cy;
  res.flux = flux;
  res.fwhm = shape[0] as number;
  res.eccentricity = shape[1] as number;
  res.theta = shape[2] as number;
  ellipseAxes(res);
  computeMetrics(ws, image, res, o);
  res.flags |= ws.flags;
  if (!(res.flags & FLAG_NO_SIGNAL)) res.flags |= finalCheckFlags(res.x, res.y, res.fwhm, res.flux, W, H);
  if (res.flags & (FLAG_NO_SIGNAL | FLAG_NO_SHAPE | FLAG_CENTRE_OUTSIDE)) res.status = 'failed';
  else res.status = ws.flags & FLAG_FIT_FAILED ? 'fallback' : 'ok';
  return res;
}

/**
 * Fills `ws.cut`/`ws.cutZ` with the sky-subtracted pixels within ws.cutRadius of (px, py). The
 * image, not the stamp: the metric centre follows the fit and may sit near the stamp's edge, and
 * saturated pixels, left out of the stamp, still count here.
 */
function fillCut(ws: StarWorkspace, image: Image, px: number, py: number): void {
  const { width: W, height: H, data } = image;
  const cr = ws.cutRadius;
  const cs = 2 * cr + 1;
  const cut = ws.cut;
  const cutZ = ws.cutZ;
  const b0 = ws.sky;
  const bx = ws.skyBx;
  const by = ws.skyBy;
  const u0 = px - cr - ws.skyIx;
  const v0 = py - cr - ws.skyIy;
  for (let j = 0; j < cs; j++) {
    const y = py - cr + j;
    const rowOk = y >= 0 && y < H;
    const start = y * W + px - cr;
    const rowSky = b0 + by * (v0 + j);
    for (let i = 0; i < cs; i++) {
      const x = px - cr + i;
      const v = rowOk && x >= 0 && x < W ? (data[start + i] as number) - (rowSky + bx * (u0 + i)) : NAN;
      cut[j * cs + i] = v;
      // Off the image, NaN and ±∞ pixels add nothing to the convolution (as in stars_metrics.wgsl).
      cutZ[j * cs + i] = v - v === 0 ? v : 0;
    }
  }
}

/** SNR, peak, DAOFIND sharpness/roundness, the design's marginal metrics, Laplacian SNR. */
function computeMetrics(ws: StarWorkspace, image: Image, res: StarMeasurement, o: Resolved): void {
  // Small functions again, each free of allocation (see DaofindMetrics.measure).
  snrMetric(ws, res, o);
  fillCut(ws, image, centrePixel(res.x), centrePixel(res.y));
  coreMetrics(ws, res);
  marginalMetrics(ws, res);
  daofindMetrics(ws, res);
}

/** CCD-equation SNR over an aperture of radius 1.5·FWHM. */
function snrMetric(ws: StarWorkspace, res: StarMeasurement, o: Resolved): void {
  const sig = ws.skySigma;
  const fwhmAp = Number.isFinite(res.fwhm) ? res.fwhm : o.fwhm;
  const npix = Math.PI * (1.5 * fwhmAp) ** 2;
  const F = res.flux;
  const varF = (o.gain > 0 ? Math.max(F, 0) / o.gain : 0) + npix * sig * sig;
  res.snr = varF > 0 ? F / Math.sqrt(varF) : NAN;
}

/** Peak and core sum of the 3×3 around the metric centre, and the Laplacian SNR there. */
function coreMetrics(ws: StarWorkspace, res: StarMeasurement): void {
  const sig = ws.skySigma;
  const cut = ws.cut;
  const cs = 2 * ws.cutRadius + 1;
  const c = ws.cutRadius * cs + ws.cutRadius;
  let peak = -Infinity;
  let core = 0;
  for (let dy = -1; dy <= 1; dy++) {
    for (let dx = -1; dx <= 1; dx++) {
      const v = cut[c + dy * cs + dx] as number;
      if (!(v - v === 0)) continue;
      core += v;
      if (v > peak) peak = v;
    }
  }
  res.peak = peak > -Infinity ? peak : NAN;
  res.peakCoreRatio = core > 0 ? Math.min(Math.max(peak / core, 0), 1) : NAN;
  const lap = (cut[c - 1] as number) + (cut[c + 1] as number) + (cut[c - cs] as number) + (cut[c + cs] as number) - 4 * (cut[c] as number);
  res.laplacianSnr = lap - lap === 0 && sig > 0 ? Math.max(-lap, 0) / sig : NAN;
}

/** The design's marginal roundness and asymmetry, from the clipped stamp marginals of extractStamp. */
function marginalMetrics(ws: StarWorkspace, res: StarMeasurement): void {
  const R = ws.radius;
  const side = ws.side;
  const mx = ws.marginalX;
  const my = ws.marginalY;
  let hx = 0;
  let hy = 0;
  let left = 0;
  let right = 0;
  let top = 0;
  let bottom = 0;
  for (let k = 0; k < side; k++) {
    const a = mx[k] as number;
    const b = my[k] as number;
    if (a > hx) hx = a;
    if (b > hy) hy = b;
    if (k < R) {
      left += a;
      top += b;
    } else if (k > R) {
      right += a;
      bottom += b;
    }
  }
  res.marginalRoundness = hx + hy > 0 ? (hx - hy) / (hx + hy) : NAN;
  const ax = left + right > 0 ? (right - left) / (left + right) : 0;
  const ay = top + bottom > 0 ? (bottom - top) / (top + bottom) : 0;
  res.marginalAsymmetry = Math.min(Math.sqrt(ax * ax + ay * ay), 1);
}

/** DAOFIND sharpness and roundness at the centre of `ws.cut` (photutils' definitions; see DaofindMetrics). */
function daofindMetrics(ws: StarWorkspace, res: StarMeasurement): void {
  const dao = ws.dao;
  dao.measure();
  res.sharpness = dao.sharpness;
  res.roundness1 = dao.roundness1;
  res.roundness2 = dao.roundness2;
}

/** A position to measure: zero-based, pixel centres at integers. */
export interface StarPosition {
  /** Column, px (pixel centres at integers; FITS x − 1). */
  x: number;
  /** Row, px (pixel centres at integers; FITS y − 1). */
  y: number;
}

/** Positions as records, or as two columns (detectStars' output, a catalogue's x and y, typed arrays). */
export type StarPositions = ArrayLike<StarPosition> | { x: ArrayLike<number>; y: ArrayLike<number> };

/**
 * Copies positions [from, from + count) into x and y from index `at`: one typed-array copy per
 * coordinate when the positions are typed-array columns, else a loop.
 */
export function fillPositions(positions: StarPositions, from: number, count: number, x: Float64Array, y: Float64Array, at = 0): void {
  if ('x' in positions && isNumberColumn(positions.x) && 'y' in positions && isNumberColumn(positions.y)) {
    const px = positions.x as unknown as Float64Array;
    const py = positions.y as unknown as Float64Array;
    if (px.length !== py.length) throw new Error(`positions: x has ${px.length} entries, y has ${py.length}`);
    x.set(px.subarray(from, from + count), at);
    y.set(py.subarray(from, from + count), at);
    return;
  }
  const { read } = positionReader(positions);
  const xy = new Float64Array(2);
  for (let k = 0; k < count; k++) {
    read(from + k, xy);
    x[at + k] = xy[0] as number;
    y[at + k] = xy[1] as number;
  }
}

/** Most positions one call takes (a catalogue row is ~250 bytes: 2³⁰ rows would be 250 GB). */
const MAX_POSITIONS = 2 ** 30;

/** A typed array of numbers (not a DataView, not BigInt): read and copied as it is. */
function isNumberColumn(v: unknown): boolean {
  return ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array);
}

/** A coordinate as measured: a number as it is, anything else (a string, null, a missing field) NaN. */
function coordinate(v: unknown): number {
  return typeof v === 'number' ? v : NAN;
}

/** The length of a positions list or column, checked before anything is sized from it. */
function positionCount(name: string, v: unknown): number {
  const n = (v as { length?: unknown }).length;
  if (!(typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= MAX_POSITIONS)) {
    throw new Error(`measureStars: ${name}.length = ${showValue(n)} must be an integer in [0, ${MAX_POSITIONS}]`);
  }
  return n;
}

/**
 * Number of positions and a reader of position k's coordinates into xy[0], xy[1]. The one
 * reading of positions on every path: a coordinate that is not a number — a string, null, a
 * record that is null or lacks x — reads as NaN, which gives that star an 'invalidPosition'
 * row (never a coercion: Number(null) would be 0, Number('') too).
 */
export function positionReader(positions: StarPositions): { count: number; read: (k: number, xy: Float64Array) => void } {
  if (typeof positions !== 'object' || positions === null) {
    throw new Error(`measureStars: positions = ${showValue(positions)} must be an array of { x, y } or columns { x: ArrayLike<number>, y: ArrayLike<number> }`);
  }
  if ('x' in positions && 'y' in positions && typeof positions.x === 'object' && typeof positions.y === 'object' && positions.x !== null && positions.y !== null) {
    const px = positions.x;
    const py = positions.y;
    const n = positionCount('positions.x', px);
    if (n !== positionCount('positions.y', py)) throw new Error(`positions: x has ${px.length} entries, y has ${py.length}`);
    if (isNumberColumn(px) && isNumberColumn(py)) {
      return {
        count: n,
        read: (k, xy) => {
          xy[0] = px[k] as number;
          xy[1] = py[k] as number;
        },
      };
    }
    return {
      count: n,
      read: (k, xy) => {
        xy[0] = coordinate(px[k]);
        xy[1] = coordinate(py[k]);
      },
    };
  }
  const list = positions as ArrayLike<StarPosition | null | undefined>;
  return {
    count: positionCount('positions', list),
    read: (k, xy) => {
      const p = list[k];
      const ok = typeof p === 'object' && p !== null;
      xy[0] = ok ? coordinate(p.x) : NAN;
      xy[1] = ok ? coordinate(p.y) : NAN;
    },
  };
}

/** A background map passed in: the image's size, with a Float32Array plane of as many pixels each. */
export function checkMap(where: string, map: unknown, image: Image): BackgroundMap {
  const m = map as Partial<BackgroundMap> | null;
  if (typeof m !== 'object' || m === null) throw new Error(`${where}: background = ${showValue(map)} must be a background map (backgroundMap)`);
  if (m.width !== image.width || m.height !== image.height) {
    throw new Error(`${where}: background map is ${showValue(m.width)}×${showValue(m.height)}, image is ${image.width}×${image.height}`);
  }
  const n = image.width * image.height;
  for (const plane of ['background', 'noise'] as const) {
    const v = m[plane];
    if (!(v instanceof Float32Array && v.length === n)) throw new Error(`${where}: background.${plane} = ${showValue(v)} must be a Float32Array of ${n} values (the image's pixels)`);
  }
  return m as BackgroundMap;
}

/**
 * Measures the stars of one frame: the background map, the resolved options and the per-star
 * workspace live here and are reused for every star.
 */
export class FrameMeasurer {
  /** The frame measured. */
  readonly image: Image;
  /** Its background map: the one passed in, else backgroundMap(image) with its defaults. */
  readonly map: BackgroundMap;
  /** Frame size and the method asked for, as the catalogue records them. */
  readonly meta: CatalogueMeta;
  private readonly o: Resolved;
  private readonly ws: StarWorkspace;

  /** `background` may be passed in to reuse one map for several calls on the same frame. */
  constructor(image: Image, options: MeasureOptions = {}, background?: BackgroundMap) {
    this.o = resolveOptions(options, image);
    checkImage('measureStars', image);
    this.image = image;
    this.map = background === undefined ? backgroundMap(image) : checkMap('measureStars', background, image);
    this.meta = { width: image.width, height: image.height, method: this.o.method, device: 'cpu' };
    this.ws = new StarWorkspace(this.o.fwhm, options?.precision ?? 'f64');
    this.ws.fitStamp.beta = this.o.beta;
    this.ws.fitStamp.slope = this.o.slope;
  }

  /** Measures the star near (x, y). Fills `out` when given (no allocation at all), else a new record. */
  measure(x: number, y: number, id = 0, out: StarMeasurement = newStarMeasurement()): StarMeasurement {
    const cx = coordinate(x);
    const cy = coordinate(y);
    measureOne(this.ws, this.image, this.map, this.o, id, cx, cy, out);
    const reason = out.fitReason === '' ? NO_FIT_REASON : FIT_REASONS.indexOf(out.fitReason as FitReason);
    out.message = starMessage(out.flags, reason, cx, cy, this.meta);
    return out;
  }

  /** Measures positions [from, to) of `read` into rows [from, to) of `columns`. */
  measureRows(read: (k: number, xy: Float64Array) => void, from: number, to: number, columns: StarColumns, row = from): void {
    const rec = newStarMeasurement();
    const xy = new Float64Array(2);
    for (let k = from; k < to; k++) {
      read(k, xy);
      measureOne(this.ws, this.image, this.map, this.o, k, xy[0] as number, xy[1] as number, rec);
      writeStarRow(columns, row + k - from, rec);
    }
  }
}

/** Measures every position: a catalogue with one row per input, in input order, each with a status. */
export function measureStars(image: Image, positions: StarPositions, options: MeasureOptions = {}, background?: BackgroundMap): StarCatalogue {
  const { count, read } = positionReader(positions);
  const m = new FrameMeasurer(image, options, background);
  const columns = allocateStarColumns(count);
  m.measureRows(read, 0, count, columns);
  frameChecks(columns, image.width, image.height, { fwhm: options.fwhm });
  return new StarCatalogue(count, columns, m.meta);
}

