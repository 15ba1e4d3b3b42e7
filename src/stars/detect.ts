/**
 * Star detection: local maxima of the sky-subtracted image smoothed by the PSF (a matched
 * filter), a minimum-width rule against hot pixels and cosmic rays, and DAOFIND's sharpness and
 * roundness cuts on request.
 */
import { backgroundGrid, checkGrid, medianInPlace, skyRow, skyRows, skySplines, type BackgroundMap, type SkyGrid, type SkySplines } from './background.js';
import { DetectShape } from './detectShape.js';
import { ARTEFACT_FWHM_RATIO, MIN_WIDTHS_FOR_MEDIAN } from './frameChecks.js';
import { checkImage, numberOption, optionsObject, showValue, type Image } from './image.js';
import { checkMap, FWHM_TO_SIGMA } from './measure.js';
import { FWHM_MAX, FWHM_MIN } from './types.js';

/**
 * Largest minimum separation, px: four times the largest FWHM is far beyond any use (a
 * separation is a few FWHM at most).
 */
const MIN_SEPARATION_MAX = 4 * FWHM_MAX;

/**
 * Bits of `DetectedStar.rejected`: why detection left a candidate out (kept only with
 * `keepRejected`). This one: sharpness outside (sharplo, sharphi) or NaN, with `daofind`.
 */
export const REJECT_SHARPNESS = 1;
/** Bit of `DetectedStar.rejected`: roundness1 or roundness2 outside (roundlo, roundhi) or NaN, with `daofind`. */
export const REJECT_ROUNDNESS = 2;
/** Narrower than `minFwhmRatio` × the frame's median width: a hot pixel or a cosmic ray. */
export const REJECT_NARROW = 4;

/** Options of detectStars, each checked before use (an error names it, its value and its range). */
export interface DetectOptions {
  /**
   * Detection threshold in σ of the smoothed image (default 5), finite and > 0: as SEP's `thresh`
   * with `err` and its matched filter; photutils DAOStarFinder's `threshold` is in image units.
   */
  threshold?: number;
  /** Expected FWHM, px (default 3): width of the smoothing Gaussian (photutils' fwhm); FWHM_MIN … FWHM_MAX as for measureStars. */
  fwhm?: number;
  /**
   * A peak is kept when no higher peak lies within this radius, px (photutils' min_separation;
   * default max(fwhm, 1)), 1 … 4·FWHM_MAX.
   */
  minSeparation?: number;
  /**
   * The sky of this image: a background map (backgroundMap: the planes are read), or its mesh
   * grid (backgroundGrid, backgroundGridBatch: the spline is evaluated row by row as the frame
   * is smoothed, with no full-frame plane). Default: the grid is computed here. The detections
   * are the same, to the bit, from a map and from the grid it was made from.
   */
  background?: BackgroundMap | SkyGrid;
  /**
   * Apply DAOFIND's sharpness and roundness cuts (default false). They are a point-source
   * selection more than an artefact rule: with photutils' limits they reject 14 of the 69 SEP
   * sources of the ESO frame, one cosmic ray and 13 extended, blended or edge-cut sources, so
   * they are off unless asked for; the minimum-width rule removes hot pixels and cosmic rays.
   */
  daofind?: boolean;
  /**
   * With `daofind`: lower sharpness bound (photutils DAOStarFinder's sharplo, default 0.2); a
   * candidate is kept when sharplo < sharpness < sharphi. ±Infinity disables a bound.
   */
  sharplo?: number;
  /** With `daofind`: upper sharpness bound (photutils' sharphi, default 1). */
  sharphi?: number;
  /**
   * With `daofind`: lower bound on roundness1 and roundness2 alike (photutils' roundlo, default
   * −1); both must lie strictly between roundlo and roundhi. ±Infinity disables a bound.
   */
  roundlo?: number;
  /** With `daofind`: upper bound on roundness1 and roundness2 (photutils' roundhi, default 1). */
  roundhi?: number;
  /**
   * Minimum-width rule: a candidate whose windowed-moment FWHM is below this fraction of the
   * median over the frame's candidates (or of the expected FWHM with fewer than
   * MIN_WIDTHS_FOR_MEDIAN of them: a median of two or three is mostly its outliers) is a hot
   * pixel or a cosmic ray (default 0.5, measureStars' artefact rule; 0 disables), 0 … 1.
   */
  minFwhmRatio?: number;
  /** Return the rejected candidates too, with `rejected` ≠ 0 (default false: accepted only). */
  keepRejected?: boolean;
}

