/**
 * `backgroundGridBatch`: the tile grid of `backgroundGrid` computed on all cores, tile rows
 * spread over worker threads reading the frame from shared memory (or each from its own copy where
 * memory cannot be shared). The same numbers as
 * `backgroundGrid`, tile for tile.
 */
import { availableThreads, canShareMemory, isSharedBuffer, mapInWorkers, type SpawnWorker } from '../cpu/workerPool.js';
import { finishGrid, tileLayout, tileStatistics, type BackgroundOptions, type SkyGrid } from './background.js';
// Types only, as in measureBatch.ts: the workers load the module by URL, one thread computes inline.
import type { BackgroundWorkerInit, BackgroundWorkerJob, TileRows } from './backgroundWorker.js';
import { checkImage, numberOption, optionsObject, type Image } from './image.js';

/** Starts a worker thread of backgroundWorker.ts: in this form bundlers bundle the worker module (see workerPool.ts). */
const spawnBackgroundWorker: SpawnWorker = (Worker) => new Worker(new URL('./backgroundWorker.js', import.meta.url), { type: 'module' });

/** How backgroundGridBatch spreads the work; the grid itself is set by BackgroundOptions. */
export interface BackgroundBatchOptions {
  /** Worker threads (default: one per core; 0 runs in the calling thread). */
  workers?: number;
  /** Aborting stops handing out tile rows and rejects the promise with the signal's reason. */
  signal?: AbortSignal;
}

/** More threads than any machine has cores would only cost start-up time. */
const MAX_WORKERS = 1024;

/**
 * backgroundGrid on all cores: tile rows spread over worker threads, the same grid tile for tile.
 * With one thread (or `workers: 0`, or a grid one tile high) it runs in the calling thread.
 */
export async function backgroundGridBatch(image: Image, options: BackgroundOptions = {}, batchOptions: BackgroundBatchOptions = {}): Promise<SkyGrid> {
  checkImage('backgroundGridBatch', image);
  const t = tileLayout(image.width, image.height, options, 'backgroundGridBatch');
  const batch = optionsObject<BackgroundBatchOptions>('backgroundGridBatch', 'batch', batchOptions);
  numberOption('backgroundGridBatch', 'workers', batch.workers, 0, 0, MAX_WORKERS, { integer: true });
  const bg = new Float64Array(t.nx * t.ny);
  const sd = new Float64Array(t.nx * t.ny);
  const threads = Math.min(batch.workers ?? (await availableThreads()), t.ny);
  batch.signal?.throwIfAborted();
  if (threads <= 1) {
    tileStatistics(image.data, t, 0, t.ny, bg, sd);
    return finishGrid(t, bg, sd);
  }
  // Workers read the frame in place when it is shared, else from a SharedArrayBuffer copy made
  // once; where memory cannot be shared (a page that is not cross-origin isolated) posting the
  // init copies the frame to each worker.
  let data = image.data;
  if (canShareMemory() && !isSharedBuffer(data.buffer)) {
    data = new Float32Array(new SharedArrayBuffer(image.data.byteLength));
    data.set(image.data);
  }
  // Four jobs per thread: tiles differ in cost (clipping iterations), so the threads even out.
  const rowsPerJob = Math.max(1, Math.ceil(t.ny / (4 * threads)));
  const jobs = Math.ceil(t.ny / rowsPerJob);
  await mapInWorkers<BackgroundWorkerInit, BackgroundWorkerJob, TileRows>({
    worker: spawnBackgroundWorker,
    init: { data, layout: t },
    threads,
    ...(batch.signal ? { signal: batch.signal } : {}),
    jobs: { count: jobs, make: (j) => ({ data: { ty0: j * rowsPerJob, ty1: Math.min(t.ny, (j + 1) * rowsPerJob) } }) },
    onDone: (j, rows) => {
      bg.set(rows.bg, j * rowsPerJob * t.nx);
      sd.set(rows.sd, j * rowsPerJob * t.nx);
    },
  });
  return finishGrid(t, bg, sd);
}
