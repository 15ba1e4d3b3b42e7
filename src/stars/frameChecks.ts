/**
 * Checks that need the whole frame's catalogue, run once at the end of every measurement path
 * (measureStars, the CPU batch, the GPU batch) over the finished columns: artefacts (hot pixels,
 * cosmic rays) by the minimum-width rule, centres not believed (drifted, or wide on a structured
 * sky), and crowding. One host pass on float64 columns, so every path decides alike.
 */
import { medianInPlace } from './background.js';
import { STATUS_FAILED, STATUS_FALLBACK, type FloatColumn } from './catalogue.js';
import { numberOption } from './image.js';
import { stampRadius } from './measure.js';
import { FLAG_ARTEFACT, FLAG_CENTRE_DRIFT, FLAG_CROWDED, FLAG_SATURATED, FLAG_STRUCTURED_SKY, FWHM_MAX, FWHM_MIN } from './types.js';

/** Fewest measured widths for the frame's median to stand as the reference of the width rule. */
export const MIN_WIDTHS_FOR_MEDIAN = 5;

/** Fraction of the frame's median FWHM below which a star is an artefact (detectStars' `minFwhmRatio` default). */
export const ARTEFACT_FWHM_RATIO = 0.5;

/**
 * Least peak, in sky σ, for a narrow width to mark an artefact. A width measured on a peak of a
 * few σ is noise, not evidence: moments on empty sky give any width (and different ones in
 * float32 and float64, which would make the GPU and CPU statuses differ). Pure noise puts a pixel
 * of a 3×3 above 4σ with probability 3·10⁻⁴; the ESO frame's cosmic rays peak at 6–30σ and its
 * narrowest faint detection (FWHM 1.2 px against a median of 2.7) at 4.6σ.
 */
export const ARTEFACT_MIN_PEAK_SIGMA = 4;

/**
 * Least distance (px) the centre may move from the start position before it is not believed; the
 * bound is the larger of this and the expected FWHM. Normal stars move up to 1.48 px on the test
 * fields (the start being the true position rounded to the pixel: ≤ 0.71 px, plus the noise of
 * faint stars), and a start 2.6 px off a bright star must still converge (test/stars/statuses).
 */
export const CENTRE_DRIFT_MIN = 1.5;

/**
 * Multiple of the frame's median FWHM above which an unsaturated source on a structured sky
 * (STRUCTURED_SKY_NOISE_RATIO) has its centre not believed. On the nebula test fields the faint
 * stars whose window or fit took in a blob measured 1.7–2.5 × the median and were off by up to
 * 1.3 px.
 */
export const WIDE_FWHM_RATIO = 1.5;

/**
 * Multiple of the frame's median sky σ above which a star's local sky counts as structured. The
 * nebula test fields' stars flagged measured 3.2–4.2 × (90 % of all their stars below 1.4 ×); the
 * ESO frame's wide sources (galaxies, FWHM up to 3.8 × the median) 0.99–1.03 ×, and they keep
 * their measured centres.
 */
export const STRUCTURED_SKY_NOISE_RATIO = 2;

/** The catalogue columns frameChecks reads (one row per star) and the two it updates, status and flags. */
export interface FrameCheckColumns {
  /** Measured position, zero-based px (NaN where not measured); set to the input position where the centre is not believed. */
  x: Float64Array;
  y: Float64Array;
  /** Input position (as given or detected), zero-based px: the crowding test's fallback where x, y are not finite. */
  xInput: Float64Array;
  yInput: Float64Array;
  /** Measured FWHM, px. */
  fwhm: FloatColumn;
  /** Highest sky-subtracted pixel of the 3×3 around the star, ADU. */
  peak: FloatColumn;
  /** Sky σ used for the star, ADU. */
  backgroundNoise: FloatColumn;
  /** STAR_STATUS code per star; set to failed for an artefact, to fallback for a centre not believed. */
  status: Uint32Array;
  /** FLAG_* bits per star; FLAG_ARTEFACT, FLAG_CENTRE_DRIFT, FLAG_STRUCTURED_SKY and FLAG_CROWDED are added here. */
  flags: Uint32Array;
}

