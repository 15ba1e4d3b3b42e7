/**
 * measureStarsBatch: every star of a frame at once, on the GPU (stamps extracted in parallel,
 * LM driven from TypeScript, the catalogue written by the kernels; src/stars/batchGpu.ts) or on
 * all CPU cores with worker_threads writing into shared columns. One catalogue row per
 * position, in input order, with the fields and statuses of measureStars.
 */
import { availableThreads, canShareMemory, isSharedBuffer, mapInWorkers, type SpawnWorker } from '../cpu/workerPool.js';
import { GpuContext, GpuUnavailableError } from '../gpu/context.js';
import type { StarsBatchTimings } from '../gpu/starsBatch.js';
import { GpuStarFrame } from '../gpu/starsFrame.js';
import { mapFromGrid, type BackgroundMap, type SkyGrid } from './background.js';
import { backgroundGridBatch } from './backgroundBatch.js';
import { measureStarsGpu, uploadFrame, type GpuBatchTuning } from './batchGpu.js';
import { allocateStarColumns, StarCatalogue, type StarColumns } from './catalogue.js';
import { frameChecks } from './frameChecks.js';
import { checkImage, numberOption, optionsObject, showValue, type Image } from './image.js';
import { checkMap, FrameMeasurer, fillPositions, positionReader, resolveOptions, type StarPositions } from './measure.js';
// Types only: importing the worker module would run its serveWorker, and in a pool worker that
// loads this module (a fuzz worker, say) it would then answer that pool's messages too. The
// workers load it by URL; the calling thread measures with FrameMeasurer directly.
import type { StarsWorkerInit, StarsWorkerJob, StarsWorkerResult } from './starsWorker.js';
import type { MeasureOptions } from './types.js';

/** Starts a worker thread of starsWorker.ts: in this form bundlers bundle the worker module (see workerPool.ts). */
const spawnStarsWorker: SpawnWorker = (Worker) => new Worker(new URL('./starsWorker.js', import.meta.url), { type: 'module' });

/** How measureStarsBatch runs (device, threads, progress, reuse); what it measures is set by MeasureOptions. */
export interface BatchOptions {
  /** 'auto' (default): the GPU when a hardware adapter exists, else the CPU with one notice on stderr. */
  device?: 'gpu' | 'cpu' | 'auto';
  /** Stars finished so far, of the total. */
  onProgress?: (done: number, total: number) => void;
  /** Aborting rejects the promise with the signal's reason; GPU buffers and workers are released. */
  signal?: AbortSignal;
  /** The GPU context to use (default: one shared context, created on first use). */
  gpu?: GpuContext;
  /** Worker threads for the CPU path (default: one per core; 0 runs in the calling thread). */
  workers?: number;
  /**
   * A sky to reuse (default: computed from the frame): a map (`backgroundMap`, needed by the
   * CPU path, whose grid the GPU path takes) or, for the GPU path only, a tile grid.
   */
  background?: BackgroundMap | SkyGrid;
  /** GPU tuning: band size, stars per dispatch, LM iterations per submission. */
  tuning?: GpuBatchTuning;
  /**
   * GPU path: a catalogue of an earlier GPU call with as many rows, no longer needed, whose
   * memory this call's catalogue takes over (its columns are overwritten; it and the result share
   * them). Measuring frame after frame, this saves the first touch of fresh memory, which costs
   * more than filling it.
   */
  into?: StarCatalogue;
  /** Receives the GPU call's timings (ms), for benchmarks. */
  onTimings?: (t: StarsBatchTimings & { runs: number; hostMs: number }) => void;
}

let sharedGpu: Promise<GpuContext> | undefined;
let noticed = false;

function defaultGpu(): Promise<GpuContext> {
  sharedGpu ??= GpuContext.create();
  // A failed attempt is not cached: a later call may find an adapter.
  sharedGpu.catch(() => {
    sharedGpu = undefined;
  });
  return sharedGpu;
}

/**
 * Job sizes for the worker path: guided scheduling, each job a 1/(2·threads) share of the stars
 * still unassigned, between MIN_JOB and MAX_JOB. The first jobs are large (few messages), the
 * last ones small, so the threads finish within about one small job of each other whatever a
 * star costs (a Moffat star takes ~80× a moments star) and however a thread is slowed.
 */
