/**
 * Sky background: a tiled map (sigma-clipped median and MAD σ per tile, 3×3 median over the tile
 * grid, bilinear between tile centres) and the local annulus estimate.
 */
import { checkImage, MAX_IMAGE_PIXELS, numberOption, optionsObject, type Image } from './image.js';

export const MAD_TO_SIGMA = 1.482602218505602;

/** Per-pixel sky level and sky σ, both the size of the image. */
export interface BackgroundMap {
  width: number;
  height: number;
  background: Float32Array;
  noise: Float32Array;
  /** The tile grid the planes were interpolated from (absent for planes made elsewhere). */
  grid?: SkyGrid;
}

/**
 * The sky as a grid of nx × ny tiles (after the 3×3 median filter), row-major: the map is the
 * bilinear interpolation between tile centres, constant beyond the outermost centres. The GPU
 * keeps only this grid and interpolates where a star needs it.
 */
export interface SkyGrid {
  width: number;
  height: number;
  nx: number;
  ny: number;
  background: Float64Array;
  noise: Float64Array;
}

/** k-th smallest of `v[0..n)` (Hoare's selection); reorders `v`, allocates nothing. */
function selectKth(v: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (hi > lo) {
    const pivot = v[(lo + hi) >> 1] as number;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((v[i] as number) < pivot) i++;
      while ((v[j] as number) > pivot) j--;
      if (i <= j) {
        const t = v[i] as number;
        v[i] = v[j] as number;
        v[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return v[k] as number;
}

/** Median of `v[0..n)` (mean of the two middle values when n is even); reorders `v`. NaN-free input. */
export function medianInPlace(v: Float64Array, n: number): number {
  if (n <= 0) return NaN;
  const h = n >> 1;
  const upper = selectKth(v, n, h);
  if (n & 1) return upper;
  // After selection every value left of h is ≤ v[h]; the lower middle value is their maximum.
  let lower = -Infinity;
  for (let i = 0; i < h; i++) if ((v[i] as number) > lower) lower = v[i] as number;
  return 0.5 * (lower + upper);
}

/**
 * κσ-clipped median and MAD σ of `v[0..n)`. `scratch` must hold n values. Returns the count
 * kept in `out[2]`. Reorders `v`.
 */
export function sigmaClippedStats(v: Float64Array, n: number, kappa: number, iterations: number, scratch: Float64Array, out: Float64Array): void {
  let m = NaN;
  let s = NaN;
  for (let it = 0; it <= iterations; it++) {
    m = medianInPlace(v, n);
    for (let i = 0; i < n; i++) scratch[i] = Math.abs((v[i] as number) - m);
    s = MAD_TO_SIGMA * medianInPlace(scratch, n);
    if (it === iterations || n < 3 || !(s > 0)) break;
    const lim = kappa * s;
    let k = 0;
    for (let i = 0; i < n; i++) {
      const x = v[i] as number;
      if (Math.abs(x - m) <= lim) v[k++] = x;
    }
    // Fewer than three kept (κσ below the gap around the median): the last statistics stand.
    if (k === n || k < 3) break;
    n = k;
  }
  out[0] = m;
  out[1] = s;
  out[2] = n;
}

export interface BackgroundOptions {
  /** Tile side in pixels, an integer in [8, 65536] (default 64; a tile larger than the frame makes one tile). */
  tileSize?: number;
  /** Clipping threshold in σ, > 0 and at most 1000 (default 3). */
  kappa?: number;
  /** Clipping iterations, an integer in [0, 100] (default 5). */
  iterations?: number;
}

/**
 * Bounds of the options. Below 8 px a tile has too few pixels for a clipped median; 65536 is
 * beyond any frame side. κ above 1000 clips nothing that κ = 1000 keeps; each clipping
 * iteration is a pass over the tile, and clipping settles in a handful.
 */
const TILE_MIN = 8;
const TILE_MAX = 65536;
const KAPPA_MAX = 1000;
const ITERATIONS_MAX = 100;

/** SEP/photutils `Background2D`-style map: tile statistics, 3×3 median filter, bilinear interpolation. */
export function backgroundMap(image: Image, options: BackgroundOptions = {}): BackgroundMap {
  return mapFromGrid(backgroundGrid(image, options));
}

/**
 * A tile grid passed in (to mapFromGrid, uploadFrame): a positive integer frame size and tile
 * counts no larger than it, with a Float64Array of nx·ny levels and of σs.
 */
export function checkGrid(where: string, grid: unknown): SkyGrid {
  if (typeof grid !== 'object' || grid === null) throw new Error(`${where}: grid = ${String(grid)} must be a sky grid (backgroundGrid)`);
  const g = grid as Partial<SkyGrid>;
  const W = numberOption(where, 'grid.width', g.width, 0, 1, MAX_IMAGE_PIXELS, { integer: true, required: true });
  const H = numberOption(where, 'grid.height', g.height, 0, 1, MAX_IMAGE_PIXELS, { integer: true, required: true });
  if (W * H > MAX_IMAGE_PIXELS) throw new Error(`${where}: grid.width × grid.height = ${W}×${H}, more than ${MAX_IMAGE_PIXELS} pixels`);
  const nx = numberOption(where, 'grid.nx', g.nx, 0, 1, W, { integer: true, required: true });
  const ny = numberOption(where, 'grid.ny', g.ny, 0, 1, H, { integer: true, required: true });
  for (const plane of ['background', 'noise'] as const) {
    const v = g[plane];
    if (!(v instanceof Float64Array && v.length === nx * ny)) throw new Error(`${where}: grid.${plane} must be a Float64Array of nx·ny = ${nx * ny} tiles`);
  }
  return g as SkyGrid;
}

/** The per-pixel planes of a tile grid (bilinear between tile centres). */
export function mapFromGrid(grid: SkyGrid): BackgroundMap {
  const { width: W, height: H, nx, ny } = checkGrid('mapFromGrid', grid);
  return {
    width: W,
    height: H,
    background: bilinear(grid.background, nx, ny, W, H),
    noise: bilinear(grid.noise, nx, ny, W, H),
    grid,
  };
}

/** How a frame is cut into tiles, and the clipping of each tile's statistics. */
export interface TileLayout {
  width: number;
  height: number;
  nx: number;
  ny: number;
  kappa: number;
  iterations: number;
}

/** The layout for a frame, with the options checked (errors name the option, the value and the range). */
export function tileLayout(width: number, height: number, options: BackgroundOptions | undefined = {}, where = 'backgroundMap'): TileLayout {
  const o = optionsObject<BackgroundOptions>(where, 'options', options);
  const tile = numberOption(where, 'tileSize', o.tileSize, 64, TILE_MIN, TILE_MAX, { integer: true });
  return {
    width,
    height,
    nx: Math.max(1, Math.round(width / tile)),
    ny: Math.max(1, Math.round(height / tile)),
    kappa: numberOption(where, 'kappa', o.kappa, 3, 0, KAPPA_MAX, { loOpen: true }),
    iterations: numberOption(where, 'iterations', o.iterations, 5, 0, ITERATIONS_MAX, { integer: true }),
  };
}

/**
 * Clipped median and MAD σ of the tiles in tile rows [ty0, ty1) into bg and sd, row-major with
 * tile row `base` at index 0; NaN for a tile with fewer than 3 finite pixels.
 */
export function tileStatistics(data: Float32Array, t: TileLayout, ty0: number, ty1: number, bg: Float64Array, sd: Float64Array, base = 0): void {
  const { width: W, height: H, nx, ny } = t;
  const maxTile = (Math.ceil(W / nx) + 1) * (Math.ceil(H / ny) + 1);
  const vals = new Float64Array(maxTile);
  const scratch = new Float64Array(maxTile);
  const st = new Float64Array(3);
  for (let ty = ty0; ty < ty1; ty++) {
    const y0 = Math.floor((ty * H) / ny);
    const y1 = Math.floor(((ty + 1) * H) / ny);
    for (let tx = 0; tx < nx; tx++) {
      const x0 = Math.floor((tx * W) / nx);
      const x1 = Math.floor(((tx + 1) * W) / nx);
      let n = 0;
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const v = data[y * W + x] as number;
          if (Number.isFinite(v)) vals[n++] = v;
        }
      }
      const k = (ty - base) * nx + tx;
      if (n < 3) {
        bg[k] = NaN;
        sd[k] = NaN;
        continue;
      }
      sigmaClippedStats(vals, n, t.kappa, t.iterations, scratch, st);
      bg[k] = st[0] as number;
      sd[k] = st[1] as number;
    }
  }
}

/** The grid from the raw tile statistics: the 3×3 median filter over tiles. */
export function finishGrid(t: TileLayout, bg: Float64Array, sd: Float64Array): SkyGrid {
  return { width: t.width, height: t.height, nx: t.nx, ny: t.ny, background: medianFilter3(bg, t.nx, t.ny), noise: medianFilter3(sd, t.nx, t.ny) };
}

/** The tile grid of `backgroundMap`, without the full-resolution planes (one thread; `backgroundGridBatch` uses all cores). */
export function backgroundGrid(image: Image, options: BackgroundOptions = {}): SkyGrid {
  checkImage('backgroundMap', image);
  const t = tileLayout(image.width, image.height, options);
  const bg = new Float64Array(t.nx * t.ny);
  const sd = new Float64Array(t.nx * t.ny);
  tileStatistics(image.data, t, 0, t.ny, bg, sd);
  // The 3×3 median filter removes tiles spoilt by a bright star; it also fills tiles with no valid pixel.
  return finishGrid(t, bg, sd);
}

function medianFilter3(g: Float64Array, nx: number, ny: number): Float64Array {
  const out = new Float64Array(nx * ny);
  const v = new Float64Array(9);
  let fallback = NaN;
  for (let y = 0; y < ny; y++) {
    for (let x = 0; x < nx; x++) {
      let n = 0;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          const yy = y + dy;
          if (xx < 0 || yy < 0 || xx >= nx || yy >= ny) continue;
          const t = g[yy * nx + xx] as number;
          if (Number.isFinite(t)) v[n++] = t;
        }
      }
      out[y * nx + x] = n > 0 ? medianInPlace(v, n) : NaN;
      if (n > 0) fallback = out[y * nx + x] as number;
    }
  }
  for (let i = 0; i < out.length; i++) if (!Number.isFinite(out[i] as number)) out[i] = fallback;
  return out;
}

