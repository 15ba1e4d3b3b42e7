/**
 * The GPU path of measureStarsBatch: frames held on the GPU (`uploadFrame`) and the call that
 * measures a list of positions on one, returning the catalogue the kernels wrote. The host's
 * work per star is two typed-array passes — positions into the upload (validity, start pixel,
 * band) and x = ix + cx in float64 afterwards — and no object is made per star.
 */
import type { GpuContext } from '../gpu/context.js';
import {
  CAT_CX,
  CAT_CY,
  CAT_INT_PLANES,
  CAT_IX,
  CAT_IY,
  CAT_PLANES,
  maxStarsPerRun,
  POSITION_REJECTED,
  StarsGpuBatch,
  type StarsBatchConfig,
  type StarsBatchTimings,
} from '../gpu/starsBatch.js';
import { GpuStarFrame, type FrameSky } from '../gpu/starsFrame.js';
import { checkGrid, type BackgroundMap, type SkyGrid } from './background.js';
import { backgroundGridBatch } from './backgroundBatch.js';
import { finalCheckFlags, MEASURE_METHODS, STAR_FLOAT_FIELDS, STAR_INT_FIELDS, STATUS_FAILED, StarCatalogue, type FloatColumn, type StarColumns } from './catalogue.js';
import { checkImage, type Image } from './image.js';
import { frameChecks } from './frameChecks.js';
import { checkMap, fillPositions, positionReader, resolveOptions, StarWorkspace, type Resolved, type StarPositions } from './measure.js';
import { FLAG_INVALID_POSITION, FLAG_OUTSIDE, type MeasureOptions } from './types.js';

export { GpuStarFrame } from '../gpu/starsFrame.js';

/**
 * Knobs of the GPU path of measureStarsBatch (BatchOptions.tuning). By default bands and chunks
 * are as large as the device's limits allow; tests and benchmarks set these to force bands,
 * chunks or more submissions.
 */
export interface GpuBatchTuning {
  /** Bytes of one frame band (forces bands on a small frame; only when the frame is made by the call). */
  maxTileBytes?: number;
  /** Stars per dispatch (forces chunking). */
  maxStarsPerDispatch?: number;
  /** LM iterations per submission (default: 8, 24, then the rest of the 100-iteration cap). */
  iterationsPerSubmission?: number;
}

/** Options of uploadFrame. */
export interface UploadFrameOptions {
  /**
   * The frame's sky: a tile grid (`backgroundGrid`) or a map (`backgroundMap`; its grid is used
   * when it has one, else its planes, at 12 bytes per pixel). Default: `backgroundGridBatch(image)`.
   */
  background?: BackgroundMap | SkyGrid;
  /** A frame to upload into instead of making one (same size and sky kind: its buffers are reused). */
  into?: GpuStarFrame;
  /** Upper bound on the bytes of one frame band (tests force bands with it). */
  maxBandBytes?: number;
}

function isSkyGrid(b: BackgroundMap | SkyGrid): b is SkyGrid {
  return 'nx' in b && 'ny' in b;
}

/**
 * Puts a frame and its sky on the GPU for any number of `measureStarsBatch` calls: pass the
 * returned frame instead of the image. `destroy()` frees it (and the buffers the calls made).
 */
