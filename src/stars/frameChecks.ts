/**
 * Checks that need the whole frame's catalogue, run once at the end of every measurement path
 * (measureStars, the CPU batch, the GPU batch) over the finished columns: artefacts (hot pixels,
 * cosmic rays) by the minimum-width rule, and crowding.
 */
import { STATUS_FAILED, type FloatColumn } from './catalogue.js';
import { numberOption } from './image.js';
import { stampRadius } from './measure.js';
import { FLAG_ARTEFACT, FLAG_CROWDED, FWHM_MAX, FWHM_MIN } from './types.js';

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

/** The catalogue columns frameChecks reads (one row per star) and the two it updates, status and flags. */
export interface FrameCheckColumns {
  /** Measured position, zero-based px (NaN where not measured). */
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
  /** STAR_STATUS code per star; set to failed for an artefact. */
  status: Uint32Array;
  /** FLAG_* bits per star; FLAG_ARTEFACT and FLAG_CROWDED are added here. */
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
 * - FLAG_CROWDED (status unchanged): another source lies inside the star's stamp (|Δx| and |Δy|
 *   ≤ the stamp radius ceil(1.75·fwhm)); its light may bias the sky and the fit. No deblending is
 *   attempted. Every row with a position inside the frame counts as a source (artefacts and
 *   failed fits included: their light is in the stamp all the same); the measured position is
 *   used where finite, else the input one.
 */
export function frameChecks(c: FrameCheckColumns, W: number, H: number, options: FrameCheckOptions = {}): void {
  const fwhm = numberOption('frameChecks', 'fwhm', options.fwhm, 3, FWHM_MIN, FWHM_MAX);
  const n = c.status.length;
  flagArtefacts(c, n);
  flagCrowded(c, n, W, H, stampRadius(fwhm));
}

function flagArtefacts(c: FrameCheckColumns, n: number): void {
  const widths = new Float64Array(n);
  let m = 0;
  for (let k = 0; k < n; k++) {
    const f = c.fwhm[k] as number;
    if (c.status[k] !== STATUS_FAILED && f - f === 0) widths[m++] = f;
  }
  if (m < MIN_WIDTHS_FOR_MEDIAN) return;
  const w = widths.subarray(0, m).sort();
  const h = m >> 1;
  const median = m & 1 ? (w[h] as number) : 0.5 * ((w[h - 1] as number) + (w[h] as number));
  const limit = ARTEFACT_FWHM_RATIO * median;
  for (let k = 0; k < n; k++) {
    if (c.status[k] === STATUS_FAILED || !((c.fwhm[k] as number) < limit)) continue;
    if (!((c.peak[k] as number) > ARTEFACT_MIN_PEAK_SIGMA * (c.backgroundNoise[k] as number))) continue;
    c.flags[k] = (c.flags[k] as number) | FLAG_ARTEFACT;
    c.status[k] = STATUS_FAILED;
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