/** Options of frameChecks. */
export interface FrameCheckOptions {
  /** The expected FWHM the stars were measured with (default 3): sets the stamp radius of the crowding test. */
  fwhm?: number;
}

/**
 * Flags, in place:
 * - FLAG_ARTEFACT, status 'failed': a star not already failed whose FWHM is below
 *   ARTEFACT_FWHM_RATIO × the median FWHM of the frame's stars not failed (taken over at least
 *   MIN_WIDTHS_FOR_MEDIAN of them; with fewer the rule is not applied, since a median of a
 *   handful says nothing about the PSF) and whose peak exceeds ARTEFACT_MIN_PEAK_SIGMA × its sky
 *   σ. Failed, not fallback: nothing about it is a star's measurement, though its numbers stay
 *   for inspection. The relative rule follows the frame's own PSF, so an undersampled frame
 *   (FWHM 1.4) keeps its stars where an absolute limit on the expected FWHM would not.
 * - FLAG_CENTRE_DRIFT or FLAG_STRUCTURED_SKY, status 'fallback', x and y set to the start
 *   position: a star not failed whose centre moved more than max(CENTRE_DRIFT_MIN, fwhm) from the
 *   start, or an unsaturated one wider than WIDE_FWHM_RATIO × the same median FWHM whose sky σ
 *   exceeds STRUCTURED_SKY_NOISE_RATIO × the median sky σ of the stars not failed. Like
 *   SExtractor's windowed centroid that keeps the isophotal position when it wanders: sky
 *   structure the local plane does not follow (a nebula) pulls a faint star's fit and moments
 *   towards it, and the start (detected or given) position is then the better estimate. Wide
 *   sources on a flat sky (galaxies) keep their centres. Fallback, not failed: the star is there
 *   and its flux and shape are kept; the flags say the position is the start one (xErr and yErr
 *   still describe the measured centre).
 * - FLAG_CROWDED (status unchanged): another source lies inside the star's stamp (|Δx| and |Δy|
 *   ≤ the stamp radius ceil(1.75·fwhm)); its light may bias the sky and the fit. No deblending is
 *   attempted. Every row with a position inside the frame counts as a source (artefacts and
 *   failed fits included: their light is in the stamp all the same); the measured position is
 *   used where finite, else the input one.
 */
export function frameChecks(c: FrameCheckColumns, W: number, H: number, options: FrameCheckOptions = {}): void {
  const fwhm = numberOption('frameChecks', 'fwhm', options.fwhm, 3, FWHM_MIN, FWHM_MAX);
  const n = c.status.length;
  const median = medianOf(c.fwhm, c, n);
  flagArtefacts(c, n, median);
  keepStartPositions(c, n, median, medianOf(c.backgroundNoise, c, n), fwhm);
  flagCrowded(c, n, W, H, stampRadius(fwhm));
}

/** Median of a column over the stars not failed with a finite value, NaN with fewer than MIN_WIDTHS_FOR_MEDIAN of them. */
function medianOf(v: FloatColumn, c: FrameCheckColumns, n: number): number {
  const values = new Float64Array(n);
  let m = 0;
  for (let k = 0; k < n; k++) {
    const f = v[k] as number;
    if (c.status[k] !== STATUS_FAILED && f - f === 0) values[m++] = f;
  }
  return m < MIN_WIDTHS_FOR_MEDIAN ? NaN : medianInPlace(values, m);
}

function flagArtefacts(c: FrameCheckColumns, n: number, median: number): void {
  // NaN (too few widths): no comparison holds, nothing is flagged.
  const limit = ARTEFACT_FWHM_RATIO * median;
  for (let k = 0; k < n; k++) {
    if (c.status[k] === STATUS_FAILED || !((c.fwhm[k] as number) < limit)) continue;
    if (!((c.peak[k] as number) > ARTEFACT_MIN_PEAK_SIGMA * (c.backgroundNoise[k] as number))) continue;
    c.flags[k] = (c.flags[k] as number) | FLAG_ARTEFACT;
    c.status[k] = STATUS_FAILED;
  }
}

