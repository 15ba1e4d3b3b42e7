/**
 * Worker side of measureStarsBatch with `device: 'cpu'`: each worker builds one FrameMeasurer
 * over the frame and sky maps it shares with the caller (views on SharedArrayBuffers, never
 * copied) and measures ranges of rows straight into the catalogue's columns, which are on
 * SharedArrayBuffers too: the positions are read from the xInput/yInput columns the caller
 * filled, and a finished job sends back nothing but its range.
 */
import { serveWorker, type WorkerReply } from '../cpu/workerPool.js';
import type { StarColumns } from './catalogue.js';
import { FrameMeasurer } from './measure.js';
import type { MeasureOptions } from './types.js';

export interface StarsWorkerInit {
  width: number;
  height: number;
  /** width·height values each, on SharedArrayBuffers. */
  data: Float32Array;
  background: Float32Array;
  noise: Float32Array;
  options: MeasureOptions;
  /** The catalogue's columns, on SharedArrayBuffers, with xInput/yInput filled. */
  columns: StarColumns;
}

/** Rows [first, first + count) to measure. */
export interface StarsWorkerJob {
  first: number;
  count: number;
}

export function starsWorker(init: StarsWorkerInit): (job: StarsWorkerJob) => WorkerReply<number> {
  const { width, height, columns } = init;
  const image = { width, height, data: init.data };
  const map = { width, height, background: init.background, noise: init.noise };
  const m = new FrameMeasurer(image, init.options, map);
  const xs = columns.xInput;
  const ys = columns.yInput;
  const read = (k: number, xy: Float64Array): void => {
    xy[0] = xs[k] as number;
    xy[1] = ys[k] as number;
  };
  return (job) => {
    m.measureRows(read, job.first, job.first + job.count, columns);
    return { value: job.count, transfer: [] };
  };
}

void serveWorker(starsWorker);