const MIN_JOB = 32;
/** More worker threads than any machine has cores would only cost memory (each holds a workspace). */
const MAX_WORKERS = 1024;
const MAX_JOB = 4096;

/** Start of every job and the end of the last, for n stars on `threads` threads. */
export function cpuJobBounds(n: number, threads: number): number[] {
  const bounds = [0];
  let start = 0;
  while (start < n) {
    const size = Math.min(MAX_JOB, Math.max(MIN_JOB, Math.ceil((n - start) / (2 * Math.max(threads, 1)))));
    start = Math.min(n, start + size);
    bounds.push(start);
  }
  return bounds;
}

/**
 * The plane itself when it already lives in shared memory, else a copy there: the only copy of
 * the frame or a sky plane the worker path makes, once per call (callers measuring one frame
 * several times keep frame and map on SharedArrayBuffers and pay none; on this 2-vCPU VM a
 * 16384² plane costs seconds to copy, far more than measuring 10⁵ stars).
 */
function inSharedMemory(v: Float32Array): Float32Array {
  if (isSharedBuffer(v.buffer)) return v;
  const s = new Float32Array(new SharedArrayBuffer(v.byteLength));
  s.set(v);
  return s;
}

/** Copies a job's rows (every column) into the catalogue's columns from row `first` on. */
function placeRows(rows: StarColumns, columns: StarColumns, first: number): void {
  for (const key of Object.keys(rows) as (keyof StarColumns)[]) (columns[key] as Float64Array).set(rows[key] as Float64Array, first);
}

async function measureStarsCpu(image: Image, positions: StarPositions, options: MeasureOptions, o: BatchOptions): Promise<StarCatalogue> {
  if (o.background && !('background' in o.background && o.background.background instanceof Float32Array)) {
    throw new Error('measureStarsBatch: the CPU path needs a background map (backgroundMap), not a tile grid');
  }
  const background = o.background ? checkMap('measureStarsBatch', o.background, image) : mapFromGrid(await backgroundGridBatch(image, {}, { ...(o.workers === undefined ? {} : { workers: o.workers }), ...(o.signal ? { signal: o.signal } : {}) }));
  const measurer = new FrameMeasurer(image, options, background);
  const map = measurer.map;
  const { count: n, read } = positionReader(positions);
  // Where memory can be shared the workers write into the catalogue's columns; elsewhere (a page
  // that is not cross-origin isolated) each job's rows come back and are placed here.
  const share = canShareMemory();
  const requested = o.workers ?? (await availableThreads());
  const columns = allocateStarColumns(n, share && requested > 0);
  if (requested === 0 || n === 0) {
    measurer.measureRows(read, 0, n, columns);
    o.onProgress?.(n, n);
    return new StarCatalogue(n, columns, measurer.meta);
  }
  fillPositions(positions, 0, n, columns.xInput, columns.yInput);
  const bounds = cpuJobBounds(n, requested);
  const jobs = bounds.length - 1;
  const init: StarsWorkerInit = {
    width: image.width,
    height: image.height,
    // Without shared memory, posting the planes copies them to each worker once per call.
    data: share ? inSharedMemory(image.data) : image.data,
    background: share ? inSharedMemory(map.background) : map.background,
    noise: share ? inSharedMemory(map.noise) : map.noise,
    options,
    ...(share ? { columns } : {}),
  };
  let done = 0;
  await mapInWorkers<StarsWorkerInit, StarsWorkerJob, StarsWorkerResult>({
    worker: spawnStarsWorker,
    init,
    threads: Math.min(requested, jobs),
    ...(o.signal ? { signal: o.signal } : {}),
    jobs: {
      count: jobs,
      make: (j) => {
        const first = bounds[j] as number;
        const count = (bounds[j + 1] as number) - first;
        if (share) return { data: { first, count } };
        const x = columns.xInput.slice(first, first + count);
        const y = columns.yInput.slice(first, first + count);
        return { data: { first, count, x, y }, transfer: [x.buffer, y.buffer] };
      },
    },
    onDone: (j, value) => {
      const first = bounds[j] as number;
      if (typeof value !== 'number') placeRows(value, columns, first);
      done += (bounds[j + 1] as number) - first;
      o.onProgress?.(done, n);
    },
  });
  return new StarCatalogue(n, columns, measurer.meta);
}

