import fc from 'fast-check';
import { expect, test } from 'vitest';
import { FUZZ_SEED, fuzzRuns } from './harness.js';
import { autobkBatch, type AutobkBatchResults } from '../../src/xafs/index.js';
import type { AutobkBatchOptions } from '../../src/xafs/autobkBatchTypes.js';
import { testGpu } from '../util/gpu.js';
import { autobkOptions, batchProperty, corrupt, corruption, properties, E, MU } from './xafs.props.js';
import { fuzzSuite } from './suite.js';

fuzzSuite('xafs', new URL('./xafs.props.js', import.meta.url), properties);

for (const [name, p] of Object.entries(batchProperty)) {
  const runs = fuzzRuns(p.share);
  test(`fuzz: xafs (${runs} runs, seed ${FUZZ_SEED}, this thread) > ${name}`, async () => {
    const result = await fc.check(
      fc.asyncProperty(p.arbitrary, async (v) => {
        const t0 = performance.now();
        await p.check(v);
        const ms = performance.now() - t0;
        if (ms > p.caseMs) throw new Error(`case took ${ms.toFixed(0)} ms (bound ${p.caseMs} ms)`);
      }),
      { numRuns: runs, seed: FUZZ_SEED },
    );
    expect(result.failed, fc.defaultReportMessage(result) ?? '').toBe(false);
  }, runs * 2 * p.caseMs + 60_000);
}

// GPU and CPU verdicts: the same batch with the same options either fails on both devices with
// the same message, or gives each spectrum the same verdict (fitted, or the same error). Only
// the GPU's own documented limit (workgroup memory for many knots) may differ. In this thread
// (one Dawn instance per process) and on few cases: every case is a GPU run on lavapipe.
const gpu = await testGpu();
const gpuRuns = fuzzRuns(0.05);
test.skipIf(!gpu)(`fuzz: xafs (${gpuRuns} runs, seed ${FUZZ_SEED}, this thread) > autobkBatch: GPU and CPU give the same verdicts`, async () => {
  const verdicts = (r: AutobkBatchResults): string[] => r.toRecords().map((x) => (x.status === 'error' ? `error: ${x.error}` : 'fitted'));
  const result = await fc.check(
    fc.asyncProperty(autobkOptions, corruption, async (withEdge, kind) => {
      // e0 and edgeStep belong to the input: as options both devices refuse them at once.
      const { e0: _e0, edgeStep: _step, ...options } = withEdge;
      const batch = [{ energy: E, mu: MU }, corrupt(kind)];
      const run = async (device: 'gpu' | 'cpu'): Promise<string[] | string> => {
        try {
          return verdicts(await autobkBatch(batch, options as AutobkBatchOptions, device === 'gpu' ? { device, gpu: gpu! } : { device, workers: 0 }));
        } catch (e) {
          return `throws: ${(e as Error).message}`;
        }
      };
      const [g, c] = [await run('gpu'), await run('cpu')];
      if (typeof g !== 'string' && typeof c !== 'string') {
        g.forEach((v, i) => {
          if (v !== c[i] && !/use device: 'cpu'/.test(v)) throw new Error(`spectrum ${i}: GPU ${v} — CPU ${c[i]}`);
        });
      } else if (g !== c) {
        throw new Error(`GPU ${JSON.stringify(g)} — CPU ${JSON.stringify(c)}`);
      }
    }),
    { numRuns: gpuRuns, seed: FUZZ_SEED },
  );
  expect(result.failed, fc.defaultReportMessage(result) ?? '').toBe(false);
}, gpuRuns * 5000 + 60_000);
