/**
 * Sky background. The map is built as SExtractor builds it (Bertin & Arnouts 1996; the SExtractor
 * manual §"Background"; SEP's `sep.Background`): the frame is cut into meshes (BACK_SIZE, 64 px);
 * each mesh's pixels are clipped once at ±2σ around their mean and put in a histogram, which is
 * clipped iteratively at ±κσ (κ = 3) around its median until σ settles; the mesh level is the
 * mode estimate 2.5·median − 1.5·mean, or the median where the clipped histogram is too skewed
 * for it (|mean − median| ≥ 0.3σ: the rule SEP and SExtractor apply in their code, as photutils'
 * SExtractorBackground documents); the mesh σ is the clipped histogram's standard deviation.
 * Meshes with fewer than half their pixels valid are replaced by their nearest valid meshes, a
 * median filter (BACK_FILTERSIZE, 3×3) runs over the mesh grid, and a bicubic spline (natural,
 * tensor product, the same form as SExtractor's) interpolates both grids to any pixel.
 * The local annulus estimate is here too.
 */
import { checkImage, MAX_IMAGE_PIXELS, numberOption, optionsObject, showValue, type Image } from './image.js';

export const MAD_TO_SIGMA = 1.482602218505602;

/** Per-pixel sky level and sky σ, both the size of the image. */
export interface BackgroundMap {
  /** Frame width, px. */
  width: number;
  /** Frame height, px. */
  height: number;
  /** Sky level per pixel, image units (ADU), row-major (SEP `Background.back()`, photutils Background2D `background`). */
  background: Float32Array;
  /** Sky σ per pixel, image units, row-major (SEP `Background.rms()`, photutils `background_rms`). */
  noise: Float32Array;
  /** The mesh grid the planes were interpolated from (absent for planes made elsewhere). */
  grid?: SkyGrid;
}

/**
 * The sky as a grid of nx × ny meshes (after the median filter), row-major: mesh (i, j) covers
 * columns [⌊i·W/nx⌋, ⌊(i+1)·W/nx⌋) and the same for rows, and its value sits at the mesh centre
 * ((i + ½)·W/nx, (j + ½)·H/ny) in pixel-edge coordinates. The map is the bicubic spline through
 * these values (`skySplines`); the GPU keeps only the spline coefficients and evaluates them
 * where a star needs them.
 */