function keepStartPositions(c: FrameCheckColumns, n: number, medianFwhm: number, medianNoise: number, fwhm: number): void {
  const drift2 = Math.max(CENTRE_DRIFT_MIN, fwhm) ** 2;
  // NaN (too few stars for the medians): no comparison holds, the structured-sky rule is off.
  const wide = WIDE_FWHM_RATIO * medianFwhm;
  const noisy = STRUCTURED_SKY_NOISE_RATIO * medianNoise;
  for (let k = 0; k < n; k++) {
    if (c.status[k] === STATUS_FAILED) continue;
    const dx = (c.x[k] as number) - (c.xInput[k] as number);
    const dy = (c.y[k] as number) - (c.yInput[k] as number);
    let flag = 0;
    if (dx * dx + dy * dy > drift2) flag = FLAG_CENTRE_DRIFT;
    else if (!((c.flags[k] as number) & FLAG_SATURATED) && (c.fwhm[k] as number) > wide && (c.backgroundNoise[k] as number) > noisy) flag = FLAG_STRUCTURED_SKY;
    if (flag === 0) continue;
    c.flags[k] = (c.flags[k] as number) | flag;
    c.status[k] = STATUS_FALLBACK;
    c.x[k] = c.xInput[k] as number;
    c.y[k] = c.yInput[k] as number;
  }
}

/**
 * Grid hash: cells of at least the stamp radius (so a neighbour is in the 3×3 cells around) and
 * about one source per cell (so a 16k² frame does not get millions of empty cells), filled by a
 * counting sort.
 */
function flagCrowded(c: FrameCheckColumns, n: number, W: number, H: number, R: number): void {
  const px = new Float64Array(n);
  const py = new Float64Array(n);
  const cellOf = new Int32Array(n).fill(-1);
  const cell = Math.max(R, Math.ceil(Math.sqrt((W * H) / Math.max(n, 1))));
  const gw = Math.ceil(W / cell);
  const gh = Math.ceil(H / cell);
  const start = new Int32Array(gw * gh + 1);
  for (let k = 0; k < n; k++) {
    let x = c.x[k] as number;
    let y = c.y[k] as number;
    if (!(x - x === 0 && y - y === 0)) {
      x = c.xInput[k] as number;
      y = c.yInput[k] as number;
    }
    if (!(x >= -0.5 && x < W - 0.5 && y >= -0.5 && y < H - 0.5)) continue;
    px[k] = x;
    py[k] = y;
    const g = Math.min(gh - 1, Math.floor((y + 0.5) / cell)) * gw + Math.min(gw - 1, Math.floor((x + 0.5) / cell));
    cellOf[k] = g;
    start[g + 1] = (start[g + 1] as number) + 1;
  }
  for (let g = 0; g < gw * gh; g++) start[g + 1] = (start[g + 1] as number) + (start[g] as number);
  const fill = start.slice(0, gw * gh);
  const members = new Int32Array(start[gw * gh] as number);
  for (let k = 0; k < n; k++) {
    const g = cellOf[k] as number;
    if (g < 0) continue;
    members[fill[g] as number] = k;
    fill[g] = (fill[g] as number) + 1;
  }
  for (let k = 0; k < n; k++) {
    const g = cellOf[k] as number;
    if (g < 0) continue;
    const gx = g % gw;
    const gy = (g - gx) / gw;
    const x = px[k] as number;
    const y = py[k] as number;
    let crowded = false;
    for (let cy = Math.max(0, gy - 1); cy <= Math.min(gh - 1, gy + 1) && !crowded; cy++) {
      for (let cx = Math.max(0, gx - 1); cx <= Math.min(gw - 1, gx + 1) && !crowded; cx++) {
        const e = start[cy * gw + cx + 1] as number;
        for (let q = start[cy * gw + cx] as number; q < e; q++) {
          const o = members[q] as number;
          if (o !== k && Math.abs((px[o] as number) - x) <= R && Math.abs((py[o] as number) - y) <= R) {
            crowded = true;
            break;
          }
        }
      }
    }
    if (crowded) c.flags[k] = (c.flags[k] as number) | FLAG_CROWDED;
  }
}
