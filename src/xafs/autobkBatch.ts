/**
 * AUTOBK for a whole batch of spectra: validates the container, picks the device and runs the
 * WebGPU back end (autobkBatchGpu) or the CPU one (autobkBatchCpu over worker threads). The
 * result is columnar (AutobkBatchResults): typed-array planes for the whole batch, records only
 * as views; a spectrum that cannot be fitted gets status 'error' and its own message.
 */
import { availableThreads, canShareMemory } from '../cpu/workerPool.js';
import { GpuContext, GpuDeviceError, GpuUnavailableError } from '../gpu/context.js';
import { df64Verdict } from '../gpu/df64SelfTest.js';
import { autobkBatchCpu } from './autobkBatchCpu.js';
import { autobkBatchGpu } from './autobkBatchGpu.js';
import { describe, planeShape, validateBatch, type Batch } from './autobkBatchInput.js';
import { ResultSink, type AutobkBatchResults } from './autobkBatchResults.js';
import type { AutobkBatchInput, AutobkBatchOptions, AutobkBatchRun, BatchTimings } from './autobkBatchTypes.js';

/** Below this many spectra the default runs in the calling thread: starting workers costs more. */
const MIN_SPECTRA_FOR_WORKERS = 32;


/** Whether ctx's device is lost: its loss is reported a moment after the first failing call. */
async function lostDevice(ctx: GpuContext): Promise<boolean> {
  if (ctx.isLost) return true;
  await Promise.race([ctx.device.lost, new Promise((resolve) => setTimeout(resolve, 200))]);
  return ctx.isLost;
}

/** The CPU back end with its sink: planes shared with the workers where memory can be shared. */
async function runOnCpu(batch: Batch, options: AutobkBatchOptions, run: AutobkBatchRun, threads: number, t0: number): Promise<AutobkBatchResults> {
  const chir = run.chir === undefined || run.chir === false ? null : run.chir;
  const shape = planeShape(batch, options, chir);
  const sink = new ResultSink(
    batch.n,
    shape,
    run.retain ?? run.onChunk === undefined,
    { device: 'cpu', kstep: options.kstep ?? 0.05, energy: batch.kind === 'list' ? null : batch.series.energy, r: null },
    run.onChunk,
    // Workers writing in place pad their own rows, so the pages are first touched on their threads.
    { shared: threads > 0 && canShareMemory(), ownEnergy: batch.kind === 'list', pad: !(threads > 0 && canShareMemory()) },
  );
  const t = await autobkBatchCpu(batch, options, run, threads, sink, shape);
  const result = sink.finish();
  run.onProgress?.({ done: result.count, total: result.count, fraction: 1 });
  run.onTimings?.({ ...t, totalMs: performance.now() - t0, submissions: 0 } satisfies BatchTimings);
  return result;
}

/**
 * AUTOBK background removal of every spectrum of a batch (Larch's autobk with `options`, which
 * apply to all; e0 and edge step come from the input or from pre_edge). `spectra` is a list
 * of spectra (grids may differ), a packed series on one energy grid, or a series streamed as
 * row blocks. The container is checked first (a malformed one rejects the call, naming field and
 * value); a spectrum whose data or options cannot be fitted gets status 'error' with its own
 * message and the others still complete. The result is columnar (AutobkBatchResults); with
 * `run.onChunk` every finished chunk is handed over in input order.
 *
 * Devices: 'auto' (default) runs on the GPU when a hardware adapter exists and otherwise on the CPU,
 * after one notice line; 'gpu' rejects without an adapter; 'cpu' spreads chunks of spectra
 * over worker threads. CPU results equal `autobk`'s exactly (the same float64 code).
 */