export async function uploadFrame(ctx: GpuContext, image: Image, options: UploadFrameOptions = {}): Promise<GpuStarFrame> {
  const { width: W, height: H } = checkImage('uploadFrame', image);
  const bg = options.background ?? (await backgroundGridBatch(image));
  if (typeof bg !== 'object' || bg === null) throw new Error(`uploadFrame: background = ${String(bg)} must be a sky grid or a background map`);
  if (bg.width !== W || bg.height !== H) throw new Error(`uploadFrame: background is ${bg.width}×${bg.height}, image is ${W}×${H}`);
  let grid: SkyGrid | undefined;
  if (isSkyGrid(bg)) grid = checkGrid('uploadFrame', bg);
  else if (bg.grid) grid = checkGrid('uploadFrame', bg.grid);
  else checkMap('uploadFrame', bg, image);
  const sky: FrameSky = grid
    ? { kind: 'grid', nx: grid.nx, ny: grid.ny, background: grid.background, noise: grid.noise }
    : { kind: 'planes', background: (bg as BackgroundMap).background, noise: (bg as BackgroundMap).noise };
  const cells = sky.kind === 'grid' ? sky.nx * sky.ny : 0;
  const planes = sky.kind === 'grid' ? 1 : 3;
  let frame = options.into;
  if (frame && (frame.isDestroyed || frame.ctx !== ctx || frame.width !== W || frame.height !== H || frame.planes !== planes || frame.gridCells < cells)) {
    throw new Error(`uploadFrame: the frame given as 'into' holds ${frame.width}×${frame.height} pixels with ${frame.planes === 3 ? 'sky planes' : `a ${frame.gridCells}-cell sky grid`}; this image needs ${W}×${H} with ${planes === 3 ? 'sky planes' : `${cells} cells`}`);
  }
  frame ??= new GpuStarFrame(ctx, { width: W, height: H, planes, gridCells: cells, ...(options.maxBandBytes ? { maxBandBytes: options.maxBandBytes } : {}) });
  frame.upload(image.data, sky);
  return frame;
}

export interface GpuBatchRun {
  catalogue: StarCatalogue;
  timings: StarsBatchTimings & { runs: number; hostMs: number };
}

// The per-star loops of a call are small functions of their own, which V8 optimizes reliably.

/**
 * starIn words of stars [first, first + m): start pixel floor(x + ½) (int32) and offset
 * (float32) — absolute float32 coordinates would lose 0.002 px on a 16k frame — or
 * POSITION_REJECTED and the flag of a non-finite or off-image position; with bands, each star's.
 */
function packPositions(
  xs: Float64Array, ys: Float64Array, first: number, m: number, W: number, H: number,
  starIn: ArrayBuffer, bandOf: Int32Array | null, ownRows: number, bands: number,
): void {
  const si = new Int32Array(starIn);
  const sf = new Float32Array(starIn);
  for (let k = 0; k < m; k++) {
    const x = xs[first + k] as number;
    const y = ys[first + k] as number;
    const o = 4 * k;
    // NaN fails every comparison: both tests send it to the rejected branch, which any band
    // may take (the kernels write its row and stop).
    if (!(x - x === 0 && y - y === 0)) {
      si[o] = POSITION_REJECTED;
      si[o + 1] = FLAG_INVALID_POSITION;
      if (bandOf) bandOf[k] = 0;
    } else if (!(x >= -0.5 && y >= -0.5 && x < W - 0.5 && y < H - 0.5)) {
      si[o] = POSITION_REJECTED;
      si[o + 1] = FLAG_OUTSIDE;
      if (bandOf) bandOf[k] = 0;
    } else {
      // floor(v + ½) as a truncation: v + ½ lies in [0, 2³¹) once the position is inside.
      const cx = (x + 0.5) | 0;
      const cy = (y + 0.5) | 0;
      si[o] = cx;
      si[o + 1] = cy;
      sf[o + 2] = x - cx;
      sf[o + 3] = y - cy;
      // Bands own equal runs of rows (the last may be shorter).
      if (bandOf) bandOf[k] = Math.min((cy / ownRows) | 0, bands - 1);
    }
  }
}

/** out = start pixel + float32 offset, in float64. */
function addOffsets(start: Int32Array, offset: Float32Array, out: Float64Array): void {
  for (let k = 0; k < out.length; k++) out[k] = (start[k] as number) + (offset[k] as number);
}