/**
 * One detection. Positions are zero-based px with pixel centres at integers (FITS = ours + 1);
 * photutils' xcentroid/ycentroid and SEP's x/y are centroids, these are refined peaks.
 */
export interface DetectedStar {
  /** Column of the smoothed image's peak, refined by a parabola through its neighbours (within ±0.5 px of peakX). */
  x: number;
  /** Row of the smoothed image's peak, refined as x. */
  y: number;
  /** Integer pixel column of the peak. */
  peakX: number;
  /** Integer pixel row of the peak. */
  peakY: number;
  /** Sky-subtracted pixel value at the peak, ADU. */
  peak: number;
  /** Smoothed value over its noise: the matched-filter significance. */
  significance: number;
  /** DAOFIND numbers at the peak pixel (photutils DAOStarFinder definitions; NaN where undefined): sharpness. */
  sharpness: number;
  /** DAOFIND's symmetry roundness (photutils' roundness1): 0 for a round star; NaN where undefined. */
  roundness1: number;
  /** DAOFIND's marginal-fit roundness (photutils' roundness2), 2(hx − hy)/(hx + hy): 0 for a round star; NaN where undefined. */
  roundness2: number;
  /** FWHM from Gaussian-windowed second moments (window σ = the expected one, ≥ 1 px), px; NaN when not measurable. */
  fwhm: number;
  /** 0 for an accepted star, else REJECT_* bits (only seen with `keepRejected`). */
  rejected: number;
}

/** Growable typed-array list of peaks: integer pixel, refined (x, y), smoothed value and significance. */
class PeakList {
  n = 0;
  pix = new Int32Array(1024);
  x = new Float64Array(1024);
  y = new Float64Array(1024);
  value = new Float64Array(1024);
  sig = new Float64Array(1024);

  push(k: number, x: number, y: number, value: number, sig: number): void {
    if (this.n === this.pix.length) {
      const grow = <T extends Int32Array | Float64Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(2 * a.length);
        b.set(a);
        return b;
      };
      this.pix = grow(this.pix);
      this.x = grow(this.x);
      this.y = grow(this.y);
      this.value = grow(this.value);
      this.sig = grow(this.sig);
    }
    this.pix[this.n] = k;
    this.x[this.n] = x;
    this.y[this.n] = y;
    this.value[this.n] = value;
    this.sig[this.n] = sig;
    this.n++;
  }
}

/**
 * Convolves the sky-subtracted image (NaN → 0, the frame mirrored at its edges) with a Gaussian
 * of the expected FWHM and divides by the folded kernel's norm √Σk², so that white sky noise of σ
 * gives σ at every pixel, border included. Keeps pixels above `threshold`·σ that are the maximum
 * within `minSeparation`, then applies the minimum-width rule (and, with `daofind`, the sharpness
 * and roundness cuts); brightest first.
 */
