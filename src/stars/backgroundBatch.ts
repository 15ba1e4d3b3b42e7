/**
 * `backgroundGridBatch`: the tile grid of `backgroundGrid` computed on all cores, tile rows
 * spread over worker threads reading the frame from shared memory. The same numbers as
 * `backgroundGrid`, tile for tile.
 */
import { availableThreads, canShareMemory, isSharedBuffer, mapInWorkers } from '../cpu/workerPool.js';
import { finishGrid, tileLayout, tileStatistics, type BackgroundOptions, type SkyGrid } from './background.js';
// Types only, as in measureBatch.ts: the workers load the module by URL, one thread computes inline.
import type { BackgroundWorkerInit, BackgroundWorkerJob, TileRows } from './backgroundWorker.js';
import { checkImage, numberOption, optionsObject, type Image } from './image.js';

export interface BackgroundBatchOptions {
  /** Worker threads (default: one per core; 0 runs in the calling thread). */
  workers?: number;
  signal?: AbortSignal;
}

/** More threads than any machine has cores would only cost start-up time. */
const MAX_WORKERS = 1024;

export async function backgroundGridBatch(image: Image, options: BackgroundOptions = {}, batchOptions: BackgroundBatchOptions = {}): Promise<SkyGrid> {
  checkImage('backgroundGridBatch', image);
  const t = tileLayout(image.width, image.height, options, 'backgroundGridBatch');
  const batch = optionsObject<BackgroundBatchOptions>('backgroundGridBatch', 'batch', batchOptions);
  numberOption('backgroundGridBatch', 'workers', batch.workers, 0, 0, MAX_WORKERS, { integer: true });
  const bg = new Float64Array(t.nx * t.ny);
  const sd = new Float64Array(t.nx * t.ny);
  const threads = Math.min(batch.workers ?? (await availableThreads()), t.ny);
  batch.signal?.throwIfAborted();
  // The workers read the frame from shared memory: where there is none, the calling thread works.
  if (threads <= 1 || !canShareMemory()) {
    tileStatistics(image.data, t, 0, t.ny, bg, sd);
    return finishGrid(t, bg, sd);
  }
  // Workers read the frame in place when it is shared; otherwise it is copied there once.
  let data = image.data;
  if (!isSharedBuffer(data.buffer)) {
    data = new Float32Array(new SharedArrayBuffer(image.data.byteLength));
    data.set(image.data);
  }
  // Four jobs per thread: tiles differ in cost (clipping iterations), so the threads even out.
  const rowsPerJob = Math.max(1, Math.ceil(t.ny / (4 * threads)));
  const jobs = Math.ceil(t.ny / rowsPerJob);
  await mapInWorkers<BackgroundWorkerInit, BackgroundWorkerJob, TileRows>({
    module: new URL('./backgroundWorker.js', import.meta.url),
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
