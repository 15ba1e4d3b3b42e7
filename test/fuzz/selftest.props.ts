/** The harness itself: a passing property, and (only when asked for) a hanging one. */
import fc from 'fast-check';
import { serveWorker } from '../../src/cpu/workerPool.js';
import { fuzzProperty, fuzzWorker } from './harness.js';

export const properties = {
  'addition commutes': fuzzProperty(fc.tuple(fc.integer(), fc.integer()), ([a, b]) => {
    if (a + b !== b + a) throw new Error('not commutative');
  }),
  ...(process.env.BATCHFIT_FUZZ_SELFTEST_HANG === '1'
    ? {
        'hangs on 7': fuzzProperty(fc.integer({ min: 0, max: 10 }), (v) => {
          if (v === 7) for (;;);
        }),
      }
    : {}),
};

void serveWorker(fuzzWorker(properties));