export function detectStars(image: Image, detectOptions: DetectOptions = {}): DetectedStar[] {
  const options = optionsObject<DetectOptions>('detectStars', 'options', detectOptions);
  const fwhm = numberOption('detectStars', 'fwhm', options.fwhm, 3, FWHM_MIN, FWHM_MAX);
  const threshold = numberOption('detectStars', 'threshold', options.threshold, 5, 0, Infinity, { loOpen: true });
  // The default follows the FWHM, clamped into the range an explicit value must respect.
  const minSep = numberOption('detectStars', 'minSeparation', options.minSeparation, Math.max(fwhm, 1), 1, MIN_SEPARATION_MAX);
  const sharplo = boundOption('sharplo', options.sharplo, 0.2);
  const sharphi = boundOption('sharphi', options.sharphi, 1);
  const roundlo = boundOption('roundlo', options.roundlo, -1);
  const roundhi = boundOption('roundhi', options.roundhi, 1);
  const minFwhmRatio = numberOption('detectStars', 'minFwhmRatio', options.minFwhmRatio, ARTEFACT_FWHM_RATIO, 0, 1);
  for (const name of ['daofind', 'keepRejected'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'boolean') throw new Error(`detectStars: ${name} = ${showValue(options[name])} must be true or false`);
  }
  const daofind = options.daofind === true;
  const { width: W, height: H, data } = checkImage('detectStars', image);
  const sky = skySource(options.background, image);
  const peaks = separatedPeaks(matchedFilterPeaks(data, sky, W, H, fwhm * FWHM_TO_SIGMA, threshold), W, H, minSep);

  const shape = new DetectShape(fwhm);
  const R = shape.radius;
  const cs = 2 * R + 1;
  const skyCut = shape.skyCut;
  const rowBuf = new Float32Array(cs);
  const found: DetectedStar[] = [];
  for (let i = 0; i < peaks.n; i++) {
    const k = peaks.pix[i] as number;
    const px = k % W;
    const py = (k - px) / W;
    const x = peaks.x[i] as number;
    const y = peaks.y[i] as number;
    // The sky of the candidate's cut-out (its pixels inside the frame), from the planes or the spline.
    const xa = Math.max(0, px - R);
    const xb = Math.min(W, px + R + 1);
    for (let yy = Math.max(0, py - R), ye = Math.min(H, py + R + 1); yy < ye; yy++) {
      const o = (yy - py + R) * cs + xa - px + R;
      if (sky.planes !== null) {
        const plane = sky.planes.background;
        for (let xx = xa, q = o; xx < xb; xx++, q++) skyCut[q] = plane[yy * W + xx] as number;
      } else {
        skyRow(sky.splines, 'background', yy, rowBuf, xa, xb);
        for (let xx = 0; xx < xb - xa; xx++) skyCut[o + xx] = rowBuf[xx] as number;
      }
    }
    shape.measure(data, W, H, px, py, x, y);
    let rejected = 0;
    // NaN fails a cut, as in photutils: a candidate without the number is no DAOFIND star.
    if (daofind && !(shape.sharpness > sharplo && shape.sharpness < sharphi)) rejected |= REJECT_SHARPNESS;
    if (daofind && !(shape.roundness1 > roundlo && shape.roundness1 < roundhi && shape.roundness2 > roundlo && shape.roundness2 < roundhi)) rejected |= REJECT_ROUNDNESS;
    found.push({
      x,
      y,
      peakX: px,
      peakY: py,
      peak: (data[k] as number) - (skyCut[R * cs + R] as number),
      significance: peaks.sig[i] as number,
      sharpness: shape.sharpness,
      roundness1: shape.roundness1,
      roundness2: shape.roundness2,
      fwhm: shape.fwhm,
      rejected,
    });
  }
  if (minFwhmRatio > 0) {
    // The reference width comes from the candidates the DAOFIND cuts (if any) kept: mostly stars.
    const widths = new Float64Array(found.length);
    let n = 0;
    for (const d of found) if (d.rejected === 0 && d.fwhm - d.fwhm === 0) widths[n++] = d.fwhm;
    const reference = n >= MIN_WIDTHS_FOR_MEDIAN ? medianInPlace(widths, n) : fwhm;
    // A NaN width (no measurable moments) is not evidence of an artefact: the DAOFIND cuts judge it.
    for (const d of found) if (d.fwhm < minFwhmRatio * reference) d.rejected |= REJECT_NARROW;
  }
  const out = options.keepRejected === true ? found : found.filter((d) => d.rejected === 0);
  out.sort((a, b) => b.significance - a.significance);
  return out;
}

/**
 * Where detection reads the sky: the planes of a map, or the spline of a mesh grid (given, or
 * computed from the image), evaluated row by row.
 */
type SkySource = { planes: BackgroundMap; splines: null } | { planes: null; splines: SkySplines };

function skySource(background: unknown, image: Image): SkySource {
  if (background === undefined) return { planes: null, splines: skySplines(backgroundGrid(image)) };
  if (typeof background === 'object' && background !== null && 'nx' in background) {
    const g = checkGrid('detectStars', background);
    if (g.width !== image.width || g.height !== image.height) throw new Error(`detectStars: background grid is of a ${g.width}×${g.height} frame, image is ${image.width}×${image.height}`);
    return { planes: null, splines: skySplines(g) };
  }
  return { planes: checkMap('detectStars', background, image), splines: null };
}

function boundOption(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value)) throw new Error(`detectStars: ${name} = ${showValue(value)} must be a number (±Infinity disables the bound)`);
  return value;
}

