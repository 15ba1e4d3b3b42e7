/**
 * The local sky of one star as a plane B + Bx·u + By·v (u, v pixel offsets from the stamp's
 * centre pixel), fitted robustly in the annulus rIn ≤ r ≤ rOut: a sky gradient of g ADU/px left
 * in a stamp as a constant shifts a centre by about 8πσ⁴·g/F, so the slope is measured and
 * subtracted per pixel rather than absorbed.
 */
import { MAD_TO_SIGMA, medianInPlace } from './background.js';
import { numberOption, type Image } from './image.js';

/** Largest annulus outer radius (px) a scratch can be made for. */
const ANNULUS_MAX = 256;
/** Clipping threshold (σ) and the most fits; the kept set usually settles after two or three. */
const PLANE_KAPPA = 3;
export const PLANE_ITERATIONS = 5;
/** Fewer usable pixels than this and the annulus gives no sky. */
const MIN_PIXELS = 10;

/** Work arrays of `annulusPlane`, one entry per annulus pixel (made once by `planeScratch`). */
export interface PlaneScratch {
  /** Pixel offsets from the centre pixel, x. */
  u: Float64Array;
  /** Pixel offsets from the centre pixel, y. */
  v: Float64Array;
  /** Pixel values, ADU. */
  z: Float64Array;
  /** 1 while a pixel is kept by the clipping. */
  keep: Uint8Array;
  /** Residuals for the MAD. */
  r: Float64Array;
  /** [B, Bx, By, σ, pixels kept]. */
  out: Float64Array;
}

/** Scratch for `annulusPlane`, sized for the outer radius (0 … 256 px). */
export function planeScratch(rOut: number): PlaneScratch {
  const side = 2 * Math.ceil(numberOption('planeScratch', 'rOut', rOut, 0, 0, ANNULUS_MAX, { required: true })) + 1;
  const n = side * side;
  return { u: new Float64Array(n), v: new Float64Array(n), z: new Float64Array(n), keep: new Uint8Array(n), r: new Float64Array(n), out: new Float64Array(5) };
}

/**
 * Sky plane from the finite pixels with rIn ≤ r ≤ rOut around the integer pixel (ix, iy):
 * starting from the median level, repeatedly the MAD σ of the residuals about the current plane,
 * the pixels within 3σ of it kept, and the plane refitted to them by least squares, until the kept
 * set no longer changes. Writes [B, Bx, By, σ, count] into `s.out` (σ the MAD σ of the final
 * residuals); with fewer than 10 pixels B, Bx, By and σ are NaN. A slope is fitted only when the
 * kept pixels span both axes (an annulus cut by two frame edges may not): otherwise it is 0.
 */
export function annulusPlane(image: Image, ix: number, iy: number, rIn: number, rOut: number, s: PlaneScratch): void {
  const { width: W, height: H, data } = image;
  const ro = Math.ceil(rOut);
  if (!((2 * ro + 1) ** 2 <= s.z.length)) throw new Error(`annulusPlane: rOut = ${String(rOut)} is larger than its scratch (planeScratch) was made for`);
  const rin2 = rIn * rIn;
  const rout2 = rOut * rOut;
  const { u, v, z, keep, r, out } = s;
  let n = 0;
  for (let dy = -ro; dy <= ro; dy++) {
    const y = iy + dy;
    if (y < 0 || y >= H) continue;
    for (let dx = -ro; dx <= ro; dx++) {
      const x = ix + dx;
      const r2 = dx * dx + dy * dy;
      if (x < 0 || x >= W || r2 < rin2 || r2 > rout2) continue;
      const val = data[y * W + x] as number;
      if (val - val !== 0) continue;
      u[n] = dx;
      v[n] = dy;
      z[n] = val;
      keep[n] = 1;
      n++;
    }
  }
  out[4] = n;
  if (n < MIN_PIXELS) {
    out[0] = NaN;
    out[1] = NaN;
    out[2] = NaN;
    out[3] = NaN;
    return;
  }
  for (let k = 0; k < n; k++) r[k] = z[k] as number;
  // The sums are taken about the median level m0, so that float32 (the GPU's twin) keeps them precise.
  const m0 = medianInPlace(r, n);
  let b0 = m0;
  let bx = 0;
  let by = 0;
  let sigma = NaN;
  let kept = n;
  for (let it = 0; it <= PLANE_ITERATIONS; it++) {
    for (let k = 0; k < n; k++) r[k] = Math.abs((z[k] as number) - (b0 + bx * (u[k] as number) + by * (v[k] as number)));
    sigma = MAD_TO_SIGMA * medianInPlace(r, n);
    if (it === PLANE_ITERATIONS) break;
    const lim = PLANE_KAPPA * sigma;
    let changed = it === 0;
    // Normal equations of z = B + Bx·u + By·v over the kept pixels.
    let s1 = 0, su = 0, sv = 0, suu = 0, suv = 0, svv = 0, sz = 0, suz = 0, svz = 0;
    kept = 0;
    for (let k = 0; k < n; k++) {
      const uk = u[k] as number, vk = v[k] as number, zk = (z[k] as number) - m0;
      const res = Math.abs(zk - (b0 - m0 + bx * uk + by * vk));
      const keepK = sigma > 0 ? res <= lim : true;
      if ((keep[k] === 1) !== keepK) changed = true;
      keep[k] = keepK ? 1 : 0;
      if (!keepK) continue;
      kept++;
      s1 += 1; su += uk; sv += vk; suu += uk * uk; suv += uk * vk; svv += vk * vk;
      sz += zk; suz += uk * zk; svz += vk * zk;
    }
    if (!changed || kept < MIN_PIXELS) break;
    // Centre the offsets on the kept pixels' mean so the 3×3 system is well conditioned.
    const mu = su / s1, mv = sv / s1, mz = sz / s1;
    const cuu = suu - su * mu, cuv = suv - su * mv, cvv = svv - sv * mv;
    const cuz = suz - su * mz, cvz = svz - sv * mz;
    const det = cuu * cvv - cuv * cuv;
    if (det > 1e-6 * (cuu * cvv + 1e-30) && cuu > 0 && cvv > 0) {
      bx = (cvv * cuz - cuv * cvz) / det;
      by = (cuu * cvz - cuv * cuz) / det;
    } else {
      bx = 0;
      by = 0;
    }
    b0 = m0 + mz - bx * mu - by * mv;
  }
  out[0] = b0;
  out[1] = bx;
  out[2] = by;
  out[3] = sigma;
  out[4] = kept;
}
