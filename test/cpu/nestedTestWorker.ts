/**
 * Worker module for workerPool.test.ts that imports another worker module (poolTestWorker, which
 * calls serveWorker when loaded): only this entry module may answer.
 */
import { serveWorker, type WorkerReply } from '../../src/cpu/workerPool.js';
import { testHandler, type TestInit } from './poolTestWorker.js';

export function negateHandler(init: TestInit): (job: { values: Float64Array }) => WorkerReply<number> {
  // Uses the imported module, as an index import would, without serving its handler.
  void testHandler;
  return (job) => ({ value: -init.scale * job.values.reduce((a, b) => a + b, 0) });
}

void serveWorker(negateHandler);
