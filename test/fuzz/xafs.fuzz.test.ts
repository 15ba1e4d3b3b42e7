import fc from 'fast-check';
import { expect, test } from 'vitest';
import { FUZZ_SEED, fuzzRuns } from './harness.js';
import { batchProperty, properties } from './xafs.props.js';
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