export interface SkyGrid {
  /** Frame width, px. */
  width: number;
  /** Frame height, px. */
  height: number;
  /** Meshes across, ≥ 1. */
  nx: number;
  /** Meshes down, ≥ 1. */
  ny: number;
  /** Mesh sky levels, nx·ny, image units (photutils Background2D `background_mesh`). */
  background: Float64Array;
  /** Mesh sky σs, nx·ny, image units (photutils `background_rms_mesh`). */
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
 * κσ-clipped median and MAD σ of `v[0..n)` (the local annulus sky). `scratch` must hold n
 * values. Returns the count kept in `out[2]`. Reorders `v`.
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

/** How backgroundMap and backgroundGrid build the mesh grid; every field is optional. */
export interface BackgroundOptions {
  /**
   * Mesh side in pixels (SExtractor's BACK_SIZE, SEP's `bw`/`bh`, photutils' `box_size`), an integer in [8, 65536] (default 64). The frame
   * is cut into round(W/tileSize) × round(H/tileSize) meshes of equal size (± 1 px); a mesh larger
   * than the frame makes one mesh.
   */
  tileSize?: number;
  /** Median filter over the mesh grid (BACK_FILTERSIZE, SEP's `fw`/`fh`, photutils' `filter_size`), an odd integer in [1, 15] (default 3; 1: none). */
  filterSize?: number;
  /** Clipping of each mesh's histogram around its median, in σ: > 0 and at most 1000 (default 3). */
  kappa?: number;
  /** Most clipping iterations, an integer in [0, 100] (default 100; they stop when σ changes by < 1e-4). */
  iterations?: number;
}

/**
 * Bounds of the options. Below 8 px a mesh has too few pixels for its histogram; 65536 is beyond
 * any frame side. κ above 1000 clips nothing that κ = 1000 keeps; 100 iterations is SExtractor's
 * own cap, and clipping settles in a handful. A median filter wider than 15 meshes would flatten
 * the sky it is meant to keep (SExtractor's default is 3).
 */
const TILE_MIN = 8;
const TILE_MAX = 65536;
const KAPPA_MAX = 1000;
const ITERATIONS_MAX = 100;
const FILTER_MAX = 15;

/**
 * SExtractor-style map: mesh statistics, median filter over meshes, bicubic spline to every pixel.
 * `into`: a map of a frame of the same size whose planes are overwritten (see mapFromGrid).
 */
export function backgroundMap(image: Image, options: BackgroundOptions = {}, into?: BackgroundMap): BackgroundMap {
  return mapFromGrid(backgroundGrid(image, options), into);
}

/**
 * A mesh grid passed in (to mapFromGrid, uploadFrame): a positive integer frame size and mesh
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

/**
 * Coefficients of the bicubic spline through a mesh grid, four per mesh, interleaved: mesh k holds
 * [f, f_xx/6, f_yy/6, f_xxyy/36] at 4k … 4k + 3, the value and the natural cubic spline's second
 * derivatives in mesh units (along rows, along columns, and both). With them the tensor-product
 * spline is local: within the cell of meshes i, i+1 and j, j+1, at fractions (t, u),
 *   s = Σ_rows wy · (Σ_cols wx · f + wx′ · f_xx/6) + wy′ · (Σ_cols wx · f_yy/6 + wx′ · f_xxyy/36)
 * with wx = (1 − t, t) and wx′ = ((1 − t)³ − (1 − t), t³ − t) (the same along y). Beyond the
 * outermost mesh centres the end cubics are extrapolated, as SExtractor does.
 */
export interface SkySplines {
  /** Frame width, px. */
  width: number;
  /** Frame height, px. */
  height: number;
  /** Meshes across. */
  nx: number;
  /** Meshes down. */
  ny: number;
  /** Mesh width, px: width/nx. */
  cellW: number;
  /** Mesh height, px: height/ny. */
  cellH: number;
  /** Coefficients of the sky level, 4·nx·ny, interleaved as above. */
  background: Float64Array;
  /** Coefficients of the sky σ, 4·nx·ny, interleaved as above. */
  noise: Float64Array;
}

/** Q = M/6 of the natural cubic spline through n values at unit spacing (Q₀ = Q₍ₙ₋₁₎ = 0): Q_{i−1} + 4Q_i + Q_{i+1} = f_{i+1} − 2f_i + f_{i−1}. */
function naturalSecond(src: Float64Array, off: number, stride: number, n: number, dst: Float64Array, c: Float64Array): void {
  dst[off] = 0;
  if (n < 3) {
    if (n === 2) dst[off + stride] = 0;
    return;
  }
  // Thomas algorithm on the interior rows; c holds the eliminated super-diagonal.
  let prevC = 0;
  let prevD = 0;
  for (let i = 1; i < n - 1; i++) {
    const d = (src[off + (i + 1) * stride] as number) - 2 * (src[off + i * stride] as number) + (src[off + (i - 1) * stride] as number);
    const m = 4 - prevC;
    prevC = 1 / m;
    prevD = (d - prevD) / m;
    c[i] = prevC;
    dst[off + i * stride] = prevD;
  }
  dst[off + (n - 1) * stride] = 0;
  for (let i = n - 3; i >= 1; i--) dst[off + i * stride] = (dst[off + i * stride] as number) - (c[i] as number) * (dst[off + (i + 1) * stride] as number);
}

/** The four interleaved coefficient planes of one nx × ny mesh grid (see SkySplines); the GPU frame uploads them. */
export function skySplineCoefficients(g: ArrayLike<number>, nx: number, ny: number): Float64Array {
  const n = nx * ny;
  const f = Float64Array.from(g);
  const qx = new Float64Array(n);
  const qy = new Float64Array(n);
  const qxy = new Float64Array(n);
  const c = new Float64Array(Math.max(nx, ny));
  for (let j = 0; j < ny; j++) naturalSecond(f, j * nx, 1, nx, qx, c);
  for (let i = 0; i < nx; i++) {
    naturalSecond(f, i, nx, ny, qy, c);
    naturalSecond(qx, i, nx, ny, qxy, c);
  }
  const out = new Float64Array(4 * n);
  for (let k = 0; k < n; k++) {
    out[4 * k] = f[k] as number;
    out[4 * k + 1] = qx[k] as number;
    out[4 * k + 2] = qy[k] as number;
    out[4 * k + 3] = qxy[k] as number;
  }
  return out;
}

/** The spline coefficients of a mesh grid, for per-pixel evaluation (`skyAt`) or the GPU. */
export function skySplines(grid: SkyGrid): SkySplines {
  const { width: W, height: H, nx, ny } = checkGrid('skySplines', grid);
  return { width: W, height: H, nx, ny, cellW: W / nx, cellH: H / ny, background: skySplineCoefficients(grid.background, nx, ny), noise: skySplineCoefficients(grid.noise, nx, ny) };
}

/**
 * Where a pixel coordinate falls in the mesh grid along one axis: the first mesh of its spline
 * cell, and the fraction past it (outside [0, 1] beyond the outermost centres, where the end
 * cubic is extrapolated). `x` is in pixel-centre coordinates (pixel i at x = i).
 */
function cellOf(x: number, cell: number, n: number, out: Float64Array): void {
  const g = (x + 0.5) / cell - 0.5;
  const i = n < 2 ? 0 : Math.min(Math.max(Math.floor(g), 0), n - 2);
  out[0] = i;
  out[1] = n < 2 ? 0 : g - i;
}

const cellScratch = new Float64Array(4);

/**
 * The sky level ('background') or σ ('noise') of a spline at pixel coordinate (x, y), pixel
 * centres at integers, any real position (the GPU's per-pixel sky evaluates the same formula in
 * float32). σ is never negative.
 */
export function skyAt(s: SkySplines, plane: 'background' | 'noise', x: number, y: number): number {
  const c = plane === 'noise' ? s.noise : s.background;
  cellOf(x, s.cellW, s.nx, cellScratch);
  const i = cellScratch[0] as number;
  const t = cellScratch[1] as number;
  cellOf(y, s.cellH, s.ny, cellScratch);
  const j = cellScratch[0] as number;
  const u = cellScratch[1] as number;
  const i1 = s.nx > 1 ? i + 1 : i;
  const j1 = s.ny > 1 ? j + 1 : j;
  const a = 1 - t;
  const ca = a * a * a - a;
  const cb = t * t * t - t;
  const b = 1 - u;
  const cc = b * b * b - b;
  const cd = u * u * u - u;
  // The four mesh columns' values at the point's row, then the spline along x through them.
  const p0 = 4 * (j * s.nx + i);
  const p1 = 4 * (j * s.nx + i1);
  const q0 = 4 * (j1 * s.nx + i);
  const q1 = 4 * (j1 * s.nx + i1);
  const f0 = b * (c[p0] as number) + u * (c[q0] as number) + cc * (c[p0 + 2] as number) + cd * (c[q0 + 2] as number);
  const f1 = b * (c[p1] as number) + u * (c[q1] as number) + cc * (c[p1 + 2] as number) + cd * (c[q1 + 2] as number);
  const g0 = b * (c[p0 + 1] as number) + u * (c[q0 + 1] as number) + cc * (c[p0 + 3] as number) + cd * (c[q0 + 3] as number);
  const g1 = b * (c[p1 + 1] as number) + u * (c[q1 + 1] as number) + cc * (c[p1 + 3] as number) + cd * (c[q1 + 3] as number);
  const v = a * f0 + t * f1 + ca * g0 + cb * g1;
  return plane === 'noise' ? Math.max(v, 0) : v;
}

/**
 * The per-pixel planes of a mesh grid (bicubic spline through the mesh centres). With `into` (a
 * map of the same size, no longer needed) its two planes are overwritten and returned in the new
 * map: fresh planes cost the system ~0.5 ms per MB in page faults on first touch (4-KB pages; a
 * 4096² frame's two planes are 128 MB), which a caller mapping frame after frame can avoid.
 */
export function mapFromGrid(grid: SkyGrid, into?: BackgroundMap): BackgroundMap {
  const s = skySplines(grid);
  const n = s.width * s.height;
  let bgPlane: Float32Array;
  let sdPlane: Float32Array;
  if (into !== undefined) {
    const m = into as Partial<BackgroundMap> | null;
    if (typeof m !== 'object' || m === null || m.width !== s.width || m.height !== s.height || !(m.background instanceof Float32Array && m.background.length === n) || !(m.noise instanceof Float32Array && m.noise.length === n) || m.background.buffer === m.noise.buffer) {
      throw new Error(`mapFromGrid: into must be a background map of a ${s.width}×${s.height} frame (two Float32Array planes of ${n} values, not sharing memory)`);
    }
    bgPlane = m.background;
    sdPlane = m.noise;
  } else {
    bgPlane = new Float32Array(n);
    sdPlane = new Float32Array(n);
  }
  splinePlanes(s, bgPlane, sdPlane);
  return { width: s.width, height: s.height, background: bgPlane, noise: sdPlane, grid };
}

/** The spline at every pixel, both planes in one sweep of each row (`splineRow`). */
function splinePlanes(s: SkySplines, bgOut: Float32Array, sdOut: Float32Array): void {
  const sp = rowSpans(s);
  const W = s.width;
  for (let y = 0; y < s.height; y++) splineRow(s, sp, y, 0, W, bgOut, sdOut, y * W);
}

/**
 * How a spline's rows are stepped: spline cell i (mesh columns i and i + 1) spans columns
 * [start[i], start[i + 1]), its fraction t at the span's first column is t[i], and it grows by dt
 * per column (0 for a one-column grid). Scratch for one row: `r` holds, per mesh column i, the
 * level and x-curvature of the sky (4i, 4i + 1) and of σ (4i + 2, 4i + 3), plus one zero column
 * so that a one-column grid reads a neighbour of weight 0; `fd` the forward-difference starts of
 * a span, `cs` cellOf's output.
 */
interface RowSpans {
  cells: number;
  start: Int32Array;
  t: Float64Array;
  dt: number;
  r: Float64Array;
  fd: Float64Array;
  cs: Float64Array;
}

/** The spans of each spline, made on its first row evaluation (skyRow is called row after row). */
const spansOf = new WeakMap<SkySplines, RowSpans>();

function rowSpans(s: SkySplines): RowSpans {
  const known = spansOf.get(s);
  if (known !== undefined) return known;
  const { width: W, nx } = s;
  const cells = Math.max(nx - 1, 1);
  const start = new Int32Array(cells + 1);
  const t = new Float64Array(cells);
  const cs = new Float64Array(2);
  let cell = -1;
  for (let x = 0; x < W; x++) {
    cellOf(x, s.cellW, nx, cs);
    while (cell < (cs[0] as number)) {
      start[++cell] = x;
      t[cell] = cs[1] as number;
    }
  }
  while (cell < cells) start[++cell] = W;
  const sp = { cells, start, t, dt: nx > 1 ? 1 / s.cellW : 0, r: new Float64Array(4 * (nx + 1)), fd: new Float64Array(8), cs };
  spansOf.set(s, sp);
  return sp;
}

/**
 * Forward-difference start [value, Δ, Δ², Δ³] into fd[o …] of one span's cubic
 * (1 − t)f0 + t·f1 + ((1 − t)³ − (1 − t))g0 + (t³ − t)g1, t = t0 at its first column, dt per column.
 */
function spanStart(f0: number, f1: number, g0: number, g1: number, t0: number, dt: number, nx: number, fd: Float64Array, o: number): void {
  const k1 = nx > 1 ? f1 - f0 - 2 * g0 - g1 : 0;
  const k2 = 3 * g0;
  const k3 = g1 - g0;
  const t1 = t0 + dt;
  const t2 = t1 + dt;
  const p0 = f0 + t0 * (k1 + t0 * (k2 + t0 * k3));
  const p1 = f0 + t1 * (k1 + t1 * (k2 + t1 * k3));
  const p2 = f0 + t2 * (k1 + t2 * (k2 + t2 * k3));
  fd[o] = p0;
  fd[o + 1] = p1 - p0;
  fd[o + 2] = p2 - 2 * p1 + p0;
  fd[o + 3] = 6 * k3 * dt * dt * dt;
}

/**
 * Columns [x0, x1) of row y of the sky level into bgOut[off …] and of σ into sdOut[off …] (either
 * may be null: that plane is not evaluated). The y-interpolation is done once per mesh column
 * the range needs (the level and its x-curvature); between two mesh centres the row is then one
 * cubic in x per plane, stepped by forward differences from the span's first column: three
 * additions per pixel and plane, no loads. A range starting inside a span steps over the columns
 * before it, so every pixel gets the same float operations whatever the range and planes: the
 * map's planes, skyRow and detection's sky rows agree to the bit. σ is clamped at 0: an
 * extrapolated end cubic could dip below.
 */
function splineRow(s: SkySplines, sp: RowSpans, y: number, x0: number, x1: number, bgOut: Float32Array | null, sdOut: Float32Array | null, off: number): void {
  const { nx, ny } = s;
  const { start, r, fd, cs, dt } = sp;
  const cb = s.background;
  const cn = s.noise;
  cellOf(y, s.cellH, ny, cs);
  const j = cs[0] as number;
  const u = cs[1] as number;
  const j1 = ny > 1 ? j + 1 : j;
  const b = 1 - u;
  const cc = b * b * b - b;
  const cd = u * u * u - u;
  cellOf(x0, s.cellW, nx, cs);
  const i0 = cs[0] as number;
  let i1 = i0;
  while (i1 < sp.cells - 1 && (start[i1 + 1] as number) < x1) i1++;
  for (let i = i0, e = Math.min(i1 + 1, nx - 1); i <= e; i++) {
    const p = 4 * (j * nx + i);
    const q = 4 * (j1 * nx + i);
    if (bgOut !== null) {
      r[4 * i] = b * (cb[p] as number) + u * (cb[q] as number) + cc * (cb[p + 2] as number) + cd * (cb[q + 2] as number);
      r[4 * i + 1] = b * (cb[p + 1] as number) + u * (cb[q + 1] as number) + cc * (cb[p + 3] as number) + cd * (cb[q + 3] as number);
    }
    if (sdOut !== null) {
      r[4 * i + 2] = b * (cn[p] as number) + u * (cn[q] as number) + cc * (cn[p + 2] as number) + cd * (cn[q + 2] as number);
      r[4 * i + 3] = b * (cn[p + 1] as number) + u * (cn[q + 1] as number) + cc * (cn[p + 3] as number) + cd * (cn[q + 3] as number);
    }
  }
  const o = off - x0;
  for (let i = i0; i <= i1; i++) {
    const t0 = sp.t[i] as number;
    const a = 4 * i;
    spanStart(r[a] as number, r[a + 4] as number, r[a + 1] as number, r[a + 5] as number, t0, dt, nx, fd, 0);
    spanStart(r[a + 2] as number, r[a + 6] as number, r[a + 3] as number, r[a + 7] as number, t0, dt, nx, fd, 4);
    let v = fd[0] as number;
    let d1 = fd[1] as number;
    let d2 = fd[2] as number;
    const d3 = fd[3] as number;
    let w = fd[4] as number;
    let e1 = fd[5] as number;
    let e2 = fd[6] as number;
    const e3 = fd[7] as number;
    let x = start[i] as number;
    for (; x < x0; x++) {
      v += d1;
      d1 += d2;
      d2 += d3;
      w += e1;
      e1 += e2;
      e2 += e3;
    }
    const e = Math.min(start[i + 1] as number, x1);
    if (bgOut !== null && sdOut !== null) {
      for (; x < e; x++) {
        bgOut[o + x] = v;
        sdOut[o + x] = Math.max(w, 0);
        v += d1;
        d1 += d2;
        d2 += d3;
        w += e1;
        e1 += e2;
        e2 += e3;
      }
    } else if (bgOut !== null) {
      for (; x < e; x++) {
        bgOut[o + x] = v;
        v += d1;
        d1 += d2;
        d2 += d3;
      }
    } else if (sdOut !== null) {
      for (; x < e; x++) {
        sdOut[o + x] = Math.max(w, 0);
        w += e1;
        e1 += e2;
        e2 += e3;
      }
    }
  }
}

/**
 * Columns [x0, x1) of row y of the spline's sky level ('background') or σ ('noise') into
 * out[0 … x1 − x0): the same numbers as row y of mapFromGrid's planes, to the bit, without
 * full-frame planes (detectStars evaluates the sky row by row as it consumes the frame). Meant
 * to be called row after row: the column spans are made once per spline.
 */
export function skyRow(s: SkySplines, plane: 'background' | 'noise', y: number, out: Float32Array, x0 = 0, x1 = s.width): void {
  if (plane !== 'background' && plane !== 'noise') throw new Error(`skyRow: plane = ${showValue(plane)} must be 'background' or 'noise'`);
  if (!(Number.isInteger(y) && y >= 0 && y < s.height)) throw new Error(`skyRow: y = ${showValue(y)} must be an integer row in [0, ${s.height})`);
  if (!(Number.isInteger(x0) && Number.isInteger(x1) && x0 >= 0 && x0 <= x1 && x1 <= s.width)) throw new Error(`skyRow: columns [${showValue(x0)}, ${showValue(x1)}) must be integers with 0 ≤ x0 ≤ x1 ≤ ${s.width}`);
  if (!(out instanceof Float32Array && out.length >= x1 - x0)) throw new Error(`skyRow: out must be a Float32Array of at least ${x1 - x0} values`);
  if (x1 === x0) return;
  if (plane === 'noise') splineRow(s, rowSpans(s), y, x0, x1, null, out, 0);
  else splineRow(s, rowSpans(s), y, x0, x1, out, null, 0);
}

/**
 * Row y of both planes, the sky level into `background` and σ into `noise` (each W values), the
 * same numbers as skyRow's: one sweep steps the two cubics side by side, in about the time of
 * one (each plane's steps wait on the adder's latency; two independent chains fill it).
 */
export function skyRows(s: SkySplines, y: number, background: Float32Array, noise: Float32Array): void {
  if (!(Number.isInteger(y) && y >= 0 && y < s.height)) throw new Error(`skyRows: y = ${showValue(y)} must be an integer row in [0, ${s.height})`);
  for (const [name, out] of [['background', background], ['noise', noise]] as const) {
    if (!(out instanceof Float32Array && out.length >= s.width)) throw new Error(`skyRows: ${name} must be a Float32Array of at least ${s.width} values`);
  }
  splineRow(s, rowSpans(s), y, 0, s.width, background, noise, 0);
}

/** How a frame is cut into meshes, and the clipping of each mesh's statistics. */
export interface TileLayout {
  width: number;
  height: number;
  nx: number;
  ny: number;
  kappa: number;
  iterations: number;
  filterSize: number;
}

/** The layout for a frame, with the options checked (errors name the option, the value and the range). */
export function tileLayout(width: number, height: number, options: BackgroundOptions | undefined = {}, where = 'backgroundMap'): TileLayout {
  const o = optionsObject<BackgroundOptions>(where, 'options', options);
  const tile = numberOption(where, 'tileSize', o.tileSize, 64, TILE_MIN, TILE_MAX, { integer: true });
  const filterSize = numberOption(where, 'filterSize', o.filterSize, 3, 1, FILTER_MAX, { integer: true });
  if (filterSize % 2 === 0) throw new Error(`${where}: filterSize = ${filterSize} must be an odd integer in [1, ${FILTER_MAX}]`);
  return {
    width,
    height,
    nx: Math.max(1, Math.round(width / tile)),
    ny: Math.max(1, Math.round(height / tile)),
    kappa: numberOption(where, 'kappa', o.kappa, 3, 0, KAPPA_MAX, { loOpen: true }),
    iterations: numberOption(where, 'iterations', o.iterations, ITERATIONS_MAX, 0, ITERATIONS_MAX, { integer: true }),
    filterSize,
  };
}

/**
 * The histogram of a mesh, as SExtractor sizes it: ±5σ around the 2σ-clipped mean in at most
 * 4096 levels, about one level per pixel (√(2/π)·5/4 of them: few enough that a level holds a
 * few pixels near the peak, as the median's interpolation within a level needs).
 */
const HIST_SIGMAS = 5;
const HIST_LEVELS_MAX = 4096;
const HIST_LEVELS_PER_PIXEL = (Math.sqrt(2 / Math.PI) * HIST_SIGMAS) / 4;
/** A mesh with fewer valid pixels than this fraction is replaced by its neighbours (SExtractor's BACK_MINGOODFRAC). */
const MIN_GOOD_FRACTION = 0.5;
/** Clipping stops when σ changes by less than this fraction, or falls below a tenth of a level. */
const CLIP_CONVERGED = 1e-4;
/** The mode estimate is used while |mean − median| < 0.3σ; a more skewed histogram gives its median. */
const MODE_SKEW_LIMIT = 0.3;


/**
 * Level and σ of the mesh of columns [x0, x1) and rows [y0, y1) of `data` (row length W) into
 * out[0], out[1]: the 2σ pre-clip around the mean, the histogram, the iterative κσ clip around
 * its median, the mode estimate. n, s1 and s2 are the count of its finite pixels and the sums of
 * v − ref and (v − ref)² over them, made by the caller's first pass (sums about a pixel of the
 * mesh: the sky level can be large against its spread). The passes here read the frame in
 * place: their range tests leave NaN and ±∞ out, so the finite pixels need no copy.
 */
function meshStatistics(data: Float32Array, W: number, x0: number, x1: number, y0: number, y1: number, n: number, ref: number, s1: number, s2: number, kappa: number, iterations: number, hist: Int32Array, out: Float64Array): void {
  let mean = s1 / n;
  let sig = Math.sqrt(Math.max(s2 / n - mean * mean, 0));
  mean += ref;
  const lo = mean - 2 * sig;
  const hi = mean + 2 * sig;
  let kept = 0;
  s1 = 0;
  s2 = 0;
  // Even and odd columns summed apart, as in the first pass.
  let t1 = 0;
  let t2 = 0;
  for (let y = y0; y < y1; y++) {
    const e = y * W + x1;
    let i = y * W + x0;
    for (; i + 1 < e; i += 2) {
      const a = data[i] as number;
      const b = data[i + 1] as number;
      if (a >= lo && a <= hi) {
        const d = a - ref;
        s1 += d;
        s2 += d * d;
        kept++;
      }
      if (b >= lo && b <= hi) {
        const d = b - ref;
        t1 += d;
        t2 += d * d;
        kept++;
      }
    }
    if (i < e) {
      const a = data[i] as number;
      if (a >= lo && a <= hi) {
        const d = a - ref;
        s1 += d;
        s2 += d * d;
        kept++;
      }
    }
  }
  s1 += t1;
  s2 += t2;
  mean = s1 / kept + ref;
  sig = Math.sqrt(Math.max(s2 / kept - (s1 / kept) ** 2, 0));
  if (!(sig > 0)) {
    out[0] = mean;
    out[1] = 0;
    return;
  }
  const levels = Math.min(HIST_LEVELS_MAX, Math.floor(HIST_LEVELS_PER_PIXEL * n + 1));
  const scale = (2 * HIST_SIGMAS * sig) / levels;
  const zero = mean - HIST_SIGMAS * sig;
  const inv = 1 / scale;
  // Level k holds values within half a level of zero + k·scale.
  const shift = 0.5 - zero * inv;
  hist.fill(0, 0, levels);
  // Count, Σ level and Σ level² of the window [lcut, hcut], here the whole histogram.
  let w0 = 0;
  let w1 = 0;
  let w2 = 0;
  for (let y = y0; y < y1; y++) {
    for (let i = y * W + x0, e = y * W + x1; i < e; i++) {
      const b = (data[i] as number) * inv + shift;
      // Truncation is the floor for b ≥ 0; the range test drops the pixels beyond ±5σ.
      if (b >= 0 && b < levels) {
        const k = b | 0;
        hist[k] = (hist[k] as number) + 1;
        w0++;
        w1 += k;
        w2 += k * k;
      }
    }
  }
  // Clipping on the histogram, in level units. The window's sums are updated by the levels its
  // edges move over, and the median level m is walked from where it was (cm: the count below
  // m, cl: below lcut, both from level 0): each iteration touches a few levels, not all.
  let lcut = 0;
  let hcut = levels - 1;
  let cl = 0;
  let m = 0;
  let cm = 0;
  let med = 0;
  let mea = 0;
  let sd = 0;
  let prev = NaN;
  for (let it = 0; ; it++) {
    if (w0 <= 0) break;
    mea = w1 / w0;
    sd = Math.sqrt(Math.max(w2 / w0 - mea * mea, 0));
    // Median: the level where the count from lcut reaches half, interpolated within the level.
    const target = cl + 0.5 * w0;
    while (m > lcut && cm >= target) cm -= hist[--m] as number;
    while (cm + (hist[m] as number) < target) cm += hist[m++] as number;
    med = m - 0.5 + (target - cm) / (hist[m] as number);
    if (it >= iterations || sd < 0.1 || Math.abs(sd / prev - 1) < CLIP_CONVERGED) break;
    prev = sd;
    const l = Math.max(0, Math.round(med - kappa * sd));
    const h = Math.min(levels - 1, Math.round(med + kappa * sd));
    if (h < l) break;
    // Levels leaving (sign −1) or entering (+1) the window at either edge.
    for (let k = lcut; k < l; k++) {
      const c = hist[k] as number;
      cl += c;
      w0 -= c;
      w1 -= c * k;
      w2 -= c * k * k;
    }
    for (let k = l; k < lcut; k++) {
      const c = hist[k] as number;
      cl -= c;
      w0 += c;
      w1 += c * k;
      w2 += c * k * k;
    }
    for (let k = h + 1; k <= hcut; k++) {
      const c = hist[k] as number;
      w0 -= c;
      w1 -= c * k;
      w2 -= c * k * k;
    }
    for (let k = hcut + 1; k <= h; k++) {
      const c = hist[k] as number;
      w0 += c;
      w1 += c * k;
      w2 += c * k * k;
    }
    lcut = l;
    hcut = h;
    // The median walk starts inside the new window.
    if (m < lcut) {
      m = lcut;
      cm = cl;
    }
  }
  const mode = sd > 0 && Math.abs(mea - med) < MODE_SKEW_LIMIT * sd ? 2.5 * med - 1.5 * mea : sd > 0 ? med : mea;
  out[0] = zero + mode * scale;
  out[1] = sd * scale;
}

/**
 * Level and σ of the meshes in mesh rows [ty0, ty1) into bg and sd, row-major with mesh row
 * `base` at index 0; NaN for a mesh with fewer than half its pixels finite (filled later from
 * its neighbours). The worker path calls this on its rows: the same numbers as one thread.
 */
export function tileStatistics(data: Float32Array, t: TileLayout, ty0: number, ty1: number, bg: Float64Array, sd: Float64Array, base = 0): void {
  const { width: W, height: H, nx, ny } = t;
  const hist = new Int32Array(HIST_LEVELS_MAX);
  const st = new Float64Array(2);
  for (let ty = ty0; ty < ty1; ty++) {
    const y0 = Math.floor((ty * H) / ny);
    const y1 = Math.floor(((ty + 1) * H) / ny);
    for (let tx = 0; tx < nx; tx++) {
      const x0 = Math.floor((tx * W) / nx);
      const x1 = Math.floor(((tx + 1) * W) / nx);
      let n = 0;
      let ref = data[y0 * W + x0] as number;
      if (!Number.isFinite(ref)) ref = 0;
      // Two sets of sums, for even and odd columns: one set makes each pixel wait for the
      // previous pixel's addition (the loop then runs at the adder's latency, not its rate).
      let s1 = 0;
      let s2 = 0;
      let t1 = 0;
      let t2 = 0;
      for (let y = y0; y < y1; y++) {
        const row = y * W;
        const e = x1 + row;
        let x = x0 + row;
        for (; x + 1 < e; x += 2) {
          const u = data[x] as number;
          const v = data[x + 1] as number;
          // v − v is 0 for every finite v, NaN for NaN and ±∞: one test, no call.
          if (u - u === 0) {
            n++;
            const d = u - ref;
            s1 += d;
            s2 += d * d;
          }
          if (v - v === 0) {
            n++;
            const d = v - ref;
            t1 += d;
            t2 += d * d;
          }
        }
        if (x < e) {
          const u = data[x] as number;
          if (u - u === 0) {
            n++;
            const d = u - ref;
            s1 += d;
            s2 += d * d;
          }
        }
      }
      s1 += t1;
      s2 += t2;
      const k = (ty - base) * nx + tx;
      if (n < 3 || n < MIN_GOOD_FRACTION * (x1 - x0) * (y1 - y0)) {
        bg[k] = NaN;
        sd[k] = NaN;
        continue;
      }
      meshStatistics(data, W, x0, x1, y0, y1, n, ref, s1, s2, t.kappa, t.iterations, hist, st);
      bg[k] = st[0] as number;
      sd[k] = st[1] as number;
    }
  }
}

/** The grid from the raw mesh statistics: bad meshes filled from their neighbours, then the median filter. */
export function finishGrid(t: TileLayout, bg: Float64Array, sd: Float64Array): SkyGrid {
  const { nx, ny } = t;
  fillBadMeshes(bg, sd, nx, ny);
  return { width: t.width, height: t.height, nx, ny, background: medianFilter(bg, nx, ny, t.filterSize), noise: medianFilter(sd, nx, ny, t.filterSize) };
}

/** The mesh grid of `backgroundMap`, without the full-resolution planes (one thread; `backgroundGridBatch` uses all cores). */
export function backgroundGrid(image: Image, options: BackgroundOptions = {}): SkyGrid {
  checkImage('backgroundMap', image);
  const t = tileLayout(image.width, image.height, options);
  const bg = new Float64Array(t.nx * t.ny);
  const sd = new Float64Array(t.nx * t.ny);
  tileStatistics(image.data, t, 0, t.ny, bg, sd);
  return finishGrid(t, bg, sd);
}

/**
 * Replaces each bad (NaN) mesh by the mean of the valid meshes nearest to it on the grid, as
 * SExtractor does before filtering; a frame with no valid mesh keeps NaN (the map is then NaN
 * and measurement reports no background).
 */
function fillBadMeshes(bg: Float64Array, sd: Float64Array, nx: number, ny: number): void {
  const n = nx * ny;
  const bad: number[] = [];
  for (let k = 0; k < n; k++) if (!Number.isFinite(bg[k] as number)) bad.push(k);
  if (bad.length === 0 || bad.length === n) return;
  const fb = new Float64Array(bad.length);
  const fs = new Float64Array(bad.length);
  for (const [q, k] of bad.entries()) {
    const x = k % nx;
    const y = (k - x) / nx;
    let best = Infinity;
    let sb = 0;
    let ss = 0;
    let cnt = 0;
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        const v = bg[j * nx + i] as number;
        if (!Number.isFinite(v)) continue;
        const d = (i - x) ** 2 + (j - y) ** 2;
        if (d > best) continue;
        if (d < best) {
          best = d;
          sb = 0;
          ss = 0;
          cnt = 0;
        }
        sb += v;
        ss += sd[j * nx + i] as number;
        cnt++;
      }
    }
    fb[q] = sb / cnt;
    fs[q] = ss / cnt;
  }
  for (const [q, k] of bad.entries()) {
    bg[k] = fb[q] as number;
    sd[k] = fs[q] as number;
  }
}

/**
 * Median over a size × size box of meshes, the box shrunk symmetrically near the grid's edges
 * (half-widths min(size/2, distance to the edge) along each axis), as SExtractor's filter does:
 * an edge mesh is filtered along the edge only, a corner mesh is kept, and every box is centred
 * on its mesh (odd counts), so a sky gradient is never pulled towards the interior.
 */
function medianFilter(g: Float64Array, nx: number, ny: number, size: number): Float64Array {
  const out = new Float64Array(nx * ny);
  const h = size >> 1;
  const v = new Float64Array(size * size);
  for (let y = 0; y < ny; y++) {
    const hy = Math.min(h, y, ny - 1 - y);
    for (let x = 0; x < nx; x++) {
      const hx = Math.min(h, x, nx - 1 - x);
      let n = 0;
      for (let yy = y - hy; yy <= y + hy; yy++) for (let xx = x - hx; xx <= x + hx; xx++) v[n++] = g[yy * nx + xx] as number;
      out[y * nx + x] = medianInPlace(v, n);
    }
  }
  return out;
}

