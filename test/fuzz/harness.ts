/**
 * The fuzz harness: fast-check properties run in a worker thread under a watchdog, so a case
 * that hangs (a synchronous loop no test timeout can interrupt) is caught, reported with the
 * value that hung, and its thread terminated; and every case is held to a time and a memory
 * bound (a case that takes longer or raises the process's peak RSS by more fails, with its value).
 *
 * A properties module (`test/fuzz/<area>.props.ts`) exports its properties and serves them:
 *
 *   export const properties = {
 *     'autobk rejects or fits any options': fuzzProperty(arbOptions, (o) => { … throw on a violation … }),
 *   };
 *   void serveWorker(fuzzWorker(properties));
 *
 * and its test file runs them (test/fuzz/suite.ts):
 * `fuzzSuite('xafs', new URL('./xafs.props.js', import.meta.url), properties)`. This file is
 * the worker side and imports no vitest.
 * Runs per property: BATCHFIT_FUZZ_RUNS (default 200, `npm run fuzz`: 10 000); seed:
 * BATCHFIT_FUZZ_SEED (default 20261202; failures print the seed and the counterexample).
 */
import fc from 'fast-check';
import type { WorkerReply } from '../../src/cpu/workerPool.js';

export const FUZZ_RUNS = Number(process.env.BATCHFIT_FUZZ_RUNS ?? 200);
export const FUZZ_SEED = Number(process.env.BATCHFIT_FUZZ_SEED ?? 20261202);
/** `npm run fuzz`: every property runs FUZZ_RUNS cases, whatever its share of the short run. */
export const FUZZ_FULL = process.env.BATCHFIT_FUZZ_FULL === '1';

/** Cases of a property with this share: all FUZZ_RUNS in a full run, the share of them otherwise. */
export function fuzzRuns(share: number): number {
  return FUZZ_FULL ? FUZZ_RUNS : Math.max(1, Math.round(FUZZ_RUNS * share));
}
/** Defaults of a case's bounds: the "< 1 s and < 256 MB above baseline". */
export const CASE_MS = 1000;
export const CASE_MB = 256;
/** A worker whose case count has not moved for this long is hung (well above CASE_MS). */
export const HANG_MS = Number(process.env.BATCHFIT_FUZZ_HANG_MS ?? 20_000);

export interface FuzzProperty<T> {
  arbitrary: fc.Arbitrary<T>;
  /** Throws (or rejects) on a violation; returning is a pass. */
  check: (value: T) => void | Promise<void>;
  caseMs: number;
  caseMb: number;
  /** Runs of this property relative to FUZZ_RUNS in the short run of `npm test` (expensive properties take fewer; `npm run fuzz` runs all). */
  share: number;
}

// The properties of one module differ in value type; each check gets the values of its own arbitrary.
export type FuzzProperties = Record<string, FuzzProperty<any>>;

export function fuzzProperty<T>(
  arbitrary: fc.Arbitrary<T>,
  check: (value: T) => void | Promise<void>,
  limits: { caseMs?: number; caseMb?: number; share?: number } = {},
): FuzzProperty<T> {
  return { arbitrary, check, caseMs: limits.caseMs ?? CASE_MS, caseMb: limits.caseMb ?? CASE_MB, share: limits.share ?? 1 };
}

/** A short, printable description of a value (fast-check's), cut to `max` characters. */
function describeValue(v: unknown, max = 2000): string {
  const s = fc.stringify(v);
  return s.length > max ? `${s.slice(0, max)}… (${s.length} characters)` : s;
}

export interface FuzzInit {
  /** [cases started] — read by the watchdog. */
  progress: Int32Array;
  /** The current case's value, UTF-8, zero-padded (for a hang report). */
  current: Uint8Array;
}

export interface FuzzJob {
  property: string;
  runs: number;
  seed: number;
}

export interface FuzzOutcome {
  runs: number;
  failed: boolean;
  report: string;
}

/** The worker side: runs one property per job. */
export function fuzzWorker(properties: FuzzProperties): (init: FuzzInit) => (job: FuzzJob) => Promise<WorkerReply<FuzzOutcome>> {
  return (init) => async (job) => {
    const p = properties[job.property] as unknown as FuzzProperty<unknown> | undefined;
    if (!p) throw new Error(`no fuzz property '${job.property}'`);
    const encoder = new TextEncoder();
    const peakKb = (): number => process.resourceUsage().maxRSS;
    const property = fc.asyncProperty(p.arbitrary, async (value) => {
      Atomics.add(init.progress, 0, 1);
      init.current.fill(0);
      encoder.encodeInto(describeValue(value, init.current.length / 4), init.current);
      const peak0 = peakKb();
      const t0 = performance.now();
      await p.check(value);
      const ms = performance.now() - t0;
      const grewMb = (peakKb() - peak0) / 1024;
      if (ms > p.caseMs) throw new Error(`case took ${ms.toFixed(0)} ms (bound ${p.caseMs} ms)`);
      if (grewMb > p.caseMb) throw new Error(`case raised the peak RSS by ${grewMb.toFixed(0)} MB (bound ${p.caseMb} MB)`);
    });
    const result = await fc.check(property, { numRuns: job.runs, seed: job.seed });
    return { value: { runs: result.numRuns, failed: result.failed, report: result.failed ? fc.defaultReportMessage(result) ?? 'failed' : '' } };
  };
}

