/**
 * measureStarsBatch: every star of a frame at once, on the GPU (stamps extracted in parallel,
 * LM driven from TypeScript; see src/gpu/starsBatch.ts) or on all CPU cores with worker_threads.
 * One result per position, in input order, with the fields and statuses of measureStars.
 */
import { availableParallelism } from 'node:os';
import { mapInWorkers } from '../cpu/workerPool.js';
import { GpuContext, GpuUnavailableError } from '../gpu/context.js';
import type { StarsBatchTimings } from '../gpu/starsBatch.js';
import type { BackgroundMap } from './background.js';
import { batchSettings, measureStarsGpu, type GpuBatchTuning } from './batchGpu.js';
import type { Image } from './image.js';
import { FrameMeasurer, type StarPosition } from './measure.js';
import { starsWorker, type StarsWorkerInit, type StarsWorkerJob } from './starsWorker.js';
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

/** Positions per worker job: small enough to balance the cores, large enough to amortise a message. */
const CPU_JOB = 512;

function shared(v: Float32Array): SharedArrayBuffer {
  if (v.buffer instanceof SharedArrayBuffer && v.byteOffset === 0 && v.byteLength === v.buffer.byteLength) return v.buffer;
  const s = new SharedArrayBuffer(v.byteLength);
  new Float32Array(s).set(v);
  return s;
}

async function measureStarsCpu(image: Image, map: BackgroundMap, positions: ArrayLike<StarPosition>, options: MeasureOptions, o: BatchOptions): Promise<StarMeasurement[]> {
  const n = positions.length;
  const jobs = Math.ceil(n / CPU_JOB);
  const threads = Math.min(o.workers ?? availableParallelism(), jobs);
  const init: StarsWorkerInit = {
    width: image.width,
    height: image.height,
    data: shared(image.data),
    background: shared(map.background),
    noise: shared(map.noise),
    options,
  };
  let done = 0;
  const parts = await mapInWorkers<StarsWorkerInit, StarsWorkerJob, StarMeasurement[]>({
    module: new URL('./starsWorker.js', import.meta.url),
    handler: starsWorker,
    init,
    threads,
    ...(o.signal ? { signal: o.signal } : {}),
    jobs: {
      count: jobs,
      make(j) {
        const first = j * CPU_JOB;
        const m = Math.min(CPU_JOB, n - first);
        const xy = new Float64Array(2 * m);
        for (let k = 0; k < m; k++) {
          const p = positions[first + k] as StarPosition;
          xy[2 * k] = p.x;
          xy[2 * k + 1] = p.y;
        }
        return { data: { first, xy }, transfer: [xy.buffer] };
      },
    },
    onDone: (_j, value) => {
      done += value.length;
      o.onProgress?.(done, n);
    },
  });
  return parts.flat();
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