/** Bilinear interpolation between tile centres; constant beyond the outermost centres. */
function bilinear(g: Float64Array, nx: number, ny: number, W: number, H: number): Float32Array {
  const out = new Float32Array(W * H);
  const cw = W / nx;
  const ch = H / ny;
  // The column weights are the same on every row: computed once, not W·H times.
  const col0 = new Int32Array(W);
  const col1 = new Int32Array(W);
  const colF = new Float64Array(W);
  for (let x = 0; x < W; x++) {
    const gx = Math.min(Math.max((x + 0.5) / cw - 0.5, 0), nx - 1);
    const i0 = Math.min(Math.floor(gx), nx - 1);
    col0[x] = i0;
    col1[x] = Math.min(i0 + 1, nx - 1);
    colF[x] = gx - i0;
  }
  for (let y = 0; y < H; y++) {
    const gy = Math.min(Math.max((y + 0.5) / ch - 0.5, 0), ny - 1);
    const j0 = Math.min(Math.floor(gy), ny - 1);
    const j1 = Math.min(j0 + 1, ny - 1);
    const fy = gy - j0;
    for (let x = 0; x < W; x++) {
      const i0 = col0[x] as number;
      const i1 = col1[x] as number;
      const fx = colF[x] as number;
      const a = (g[j0 * nx + i0] as number) * (1 - fx) + (g[j0 * nx + i1] as number) * fx;
      const b = (g[j1 * nx + i0] as number) * (1 - fx) + (g[j1 * nx + i1] as number) * fx;
      out[y * W + x] = a * (1 - fy) + b * fy;
    }
  }
  return out;
}

