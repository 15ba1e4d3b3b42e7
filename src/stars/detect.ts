/** Star detection: local maxima of the sky-subtracted image smoothed by the PSF (a matched filter). */
import { backgroundMap, type BackgroundMap } from './background.js';
import { checkImage, numberOption, optionsObject, type Image } from './image.js';
import { checkMap, FWHM_TO_SIGMA } from './measure.js';
import { FWHM_MAX, FWHM_MIN } from './types.js';

/**
 * Largest minimum separation, px: the peak test scans a disc of this radius around every pixel
 * above the threshold, so its cost grows with its square; four times the largest FWHM is far
 * beyond any use (a separation is a few FWHM at most).
 */
const MIN_SEPARATION_MAX = 4 * FWHM_MAX;

export interface DetectOptions {
  /** Detection threshold in σ of the smoothed image (default 5), finite and > 0. */
  threshold?: number;
  /** Expected FWHM, px (default 3): width of the smoothing Gaussian; FWHM_MIN … FWHM_MAX as for measureStars. */
  fwhm?: number;
  /** A peak must be the highest within this radius, px (default fwhm), 1 … 4·FWHM_MAX. */
  minSeparation?: number;
  /** Reuse a background map of this image. */
  background?: BackgroundMap;
}

export interface DetectedStar {
  /** Peak of the smoothed image refined by a parabola through its neighbours (zero-based px). */
  x: number;
  y: number;
  /** Integer pixel of the peak. */
  peakX: number;
  peakY: number;
  /** Sky-subtracted pixel value at the peak, ADU. */
  peak: number;
  /** Smoothed value over its noise: the matched-filter significance. */
  significance: number;
}

/**
 * Convolves the sky-subtracted image (NaN → 0) with a normalised Gaussian of the expected FWHM,
 * keeps pixels above `threshold`·σ of the smoothed image that are the maximum within
 * `minSeparation`, brightest first.
 */
export function detectStars(image: Image, detectOptions: DetectOptions = {}): DetectedStar[] {
  const options = optionsObject<DetectOptions>('detectStars', 'options', detectOptions);
  const fwhm = numberOption('detectStars', 'fwhm', options.fwhm, 3, FWHM_MIN, FWHM_MAX);
  const threshold = numberOption('detectStars', 'threshold', options.threshold, 5, 0, Infinity, { loOpen: true });
  // The default follows the FWHM, clamped into the range an explicit value must respect.
  const minSep = numberOption('detectStars', 'minSeparation', options.minSeparation, Math.max(fwhm, 1), 1, MIN_SEPARATION_MAX);
  const { width: W, height: H, data } = checkImage('detectStars', image);
  const map = options.background === undefined ? backgroundMap(image) : checkMap('detectStars', options.background, image);
  const s = fwhm * FWHM_TO_SIGMA;
  const kr = Math.max(1, Math.ceil(3 * s));
  const k1 = new Float64Array(2 * kr + 1);
  let ksum = 0;
  for (let i = -kr; i <= kr; i++) ksum += k1[i + kr] = Math.exp((-i * i) / (2 * s * s));
  let k2 = 0;
  for (let i = 0; i < k1.length; i++) {
    k1[i] = (k1[i] as number) / ksum;
    k2 += (k1[i] as number) ** 2;
  }
  // Noise of the smoothed image for white pixel noise σ: σ·sqrt(Σk²) with the 2-D kernel k = k1⊗k1.
  const noiseFactor = k2;
  const res = new Float32Array(W * H);
  for (let i = 0; i < W * H; i++) {
    const v = (data[i] as number) - (map.background[i] as number);
    res[i] = Number.isFinite(v) ? v : 0;
  }
  const tmp = new Float32Array(W * H);
  for (let y = 0; y < H; y++) {
    const row = y * W;
    for (let x = 0; x < W; x++) {
      let acc = 0;
      for (let k = -kr; k <= kr; k++) {
        const xx = Math.min(Math.max(x + k, 0), W - 1);
        acc += (k1[k + kr] as number) * (res[row + xx] as number);
      }
      tmp[row + x] = acc;
    }
  }
  const sm = new Float32Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let acc = 0;
      for (let k = -kr; k <= kr; k++) {
        const yy = Math.min(Math.max(y + k, 0), H - 1);
        acc += (k1[k + kr] as number) * (tmp[yy * W + x] as number);
      }
      sm[y * W + x] = acc;
    }
  }
  const r = Math.floor(minSep);
  const r2 = minSep * minSep;
  const found: DetectedStar[] = [];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const k = y * W + x;
      const v = sm[k] as number;
      const sigma = (map.noise[k] as number) * noiseFactor;
      if (!(v > threshold * sigma)) continue;
      let isMax = true;
      for (let dy = -r; dy <= r && isMax; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= H) continue;
        for (let dx = -r; dx <= r; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= W || (dx === 0 && dy === 0) || dx * dx + dy * dy > r2) continue;
          const u = sm[yy * W + xx] as number;
          // Ties go to the first pixel in raster order, so a flat top yields one peak.
          if (u > v || (u === v && (dy < 0 || (dy === 0 && dx < 0)))) {
            isMax = false;
            break;
          }
        }
      }
      if (!isMax) continue;
      found.push({
        x: x + parabolaOffset(sm, k, 1, x > 0 && x < W - 1),
        y: y + parabolaOffset(sm, k, W, y > 0 && y < H - 1),
        peakX: x,
        peakY: y,
        peak: res[k] as number,
        significance: v / sigma,
      });
    }
  }
  found.sort((a, b) => b.significance - a.significance);
  return found;
}

function parabolaOffset(a: Float32Array, k: number, stride: number, inside: boolean): number {
  if (!inside) return 0;
  const l = a[k - stride] as number;
  const c = a[k] as number;
  const r = a[k + stride] as number;
  const d = l - 2 * c + r;
  return d < 0 ? Math.min(Math.max((0.5 * (l - r)) / d, -0.5), 0.5) : 0;
}
