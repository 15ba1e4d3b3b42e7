/**
 * Worker side of `backgroundGridBatch`: each worker computes the tile statistics of the tile
 * rows it is sent, reading the frame from a SharedArrayBuffer (never copied) or, where memory
 * cannot be shared, from the copy its init brought.
 */
import { serveWorker, type WorkerReply } from '../cpu/workerPool.js';
import { tileStatistics, type TileLayout } from './background.js';

export interface BackgroundWorkerInit {
  data: Float32Array;
  layout: TileLayout;
}

/** Tile rows [ty0, ty1). */
export interface BackgroundWorkerJob {
  ty0: number;
  ty1: number;
}

export interface TileRows {
  bg: Float64Array;
  sd: Float64Array;
}

export function backgroundWorker(init: BackgroundWorkerInit): (job: BackgroundWorkerJob) => WorkerReply<TileRows> {
  const { data, layout } = init;
  const nx = layout.nx;
  return ({ ty0, ty1 }) => {
    const bg = new Float64Array((ty1 - ty0) * nx);
    const sd = new Float64Array((ty1 - ty0) * nx);
    tileStatistics(data, layout, ty0, ty1, bg, sd, ty0);
    return { value: { bg, sd }, transfer: [bg.buffer, sd.buffer] };
  };
}

void serveWorker(backgroundWorker);
