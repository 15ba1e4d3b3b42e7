/**
 * measureStarsBatch: every star of a frame at once, on the GPU (stamps extracted in parallel,
 * LM driven from TypeScript; see src/gpu/starsBatch.ts) or on all CPU cores with worker_threads.
 * One result per position, in input order, with the fields and statuses of measureStars.
 */
import { mapInWorkers, availableThreads } from '../cpu/workerPool.js';
import { GpuContext, GpuUnavailableError } from '../gpu/context.js';
import type { StarsBatchTimings } from '../gpu/starsBatch.js';
import type { BackgroundMap } from './background.js';
import { batchSettings, measureStarsGpu, type GpuBatchTuning } from './batchGpu.js';
import type { Image } from './image.js';
import { FrameMeasurer, type StarPosition } from './measure.js';
import { starsWorker, unpackStar, type PackedStars, type StarsWorkerInit, type StarsWorkerJob } from './starsWorker.js';
import type { MeasureOptions, StarMeasurement } from './types.js';

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
  /** A sky map of the frame to reuse (default: computed from the frame). */
  background?: BackgroundMap;
  /** GPU tuning: band size, stars per dispatch, LM iterations per submission. */
  tuning?: GpuBatchTuning;
  /** Receives the GPU time split (ms) of the call, for benchmarks. */
  onTimings?: (t: StarsBatchTimings & { assembleMs: number; bands: number; chunks: number }) => void;
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
  if (v.buffer instanceof SharedArrayBuffer) return v;
  const s = new Float32Array(new SharedArrayBuffer(v.byteLength));
  s.set(v);
  return s;
}

async function measureStarsCpu(image: Image, map: BackgroundMap, positions: ArrayLike<StarPosition>, options: MeasureOptions, o: BatchOptions): Promise<StarMeasurement[]> {
  const n = positions.length;
  const requested = o.workers ?? (await availableThreads());
  const bounds = cpuJobBounds(n, requested);
  const jobs = bounds.length - 1;
  const threads = Math.min(requested, jobs);
  const init: StarsWorkerInit = {
    width: image.width,
    height: image.height,
    data: inSharedMemory(image.data),
    background: inSharedMemory(map.background),
    noise: inSharedMemory(map.noise),
    options,
  };
  const out = new Array<StarMeasurement>(n);
  let done = 0;
  await mapInWorkers<StarsWorkerInit, StarsWorkerJob, PackedStars>({
    module: new URL('./starsWorker.js', import.meta.url),
    handler: starsWorker,
    init,
    threads,
    ...(o.signal ? { signal: o.signal } : {}),
    jobs: {
      count: jobs,
      make(j) {
        const first = bounds[j] as number;
        const m = (bounds[j + 1] as number) - first;
        const xy = new Float64Array(2 * m);
        for (let k = 0; k < m; k++) {
          const p = positions[first + k] as StarPosition;
          xy[2 * k] = p.x;
          xy[2 * k + 1] = p.y;
        }
        return { data: { first, xy }, transfer: [xy.buffer] };
      },
    },
    // Records are rebuilt as each job arrives, while the workers measure the next ones.
    onDone: (j, packed) => {
      const first = bounds[j] as number;
      for (let k = 0; k < packed.count; k++) out[first + k] = unpackStar(packed, k);
      done += packed.count;
      o.onProgress?.(done, n);
    },
  });
  return out;
}

/**
 * Measures every position of `image`: one result per position, in input order, each with a
 * status, as `measureStars` gives them. Bad options throw (before any work); bad positions and
 * bad pixels give per-star statuses.
 */
export async function measureStarsBatch(
  image: Image,
  positions: ArrayLike<StarPosition>,
  options: MeasureOptions = {},
  batch: BatchOptions = {},
): Promise<StarMeasurement[]> {
  const device = batch.device ?? 'auto';
  if (device !== 'gpu' && device !== 'cpu' && device !== 'auto') throw new Error(`measureStarsBatch: device = '${String(device)}' must be 'gpu', 'cpu' or 'auto'`);
  batch.signal?.throwIfAborted();
  // Validates the options (with measureStars' messages) and computes the sky map once.
  const map = new FrameMeasurer(image, options, batch.background).map;
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
  if (ctx === undefined) return measureStarsCpu(image, map, positions, options, batch);
  const run = await measureStarsGpu(ctx, image, map, positions, batchSettings(options), {
    ...(batch.signal ? { signal: batch.signal } : {}),
    ...(batch.onProgress ? { onProgress: batch.onProgress } : {}),
    ...(batch.tuning ? { tuning: batch.tuning } : {}),
  });
  batch.onTimings?.(run.timings);
  return run.results;
}
