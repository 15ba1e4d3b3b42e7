/** The test side of the fuzz harness (test/fuzz/harness.ts): one vitest test per property. */
import { describe, expect, test } from 'vitest';
import { mapInWorkers } from '../../src/cpu/workerPool.js';
import { FUZZ_RUNS, FUZZ_SEED, fuzzRuns, fuzzWorker, HANG_MS, type FuzzInit, type FuzzJob, type FuzzOutcome, type FuzzProperties } from './harness.js';

/** One vitest test per property, each run in a worker thread under the watchdog. */
export function fuzzSuite(area: string, module: URL, properties: FuzzProperties): void {
  describe(`fuzz: ${area} (${FUZZ_RUNS} runs per property, seed ${FUZZ_SEED})`, () => {
    for (const [name, p] of Object.entries(properties)) {
      const runs = fuzzRuns(p.share);
      test(name, async () => {
        const progress = new Int32Array(new SharedArrayBuffer(4));
        const current = new Uint8Array(new SharedArrayBuffer(8192));
        const abort = new AbortController();
        let hung = '';
        let last = -1;
        let lastChange = performance.now();
        const watchdog = setInterval(() => {
          const now = Atomics.load(progress, 0);
          if (now !== last) {
            last = now;
            lastChange = performance.now();
          } else if (performance.now() - lastChange > HANG_MS) {
            hung = `case ${now} of '${name}' (seed ${FUZZ_SEED}) ran for more than ${HANG_MS / 1000} s: ${new TextDecoder().decode(current).replace(/\0+$/, '')}`;
            abort.abort(new Error(hung));
          }
        }, 500);
        try {
          const [outcome] = await mapInWorkers<FuzzInit, FuzzJob, FuzzOutcome>({
            module,
            handler: fuzzWorker(properties) as never,
            init: { progress, current },
            threads: 1,
            signal: abort.signal,
            jobs: [{ data: { property: name, runs, seed: FUZZ_SEED } }],
          });
          expect(outcome!.failed, outcome!.report).toBe(false);
          expect(outcome!.runs).toBe(runs);
        } catch (e) {
          if (hung) throw new Error(hung);
          throw e;
        } finally {
          clearInterval(watchdog);
        }
      }, runs * 2 * Math.max(p.caseMs, 50) + 60_000);
    }
  });
}