/**
 * (data − sky) ⊛ g for the separable Gaussian g of σ `s`, into `sm`, in units of the white sky
 * noise: non-finite pixels count as 0 and the frame is mirrored at its edges (…, 2, 1 | 0, 1, 2,
 * …), so a star on the edge keeps its peak. A mirrored pixel enters twice, which raises the
 * noise of the sum near the edge (1.5× for a clamped edge): each border column and row is divided
 * by the norm √(Σ w²) of the folded weights w there, which separates like the kernel, so white
 * sky noise of σ gives σ at every pixel. Row pass over a padded row buffer, column pass over whole
 * rows of a ring: no inner loop tests a bound, and every pass reads its rows in order. Returns
 * the peaks above threshold × noise, found as the rows come out (the smoothed frame is never
 * stored: three rows of it are all the 3×3 peak test needs). The sky and its σ are read from a
 * map's planes, or evaluated from a grid's spline a row at a time (skyRows: the same numbers).
 */
function matchedFilterPeaks(data: Float32Array, src: SkySource, W: number, H: number, s: number, threshold: number): PeakList {
  // Truncated at 2σ: the matched filter keeps erf(2)² = 99.1 % of its S/N² (99.5 % of its S/N)
  // for 7 taps where 3σ would take 11 (s = 1.5 px).
  const kr = Math.max(1, Math.ceil(2 * s));
  const taps = kr + 1;
  // Half kernel: g[0] the centre, g[j] the weight at ±j, with Σg² = 1 over the full kernel.
  const g = new Float64Array(taps);
  let g2 = 0;
  for (let j = 0; j < taps; j++) {
    g[j] = Math.exp((-j * j) / (2 * s * s));
    g2 += (j === 0 ? 1 : 2) * (g[j] as number) ** 2;
  }
  for (let j = 0; j < taps; j++) g[j] = (g[j] as number) / Math.sqrt(g2);
  const edgeX = borderFactors(g, W);
  const edgeY = borderFactors(g, H);
  // The row-smoothed rows live in a ring of 2kr + 1 rows (a mirrored row is one of them): a few
  // hundred kB that stay in cache, where a full-frame intermediate would not.
  const nr = 2 * kr + 1;
  const ring = new Float64Array(nr * W);
  const row = new Float64Array(W + 2 * kr);
  const acc = new Float64Array(W);
  // Offsets of the pair of taps ±j: into `row` for the row pass, row starts in `ring` for the column pass.
  const rowLo = new Int32Array(taps);
  const rowHi = new Int32Array(taps);
  for (let j = 1; j < taps; j++) {
    rowLo[j] = kr - j;
    rowHi[j] = kr + j;
  }
  const colLo = new Int32Array(taps);
  const colHi = new Int32Array(taps);
  const g0 = g[0] as number;
  const nb = Math.min(kr, W);
  // Smoothed rows y − 2, y − 1, y in slots (y mod 3); a row is searched for peaks once the row below it is done.
  const sm = new Float64Array(3 * W);
  const peaks = new PeakList();
  // From a grid, both planes of row y are evaluated as the row is read (one sweep steps the two
  // cubics in about the time of one): the sky is used at once, σ waits in a ring of kr + 2 rows
  // until its row is searched (row y − kr − 1).
  const skyBuf = src.planes === null ? new Float32Array(W) : null;
  const nn = kr + 2;
  const noiseRing = src.planes === null ? new Float32Array(nn * W) : null;
  const noiseSlots = noiseRing === null ? [] : Array.from({ length: nn }, (_, i) => noiseRing.subarray(i * W, (i + 1) * W));
  const searchRow = (yr: number): void => {
    if (src.planes !== null) rowPeaks(sm, src.planes.noise, yr * W, W, H, yr, threshold, peaks);
    else rowPeaks(sm, noiseRing as Float32Array, (yr % nn) * W, W, H, yr, threshold, peaks);
  };
  for (let y = 0; y < H + kr; y++) {
    if (y < H) {
      const base = y * W;
      let sky: Float32Array;
      let so: number;
      if (src.planes !== null) {
        sky = src.planes.background;
        so = base;
      } else {
        sky = skyBuf as Float32Array;
        so = 0;
        skyRows(src.splines, y, sky, noiseSlots[y % nn] as Float32Array);
      }
      for (let x = 0; x < W; x++) {
        const v = (data[base + x] as number) - (sky[so + x] as number);
        const z = v - v === 0 ? v : 0;
        row[x + kr] = z;
        acc[x] = g0 * z;
      }
      for (let j = 1; j <= kr; j++) {
        row[kr - j] = row[kr + mirror(-j, W)] as number;
        row[kr + W - 1 + j] = row[kr + mirror(W - 1 + j, W)] as number;
      }
      for (let j = 1; j < taps; ) j += addTapPairs(acc, row, g, rowLo, rowHi, j, W);
      for (let x = 0; x < nb; x++) {
        acc[x] = (acc[x] as number) * (edgeX[x] as number);
        acc[W - 1 - x] = (acc[W - 1 - x] as number) * (edgeX[W - 1 - x] as number);
      }
      ring.set(acc, (y % nr) * W);
    }
    const yc = y - kr;
    if (yc < 0) continue;
    const centre = (yc % nr) * W;
    for (let x = 0; x < W; x++) acc[x] = g0 * (ring[centre + x] as number);
    for (let j = 1; j < taps; j++) {
      colLo[j] = (mirror(yc - j, H) % nr) * W;
      colHi[j] = (mirror(yc + j, H) % nr) * W;
    }
    for (let j = 1; j < taps; ) j += addTapPairs(acc, ring, g, colLo, colHi, j, W);
    const ny = edgeY[yc] as number;
    const slot = (yc % 3) * W;
    for (let x = 0; x < W; x++) sm[slot + x] = (acc[x] as number) * ny;
    if (yc >= 1) searchRow(yc - 1);
  }
  searchRow(H - 1);
  return peaks;
}