/**
 * Measures every position of `image` — or of a frame already on the GPU (`uploadFrame`) — and
 * returns the catalogue: one row per position, in input order, each with a status, as
 * `measureStars` gives them. Bad options throw (before any work); bad positions and bad pixels
 * give per-star statuses.
 */
export async function measureStarsBatch(
  image: Image | GpuStarFrame,
  positions: StarPositions,
  options: MeasureOptions = {},
  batchOptions: BatchOptions = {},
): Promise<StarCatalogue> {
  // Everything is checked before any work, on either device: the same verdict for the same input.
  const batch = optionsObject<BatchOptions>('measureStarsBatch', 'batch', batchOptions);
  const device = batch.device ?? 'auto';
  if (device !== 'gpu' && device !== 'cpu' && device !== 'auto') throw new Error(`measureStarsBatch: device = ${showValue(device)} must be 'gpu', 'cpu' or 'auto'`);
  numberOption('measureStarsBatch', 'workers', batch.workers, 0, 0, MAX_WORKERS, { integer: true });
  if (batch.onProgress !== undefined && typeof batch.onProgress !== 'function') throw new Error(`measureStarsBatch: onProgress = ${showValue(batch.onProgress)} must be a function`);
  batch.signal?.throwIfAborted();
  resolveOptions(options, image instanceof GpuStarFrame ? undefined : image);
  if (!(image instanceof GpuStarFrame)) checkImage('measureStarsBatch', image);
  // The image's own saturation level (readFits/readImage) when the option is not given: the workers and the GPU batch get it in the options.
  if (!(image instanceof GpuStarFrame) && image.saturation !== undefined && options.saturation === undefined) options = { ...options, saturation: image.saturation };
  positionReader(positions);
  const gpuRun = {
    ...(batch.into ? { into: batch.into } : {}),
    ...(batch.signal ? { signal: batch.signal } : {}),
    ...(batch.onProgress ? { onProgress: batch.onProgress } : {}),
    ...(batch.tuning ? { tuning: batch.tuning } : {}),
  };
  if (image instanceof GpuStarFrame) {
    if (device === 'cpu') throw new Error("measureStarsBatch: a GPU frame cannot be measured with device: 'cpu' (pass the image)");
    if (batch.gpu && batch.gpu !== image.ctx) throw new Error('measureStarsBatch: the GPU frame belongs to another GPU context than options.gpu');
    const run = await measureStarsGpu(image, positions, options, gpuRun);
    batch.onTimings?.(run.timings);
    return run.catalogue;
  }
  let ctx: GpuContext | undefined;
  if (device !== 'cpu') {
    try {
      ctx = batch.gpu ?? (await defaultGpu());
    } catch (e) {
      if (device === 'gpu' || !(e instanceof GpuUnavailableError)) throw e;
      if (!noticed) {
        noticed = true;
        console.warn(`[batchfit] measureStarsBatch: no GPU (${e.message}); measuring on the CPU`);
      }
    }
  }
  // A software adapter (lavapipe, SwiftShader) is slower than the CPU path: 'auto' passes it over.
  if (ctx !== undefined && device === 'auto' && batch.gpu === undefined && ctx.adapterInfo.isFallbackAdapter) {
    if (!noticed) {
      noticed = true;
      console.warn(`[batchfit] measureStarsBatch: only a software WebGPU adapter (${ctx.describe()}); measuring on the CPU (device: 'gpu' uses it anyway)`);
    }
    ctx = undefined;
  }
  if (ctx === undefined) {
    const catalogue = await measureStarsCpu(image, positions, options, batch);
    frameChecks(catalogue, image.width, image.height, { fwhm: options.fwhm });
    return catalogue;
  }
  // A frame for this call only: uploaded, measured, freed.
  const frame = await uploadFrame(ctx, image, {
    background: batch.background ?? (await backgroundGridBatch(image, {}, { ...(batch.workers === undefined ? {} : { workers: batch.workers }), ...(batch.signal ? { signal: batch.signal } : {}) })),
    ...(batch.tuning?.maxTileBytes ? { maxBandBytes: batch.tuning.maxTileBytes } : {}),
  });
  try {
    const run = await measureStarsGpu(frame, positions, options, gpuRun);
    batch.onTimings?.(run.timings);
    return run.catalogue;
  } finally {
    frame.destroy();
  }
}