export async function autobkBatch(spectra: AutobkBatchInput, options: AutobkBatchOptions = {}, run: AutobkBatchRun = {}): Promise<AutobkBatchResults> {
  const t0 = performance.now();
  const device = run.device ?? 'auto';
  if (device !== 'auto' && device !== 'gpu' && device !== 'cpu') throw new RangeError(`autobkBatch: device = '${String(device)}' must be 'gpu', 'cpu' or 'auto'`);
  if (options === null || typeof options !== 'object') throw new TypeError(`autobkBatch: options must be an object, got ${describe(options)}`);
  for (const key of ['e0', 'edgeStep'] as const) {
    if ((options as Record<string, unknown>)[key] !== undefined) {
      throw new TypeError(`autobkBatch: options.${key} = ${String((options as Record<string, unknown>)[key])}: ${key} belongs to the input (per spectrum, or the packed series' ${key})`);
    }
  }
  if (run.workers !== undefined && !(Number.isInteger(run.workers) && run.workers >= 0)) {
    throw new RangeError(`autobkBatch: workers = ${run.workers} must be an integer ≥ 0`);
  }
  const batch = validateBatch(spectra);
  run.signal?.throwIfAborted();
  if (run.retain !== undefined && typeof run.retain !== 'boolean') throw new TypeError(`autobkBatch: retain = ${String(run.retain)} must be a boolean`);
  if (run.onChunk !== undefined && typeof run.onChunk !== 'function') throw new TypeError(`autobkBatch: onChunk must be a function, got ${describe(run.onChunk)}`);
  const threads = async (): Promise<number> => run.workers ?? (batch.n !== null && batch.n < MIN_SPECTRA_FOR_WORKERS ? 0 : await availableThreads());
  if (device === 'cpu') return runOnCpu(batch, options, run, await threads(), t0);

  let ctx = run.gpu;
  let owned = false;
  if (ctx === undefined) {
    try {
      ctx = await GpuContext.create(run.gpuOptions);
      owned = true;
    } catch (e) {
      if (!(e instanceof GpuUnavailableError)) throw e;
      if (device === 'gpu') throw new GpuUnavailableError(`autobkBatch: device 'gpu' was requested but ${e.message}`, { cause: e });
      const n = await threads();
      (run.notice ?? console.warn)(`batchfit: ${e.message}; autobkBatch runs on the CPU (${n === 0 ? 'in the calling thread' : `${n} worker threads`}).`);
      return runOnCpu(batch, options, run, n, t0);
    }
    // A software adapter (lavapipe, SwiftShader) is several times slower than the CPU path, so
    // 'auto' does not count it as a GPU; device: 'gpu' still uses it.
    if (device === 'auto' && ctx.adapterInfo.isFallbackAdapter) {
      const adapter = ctx.describe();
      ctx.destroy();
      const n = await threads();
      (run.notice ?? console.warn)(`batchfit: only a software WebGPU adapter (${adapter}); autobkBatch runs on the CPU (${n === 0 ? 'in the calling thread' : `${n} worker threads`}); device: 'gpu' uses it anyway.`);
      return runOnCpu(batch, options, run, n, t0);
    }
  }
  try {
    // Double-float arithmetic is checked once per device: a driver that folds it would give
    // silently wrong series results.
    const verdict = await df64Verdict(ctx);
    if (!verdict.ok) {
      const n = await threads();
      (run.notice ?? console.warn)(`batchfit: the double-float self-test failed on ${verdict.adapter} (${verdict.detail}); autobkBatch runs on the CPU (${n === 0 ? 'in the calling thread' : `${n} worker threads`}).`);
      return await runOnCpu(batch, options, run, n, t0);
    }
    // Spectra handed to onChunk so far (chunks arrive in input order).
    let delivered = 0;
    const onChunk = run.onChunk;
    const gpuRun: AutobkBatchRun = onChunk === undefined ? run : {
      ...run,
      onChunk: async (chunk) => {
        await onChunk(chunk);
        delivered = chunk.start + chunk.count;
      },
    };
    try {
      return await autobkBatchGpu(ctx, batch, options, gpuRun, t0);
    } catch (e) {
      // A lost device (reset, driver gone, destroyed) is no fault of the input: a list or packed
      // series is fitted again on the CPU, so no spectrum is lost and the result is the CPU
      // path's; onChunk gets only the spectra it has not had yet. A stream's blocks already read
      // cannot be read again: a streamed batch fails with the device's error.
      if (!(e instanceof GpuDeviceError) || !(await lostDevice(ctx))) throw e;
      if (batch.kind === 'stream') {
        throw new GpuDeviceError(`${e.message}; autobkBatch cannot finish a streamed batch on the CPU (its blocks were read: ${delivered} spectra were delivered)`, { cause: e });
      }
      const n = await threads();
      (run.notice ?? console.warn)(`batchfit: ${e.message}; autobkBatch fits the batch again on the CPU (${n === 0 ? 'in the calling thread' : `${n} worker threads`})${delivered > 0 ? `, delivering the spectra from ${delivered} on` : ''}.`);
      const cpuRun: AutobkBatchRun = onChunk === undefined ? run : {
        ...run,
        onChunk: (chunk) => (chunk.start + chunk.count <= delivered ? undefined : onChunk(chunk.start >= delivered ? chunk : chunk.rowsFrom(delivered))),
      };
      return await runOnCpu(batch, options, cpuRun, n, t0);
    }
  } finally {
    if (owned) ctx.destroy();
  }
}
