/**
 * Worker side of measureStarsBatch with `device: 'cpu'`: each worker builds one FrameMeasurer
 * over the frame and sky maps it shares with the caller (SharedArrayBuffers, never copied) and
 * measures the slices of positions it is sent.
 */
import { serveWorker, type WorkerReply } from '../cpu/workerPool.js';
import { FrameMeasurer } from './measure.js';
import type { MeasureOptions, StarMeasurement } from './types.js';

export interface StarsWorkerInit {
  width: number;
  height: number;
  /** float32 planes of width·height values. */
  data: SharedArrayBuffer;
  background: SharedArrayBuffer;
  noise: SharedArrayBuffer;
  options: MeasureOptions;
}

export interface StarsWorkerJob {
  /** Id of the first position of the slice. */
  first: number;
  /** (x, y) pairs. */
  xy: Float64Array;
}

export function starsWorker(init: StarsWorkerInit): (job: StarsWorkerJob) => WorkerReply<StarMeasurement[]> {
  const { width, height } = init;
  const image = { width, height, data: new Float32Array(init.data) };
  const map = { width, height, background: new Float32Array(init.background), noise: new Float32Array(init.noise) };
  const m = new FrameMeasurer(image, init.options, map);
  return (job) => {
    const n = job.xy.length / 2;
    const out: StarMeasurement[] = new Array<StarMeasurement>(n);
    for (let k = 0; k < n; k++) out[k] = m.measure(job.xy[2 * k] as number, job.xy[2 * k + 1] as number, job.first + k);
    return { value: out };
  };
}

serveWorker(starsWorker);
