/** Worker module for workerPool.test.ts: sums a vector, spins forever, or throws, as the job says. */
import { threadId } from 'node:worker_threads';
import { serveWorker, type WorkerReply } from '../../src/cpu/workerPool.js';

export interface TestInit {
  scale: number;
  /** Incremented by 'spin' jobs until the thread is terminated. */
  heartbeat?: Int32Array;
  failInit?: boolean;
}

export interface TestJob {
  kind: 'sum' | 'spin' | 'throw';
  values: Float64Array;
}

export interface TestOut {
  sum: number;
  thread: number;
  /** The job's values times the scale, in a buffer moved back. */
  scaled: Float64Array;
}

export function testHandler(init: TestInit): (job: TestJob) => WorkerReply<TestOut> {
  if (init.failInit) throw new TypeError('init rejected: failInit = true');
  return (job) => {
    if (job.kind === 'throw') throw new RangeError(`bad job: ${job.values.length} values`);
    if (job.kind === 'spin') {
      // Runs until terminate(): the heartbeat shows whether the thread still runs.
      for (;;) Atomics.add(init.heartbeat!, 0, 1);
    }
    const scaled = job.values.map((v) => v * init.scale);
    let sum = 0;
    for (const v of scaled) sum += v;
    return { value: { sum, thread: threadId, scaled }, transfer: [scaled.buffer] };
  };
}

void serveWorker(testHandler);