/** measureOne's last check (finalCheckFlags) on every star the kernels did not fail, on the float64 positions. */
function finalCheck(c: { x: Float64Array; y: Float64Array; fwhm: FloatColumn; flux: FloatColumn; status: Uint32Array; flags: Uint32Array }, W: number, H: number): void {
  for (let k = 0; k < c.status.length; k++) {
    if (c.status[k] === STATUS_FAILED) continue;
    const add = finalCheckFlags(c.x[k] as number, c.y[k] as number, c.fwhm[k] as number, c.flux[k] as number, W, H);
    if (add === 0) continue;
    c.flags[k] = (c.flags[k] as number) | add;
    c.status[k] = STATUS_FAILED;
  }
}

/** The buffer behind the float and integer columns of each GPU catalogue, for `into`. */
const catalogueStorage = new WeakMap<StarCatalogue, ArrayBuffer>();

/** The batch of kernels and buffers for these options on this frame, made on first use and kept with it. */
async function batchFor(frame: GpuStarFrame, o: Resolved, tuning: GpuBatchTuning): Promise<StarsGpuBatch> {
  const key = JSON.stringify([o.method, o.fwhm, o.gain, o.saturation, o.annulus, o.slope, o.beta, o.rnFloor, tuning.maxStarsPerDispatch, tuning.iterationsPerSubmission]);
  const had = frame.attached.get(key);
  if (had) return had as StarsGpuBatch;
  const ws = new StarWorkspace(o.fwhm, 'f64');
  const model = o.method === 'moments' ? -1 : (o.model as 0 | 1 | 2 | 3);
  const config: StarsBatchConfig = {
    radius: ws.radius,
    annulus: o.annulus,
    slope: o.slope,
    model,
    method: MEASURE_METHODS.indexOf(o.method),
    fwhm: o.fwhm,
    saturation: o.saturation,
    rnFloor: o.rnFloor,
    poisson: o.gain > 0 ? 1 / o.gain : 0,
    sigmaW: ws.sigmaW,
    sigma0: ws.sigma0,
    beta: o.beta,
    dao: {
      radius: ws.dao.kr,
      tapOffset: ws.dao.tapOffset,
      tapWeight: ws.dao.tapWeight,
      mask: ws.dao.mask,
      marginal: ws.dao.marginal,
      wSum: ws.dao.wSum,
      kSum: ws.dao.kSum,
      den: ws.dao.den,
    },
    ...(tuning.maxStarsPerDispatch === undefined ? {} : { maxStarsPerDispatch: tuning.maxStarsPerDispatch }),
    ...(tuning.iterationsPerSubmission === undefined ? {} : { iterationsPerSubmission: tuning.iterationsPerSubmission }),
  };
  const batch = await StarsGpuBatch.create(frame, config);
  frame.attached.set(key, batch);
  return batch;
}