/**
 * The pixels of row y above threshold × noise that are the highest of their 3×3 neighbourhood
 * (ties to the first in raster order, so a flat top yields one peak), with the position refined
 * by a parabola through the neighbours along each axis. `sm` holds rows y − 1, y, y + 1 in slots
 * (row mod 3); rows beyond the frame are absent. The sky σ of row y is noise[noiseOff …].
 */
function rowPeaks(sm: Float64Array, noise: Float32Array, noiseOff: number, W: number, H: number, y: number, threshold: number, peaks: PeakList): void {
  const mid = (y % 3) * W;
  const up = y > 0 ? ((y - 1) % 3) * W : -1;
  const down = y < H - 1 ? ((y + 1) % 3) * W : -1;
  const base = y * W;
  for (let x = 0; x < W; x++) {
    const v = sm[mid + x] as number;
    const sigma = noise[noiseOff + x] as number;
    if (!(v > threshold * sigma)) continue;
    if (x > 0 && (sm[mid + x - 1] as number) >= v) continue;
    if (x < W - 1 && (sm[mid + x + 1] as number) > v) continue;
    if (up >= 0 && !aboveRowBelow(sm, up, x, W, v, true)) continue;
    if (down >= 0 && !aboveRowBelow(sm, down, x, W, v, false)) continue;
    const dx = x > 0 && x < W - 1 ? parabola(sm[mid + x - 1] as number, v, sm[mid + x + 1] as number) : 0;
    const dy = up >= 0 && down >= 0 ? parabola(sm[up + x] as number, v, sm[down + x] as number) : 0;
    peaks.push(base + x, x + dx, y + dy, v, v / sigma);
  }
}

/** Whether v beats the three pixels around x of the row at `row` (a tie loses to a row above, wins over a row below). */
function aboveRowBelow(sm: Float64Array, row: number, x: number, W: number, v: number, above: boolean): boolean {
  for (let xx = Math.max(0, x - 1); xx <= Math.min(W - 1, x + 1); xx++) {
    const u = sm[row + xx] as number;
    if (u > v || (above && u === v)) return false;
  }
  return true;
}

/** Vertex offset of the parabola through (−1, l), (0, c), (1, r), within ±0.5; 0 when not a maximum. */
function parabola(l: number, c: number, r: number): number {
  const d = l - 2 * c + r;
  return d < 0 ? Math.min(Math.max((0.5 * (l - r)) / d, -0.5), 0.5) : 0;
}

/**
 * acc[x] += Σ g[p]·(src[lo[p] + x] + src[hi[p] + x]) over up to three tap pairs p from j; returns
 * how many it took. Three pairs per pass over acc keep the weights and offsets in registers and
 * read acc once for three taps (a pass per tap costs 1.8× here).
 */