/** Largest annulus radius: 1.5 × the largest stamp radius (23) with room to spare; 4 MB of scratch. */
const ANNULUS_MAX = 256;

/** Scratch for `annulusBackground`, sized for the outer radius (0 … 256 px). */
export function annulusScratch(rOut: number): { values: Float64Array; scratch: Float64Array; out: Float64Array } {
  const side = 2 * Math.ceil(numberOption('annulusScratch', 'rOut', rOut, 0, 0, ANNULUS_MAX, { required: true })) + 1;
  return { values: new Float64Array(side * side), scratch: new Float64Array(side * side), out: new Float64Array(3) };
}

/**
 * Local sky from the pixels with rIn ≤ r ≤ rOut around the integer pixel (ix, iy): 3σ-clipped
 * median and MAD σ (2 iterations). Writes [sky, σ, count] into `s.out`; count < 10 means the
 * annulus was unusable (too close to the edge, or mostly NaN) and sky/σ are NaN.
 */
export function annulusBackground(
  image: Image,
  ix: number,
  iy: number,
  rIn: number,
  rOut: number,
  s: { values: Float64Array; scratch: Float64Array; out: Float64Array },
): void {
  const { width: W, height: H, data } = image;
  const ro = Math.ceil(rOut);
  // The scratch bounds the loops: an annulus wider than it was made for would write past it.
  if (!((2 * ro + 1) ** 2 <= s.values.length)) throw new Error(`annulusBackground: rOut = ${String(rOut)} is larger than its scratch (annulusScratch) was made for`);
  const rin2 = rIn * rIn;
  const rout2 = rOut * rOut;
  let n = 0;
  for (let dy = -ro; dy <= ro; dy++) {
    const y = iy + dy;
    if (y < 0 || y >= H) continue;
    for (let dx = -ro; dx <= ro; dx++) {
      const x = ix + dx;
      const r2 = dx * dx + dy * dy;
      if (x < 0 || x >= W || r2 < rin2 || r2 > rout2) continue;
      const v = data[y * W + x] as number;
      if (Number.isFinite(v)) s.values[n++] = v;
    }
  }
  if (n < 10) {
    s.out[0] = NaN;
    s.out[1] = NaN;
    s.out[2] = n;
    return;
  }
  sigmaClippedStats(s.values, n, 3, 2, s.scratch, s.out);
}
