// Random inputs for tests: the generator is the library's own (src/math/random.ts).
export { mulberry32 } from '../../src/math/random.js';

/** Standard normal deviates from a uniform source (Box–Muller). */
export function gaussian(rnd: () => number): () => number {
  return () => {
    const u = 1 - rnd();
    const v = rnd();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}