function addTapPairs(acc: Float64Array, src: Float64Array, g: Float64Array, lo: Int32Array, hi: Int32Array, j: number, W: number): number {
  const left = g.length - j;
  const ga = g[j] as number;
  const la = lo[j] as number;
  const ha = hi[j] as number;
  if (left >= 3) {
    const gb = g[j + 1] as number;
    const lb = lo[j + 1] as number;
    const hb = hi[j + 1] as number;
    const gc = g[j + 2] as number;
    const lc = lo[j + 2] as number;
    const hc = hi[j + 2] as number;
    for (let x = 0; x < W; x++) {
      acc[x] = (acc[x] as number) + ga * ((src[la + x] as number) + (src[ha + x] as number)) + gb * ((src[lb + x] as number) + (src[hb + x] as number)) + gc * ((src[lc + x] as number) + (src[hc + x] as number));
    }
    return 3;
  }
  if (left === 2) {
    const gb = g[j + 1] as number;
    const lb = lo[j + 1] as number;
    const hb = hi[j + 1] as number;
    for (let x = 0; x < W; x++) acc[x] = (acc[x] as number) + ga * ((src[la + x] as number) + (src[ha + x] as number)) + gb * ((src[lb + x] as number) + (src[hb + x] as number));
    return 2;
  }
  for (let x = 0; x < W; x++) acc[x] = (acc[x] as number) + ga * ((src[la + x] as number) + (src[ha + x] as number));
  return 1;
}

/** Index i of an axis of n pixels mirrored about its end pixels (period 2n − 2), in 0 … n − 1. */
function mirror(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * n - 2;
  const m = ((i % period) + period) % period;
  return m < n ? m : period - m;
}

/**
 * 1 / √(Σ w²) at every position of an axis, w the kernel's weights folded onto the pixels by
 * `mirror` (g has unit norm, so the factor is 1 beyond kr of either end).
 */
function borderFactors(g: Float64Array, n: number): Float64Array {
  const taps = g.length;
  const out = new Float64Array(n).fill(1);
  const w = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    if (p >= taps - 1 && p < n - taps + 1) continue;
    w[p] = g[0] as number;
    for (let j = 1; j < taps; j++) {
      w[mirror(p - j, n)] = (w[mirror(p - j, n)] as number) + (g[j] as number);
      w[mirror(p + j, n)] = (w[mirror(p + j, n)] as number) + (g[j] as number);
    }
    let s2 = 0;
    for (let j = -(taps - 1); j < taps; j++) {
      const i = mirror(p + j, n);
      s2 += (w[i] as number) ** 2;
      w[i] = 0;
    }
    out[p] = 1 / Math.sqrt(s2);
  }
  return out;
}

/**
 * The peaks with no higher peak within `minSep`, highest first (ties to the earlier pixel).
 * Suppressing by peaks rather than by every pixel within `minSep` keeps a fainter star whose
 * disc reaches up the wing of a brighter one (a pixel rule lost a star 4.4 px from a brighter
 * one at minSep 3 on the ESO frame). The kept peaks sit in a grid of minSep cells, so each test
 * scans 3×3 cells.
 */
function separatedPeaks(all: PeakList, W: number, H: number, minSep: number): PeakList {
  const n = all.n;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const value = all.value;
  const pix = all.pix;
  order.sort((a, b) => (value[b] as number) - (value[a] as number) || (pix[a] as number) - (pix[b] as number));
  const cell = Math.max(1, Math.ceil(minSep));
  const gw = Math.ceil(W / cell);
  const gh = Math.ceil(H / cell);
  const head = new Int32Array(gw * gh).fill(-1);
  const next = new Int32Array(n);
  const keptX = new Int32Array(n);
  const keptY = new Int32Array(n);
  let kept = 0;
  const r2 = minSep * minSep;
  const out = new PeakList();
  for (let o = 0; o < n; o++) {
    const i = order[o] as number;
    const k = pix[i] as number;
    const x = k % W;
    const y = (k - x) / W;
    const cx = Math.floor(x / cell);
    const cy = Math.floor(y / cell);
    let near = false;
    for (let gy = Math.max(0, cy - 1); gy <= Math.min(gh - 1, cy + 1) && !near; gy++) {
      for (let gx = Math.max(0, cx - 1); gx <= Math.min(gw - 1, cx + 1) && !near; gx++) {
        for (let q = head[gy * gw + gx] as number; q >= 0; q = next[q] as number) {
          if (((keptX[q] as number) - x) ** 2 + ((keptY[q] as number) - y) ** 2 <= r2) {
            near = true;
            break;
          }
        }
      }
    }
    if (near) continue;
    keptX[kept] = x;
    keptY[kept] = y;
    next[kept] = head[cy * gw + cx] as number;
    head[cy * gw + cx] = kept++;
    out.push(k, all.x[i] as number, all.y[i] as number, value[i] as number, all.sig[i] as number);
  }
  return out;
}
