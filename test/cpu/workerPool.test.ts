import { threadId } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { mapInWorkers, type WorkerJob } from '../../src/cpu/workerPool.js';
import { negateHandler } from './nestedTestWorker.js';
import { testHandler, type TestInit, type TestJob, type TestOut } from './poolTestWorker.js';

const module = new URL('./poolTestWorker.js', import.meta.url);

function sumJobs(count: number): WorkerJob<TestJob>[] {
  return Array.from({ length: count }, (_, i) => {
    const values = Float64Array.from({ length: 1000 + i }, (_, j) => j + i);
    return { data: { kind: 'sum' as const, values }, transfer: [values.buffer] };
  });
}

function expectedSum(i: number, scale: number): number {
  let s = 0;
  for (let j = 0; j < 1000 + i; j++) s += (j + i) * scale;
  return s;
}

describe('mapInWorkers', () => {
  it('returns every value in job order from two threads, moving the transferred buffers', async () => {
    const jobs = sumJobs(12);
    const done: number[] = [];
    const out = await mapInWorkers<TestInit, TestJob, TestOut>({ module, init: { scale: 3 }, jobs, threads: 2, onDone: (i) => done.push(i) });
    expect(out.map((o) => o.sum)).toEqual(jobs.map((_, i) => expectedSum(i, 3)));
    expect(out[5]!.scaled.length).toBe(1005);
    expect(new Set(out.map((o) => o.thread)).size).toBe(2);
    expect(out.every((o) => o.thread !== threadId)).toBe(true);
    // Moved, not copied: the caller's job buffers are detached.
    expect(jobs.every((j) => j.data.values.byteLength === 0)).toBe(true);
    expect(done.sort((a, b) => a - b)).toEqual([...Array(12).keys()]);
  });

  it('a second map reuses the idle workers (same threads) with its own init', async () => {
    const first = await mapInWorkers<TestInit, TestJob, TestOut>({ module, init: { scale: 1 }, jobs: sumJobs(6), threads: 2 });
    const second = await mapInWorkers<TestInit, TestJob, TestOut>({ module, init: { scale: 5 }, jobs: sumJobs(6), threads: 2 });
    expect(second.map((o) => o.sum)).toEqual([0, 1, 2, 3, 4, 5].map((i) => expectedSum(i, 5)));
    expect(new Set(second.map((o) => o.thread))).toEqual(new Set(first.map((o) => o.thread)));
  });

  it('after a failed map, a new one starts fresh workers and succeeds', async () => {
    const ok = await mapInWorkers<TestInit, TestJob, TestOut>({ module, init: { scale: 1 }, jobs: sumJobs(4), threads: 2 });
    const bad = [{ data: { kind: 'throw' as const, values: new Float64Array(3) } }, ...sumJobs(3)];
    await expect(mapInWorkers<TestInit, TestJob, TestOut>({ module, init: { scale: 1 }, jobs: bad, threads: 2 })).rejects.toThrow('bad job: 3 values');
    const again = await mapInWorkers<TestInit, TestJob, TestOut>({ module, init: { scale: 2 }, jobs: sumJobs(4), threads: 2 });
    expect(again.map((o) => o.sum)).toEqual([0, 1, 2, 3].map((i) => expectedSum(i, 2)));
    // The failed map's workers (the ones of the first map) were terminated, not reused.
    const oldThreads = new Set(ok.map((o) => o.thread));
    expect(again.every((o) => !oldThreads.has(o.thread))).toBe(true);
  });

  it('runs in the calling thread with threads = 0 and gives the same values', async () => {
    const lazyMade: number[] = [];
    const jobs = {
      count: 5,
      make: (i: number): WorkerJob<TestJob> => {
        lazyMade.push(i);
        return sumJobs(i + 1)[i]!;
      },
    };
    const out = await mapInWorkers<TestInit, TestJob, TestOut>({ module, handler: testHandler, init: { scale: 2 }, jobs, threads: 0 });
    expect(out.map((o) => o.sum)).toEqual([0, 1, 2, 3, 4].map((i) => expectedSum(i, 2)));
    expect(out.every((o) => o.thread === threadId)).toBe(true);
    expect(lazyMade).toEqual([0, 1, 2, 3, 4]);
  });

  it('rejects with the handler error, and with an init error', async () => {
    const jobs = [...sumJobs(3), { data: { kind: 'throw' as const, values: new Float64Array(7) } }];
    await expect(mapInWorkers<TestInit, TestJob, TestOut>({ module, init: { scale: 1 }, jobs, threads: 2 })).rejects.toThrow(new RangeError('bad job: 7 values'));
    await expect(mapInWorkers<TestInit, TestJob, TestOut>({ module, init: { scale: 1, failInit: true }, jobs: sumJobs(2), threads: 1 })).rejects.toThrow(
      'init rejected: failInit = true',
    );
  });

  it('rejects an invalid thread count and threads = 0 without a handler', async () => {
    await expect(mapInWorkers({ module, jobs: [], threads: 1.5 })).rejects.toThrow('threads = 1.5 must be an integer ≥ 0');
    await expect(mapInWorkers({ module, jobs: sumJobs(1), threads: 0 })).rejects.toThrow('threads = 0 needs the handler factory');
    await expect(mapInWorkers({ module: new URL('./missing.js', import.meta.url), jobs: sumJobs(1), threads: 1 })).rejects.toThrow(/missing\.js does not exist/);
  });

  it('on abort rejects with the reason and leaves no worker running', async () => {
    const heartbeat = new Int32Array(new SharedArrayBuffer(4));
    const controller = new AbortController();
    const jobs: WorkerJob<TestJob>[] = [
      { data: { kind: 'spin', values: new Float64Array(1) } },
      { data: { kind: 'spin', values: new Float64Array(1) } },
    ];
    const run = mapInWorkers<TestInit, TestJob, TestOut>({ module, init: { scale: 1, heartbeat }, jobs, threads: 2, signal: controller.signal });
    while (Atomics.load(heartbeat, 0) === 0) await new Promise((r) => setTimeout(r, 10));
    const reason = new Error('stop now');
    controller.abort(reason);
    await expect(run).rejects.toBe(reason);
    const after = Atomics.load(heartbeat, 0);
    await new Promise((r) => setTimeout(r, 100));
    expect(Atomics.load(heartbeat, 0)).toBe(after);
  });

  it('an abort during short jobs rejects once they are back and keeps the workers (no termination)', async () => {
    const ok = await mapInWorkers<TestInit, TestJob, TestOut>({ module, init: { scale: 1 }, jobs: sumJobs(4), threads: 2 });
    const controller = new AbortController();
    const reason = new Error('enough');
    const seen: number[] = [];
    const run = mapInWorkers<TestInit, TestJob, TestOut>({
      module, init: { scale: 1 }, jobs: sumJobs(200), threads: 2, signal: controller.signal,
      onDone: (i) => {
        seen.push(i);
        if (seen.length === 3) controller.abort(reason);
      },
    });
    await expect(run).rejects.toBe(reason);
    // No job is handed over after the abort, and the next map finds the same threads.
    expect(seen).toHaveLength(3);
    const again = await mapInWorkers<TestInit, TestJob, TestOut>({ module, init: { scale: 1 }, jobs: sumJobs(4), threads: 2 });
    expect(new Set(again.map((o) => o.thread))).toEqual(new Set(ok.map((o) => o.thread)));
  });

  it('rejects at once with an already aborted signal, in either mode', async () => {
    const reason = new Error('already');
    const signal = AbortSignal.abort(reason);
    await expect(mapInWorkers({ module, jobs: sumJobs(2), threads: 2, signal })).rejects.toBe(reason);
    await expect(mapInWorkers({ module, handler: testHandler, init: { scale: 1 }, jobs: sumJobs(2), threads: 0, signal })).rejects.toBe(reason);
  });

  it('a worker module that imports another worker module: only the entry module answers', async () => {
    const out = await mapInWorkers<TestInit, { values: Float64Array }, number>({
      module: new URL('./nestedTestWorker.js', import.meta.url),
      handler: negateHandler,
      init: { scale: 2 },
      threads: 2,
      jobs: [1, 2, 3, 4].map((v) => ({ data: { values: new Float64Array([v, v]) } })),
    });
    expect(out).toEqual([-4, -8, -12, -16]);
  });
});
