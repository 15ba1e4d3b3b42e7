/**
 * GPU access for tests. Without an adapter, GPU tests skip with a visible message; with
 * BATCHFIT_REQUIRE_GPU=1 (CI) they fail instead.
 */
import { GpuContext, GpuUnavailableError } from '../../src/gpu/context.js';

export const requireGpu = process.env.BATCHFIT_REQUIRE_GPU === '1';

let shared: Promise<GpuContext | undefined> | undefined;

/** One context per test worker, or undefined (with a printed notice) when no adapter exists. */
export function testGpu(): Promise<GpuContext | undefined> {
  shared ??= GpuContext.create().then(
    (ctx) => {
      console.info(`[batchfit] GPU tests run on: ${ctx.describe()} — ${ctx.adapterInfo.description}`);
      return ctx;
    },
    (e: unknown) => {
      if (requireGpu || !(e instanceof GpuUnavailableError)) throw e;
      console.warn(`[batchfit] GPU tests SKIPPED: ${(e as Error).message} (set BATCHFIT_REQUIRE_GPU=1 to make this a failure)`);
      return undefined;
    },
  );
  return shared;
}

/** Label for describe blocks: the adapter that runs them. */
export function gpuLabel(ctx: GpuContext | undefined): string {
  return ctx ? `on ${ctx.describe()}` : '(skipped: no WebGPU adapter)';
}