/** Measures every position on a GPU frame: the catalogue, in input order. */
export async function measureStarsGpu(
  frame: GpuStarFrame,
  positions: StarPositions,
  options: MeasureOptions,
  run: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void; tuning?: GpuBatchTuning; into?: StarCatalogue },
): Promise<GpuBatchRun> {
  const tHost = performance.now();
  if (frame.isDestroyed) throw new Error('measureStarsBatch: this GPU frame was destroyed');
  const { width: W, height: H } = frame;
  const resolved = resolveOptions(options);
  const batch = await batchFor(frame, resolved, run.tuning ?? {});
  const method = resolved.method;
  const { count: n } = positionReader(positions);
  const into = run.into;
  const recycled = into === undefined ? undefined : catalogueStorage.get(into);
  if (into !== undefined && (recycled === undefined || into.length !== n)) {
    throw new Error(`measureStarsBatch: into must be a catalogue of an earlier GPU call with as many rows as positions (${n}); it has ${into.length} rows${recycled === undefined ? ' and is not from the GPU path' : ''}`);
  }
  const xInput = into?.xInput ?? new Float64Array(n);
  const yInput = into?.yInput ?? new Float64Array(n);
  const perRun = Math.max(1, maxStarsPerRun(frame.ctx));
  const runs = Math.max(1, Math.ceil(n / perRun));
  // One call's planes, or every run's gathered into one buffer when the stars need several calls.
  const whole = runs === 1 ? undefined : (recycled ?? new ArrayBuffer(4 * CAT_PLANES * n));
  let planes: ArrayBuffer | undefined;
  const timings = { uploadMs: 0, loopMs: 0, readbackMs: 0, submissions: 0, gpuMs: 0, chunks: 0, bands: 0 };
  const bands = frame.bands.length;
  const ownRows = (frame.bands[0] as { own1: number }).own1;
  let hostMs = performance.now() - tHost;
  for (let r = 0; r < runs; r++) {
    const th = performance.now();
    const first = r * perRun;
    const m = Math.min(perRun, n - first);
    const staging = batch.staging(m);
    const starIn = staging.starIn;
    const bandOf = bands > 1 ? staging.bandOf : null;
    fillPositions(positions, first, m, xInput, yInput, first);
    packPositions(xInput, yInput, first, m, W, H, starIn, bandOf, ownRows, bands);
    hostMs += performance.now() - th;
    const out = await batch.run({ count: m, starIn, bandOf, ...(runs === 1 && recycled ? { target: recycled } : {}) }, {
      ...(run.signal ? { signal: run.signal } : {}),
      onProgress: (done) => run.onProgress?.(first + done, n),
    });
    const t = out.timings;
    timings.uploadMs += t.uploadMs;
    timings.loopMs += t.loopMs;
    timings.readbackMs += t.readbackMs;
    timings.submissions += t.submissions;
    timings.gpuMs += t.gpuMs;
    timings.chunks = Math.max(timings.chunks, t.chunks);
    timings.bands = Math.max(timings.bands, t.bands);
    if (!whole) {
      planes = out.catalogue;
      continue;
    }
    const tc = performance.now();
    const src = new Uint32Array(out.catalogue);
    const dst = new Uint32Array(whole);
    for (let p = 0; p < CAT_PLANES; p++) dst.set(src.subarray(p * m, (p + 1) * m), p * n + first);
    hostMs += performance.now() - tc;
  }
  const tc = performance.now();
  const buf = whole ?? planes ?? new ArrayBuffer(0);
  const f32 = new Float32Array(buf);
  const u32 = new Uint32Array(buf);
  const i32 = new Int32Array(buf);
  const cols: Record<string, Float64Array | Float32Array | Uint32Array> = { xInput, yInput };
  STAR_FLOAT_FIELDS.forEach((f, p) => (cols[f] = f32.subarray(p * n, (p + 1) * n)));
  STAR_INT_FIELDS.forEach((f, p) => (cols[f] = u32.subarray((CAT_INT_PLANES + p) * n, (CAT_INT_PLANES + p + 1) * n)));
  // Positions in float64: the start pixel plus the float32 offset.
  const x = into?.x ?? new Float64Array(n);
  const y = into?.y ?? new Float64Array(n);
  const cx = f32.subarray(CAT_CX * n, (CAT_CX + 1) * n);
  const cy = f32.subarray(CAT_CY * n, (CAT_CY + 1) * n);
  const ix = i32.subarray(CAT_IX * n, (CAT_IX + 1) * n);
  const iy = i32.subarray(CAT_IY * n, (CAT_IY + 1) * n);
  addOffsets(ix, cx, x);
  addOffsets(iy, cy, y);
  cols['x'] = x;
  cols['y'] = y;
  finalCheck(cols as StarColumns, W, H);
  frameChecks(cols as StarColumns, W, H, { fwhm: resolved.fwhm });
  const catalogue = new StarCatalogue(n, cols as StarColumns, { width: W, height: H, method, device: 'gpu' });
  catalogueStorage.set(catalogue, buf);
  hostMs += performance.now() - tc;
  return { catalogue, timings: { ...timings, runs, hostMs } };
}
