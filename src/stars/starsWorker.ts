/**
 * Worker side of measureStarsBatch with `device: 'cpu'`: each worker builds one FrameMeasurer
 * over the frame and sky maps and measures ranges of rows. Where memory can be shared (Node, a
 * cross-origin-isolated page) the maps and the catalogue's columns are views on
 * SharedArrayBuffers, never copied: the positions are read from the xInput/yInput columns the
 * caller filled, and a finished job sends back nothing but its range. Elsewhere (an ordinary
 * page) each worker gets its own copy of the maps, each job carries its positions, and the
 * worker moves the job's rows back (transferred, not copied) for the caller to place.
 */
import { serveWorker, type WorkerReply } from '../cpu/workerPool.js';
import { allocateStarColumns, type StarColumns } from './catalogue.js';
import { FrameMeasurer } from './measure.js';
import type { MeasureOptions } from './types.js';

export interface StarsWorkerInit {
  width: number;
  height: number;
  /** width·height values each, on SharedArrayBuffers where memory can be shared, else copies. */
  data: Float32Array;
  background: Float32Array;
  noise: Float32Array;
  options: MeasureOptions;
  /** The catalogue's columns on SharedArrayBuffers, xInput/yInput filled; absent where memory cannot be shared. */
  columns?: StarColumns;
}

/** Rows [first, first + count) to measure. */
export interface StarsWorkerJob {
  first: number;
  count: number;
  /** The rows' positions, when the columns are not shared (moved with the job). */
  x?: Float64Array;
  y?: Float64Array;
}

/** A job's result: its row count (rows written into the shared columns), or its rows themselves. */
export type StarsWorkerResult = number | StarColumns;

/** The handler factory the worker module serves (see workerPool.ts). */
export function starsWorker(init: StarsWorkerInit): (job: StarsWorkerJob) => WorkerReply<StarsWorkerResult> {
  const { width, height, columns } = init;
  const image = { width, height, data: init.data };
  const map = { width, height, background: init.background, noise: init.noise };
  const m = new FrameMeasurer(image, init.options, map);
  if (columns !== undefined) {
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
  return (job) => {
    const { first, x, y } = job;
    if (x === undefined || y === undefined) throw new Error('starsWorker: a job without shared columns must carry its positions');
    const rows = allocateStarColumns(job.count);
    m.measureRows((k, xy) => {
      xy[0] = x[k - first] as number;
      xy[1] = y[k - first] as number;
    }, first, first + job.count, rows, 0);
    return { value: rows, transfer: Object.values(rows).map((c: ArrayBufferView) => c.buffer) };
  };
}

void serveWorker(starsWorker);
