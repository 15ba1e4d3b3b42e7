/** Placeholder until the WebGPU back end lands (issue 5); replaced by its implementation. */
import type { GpuContext } from '../gpu/context.js';
import type { AutobkBatchInput, AutobkBatchOptions, AutobkBatchResult, AutobkBatchRun } from './autobkBatchTypes.js';

/**
 * Fits every spectrum of a validated batch on the GPU; per-spectrum problems become error
 * results, never exceptions. Rejects only on abort or device loss.
 */
export function autobkBatchGpu(
  ctx: GpuContext,
  input: AutobkBatchInput,
  options: AutobkBatchOptions,
  run: Pick<AutobkBatchRun, 'onProgress' | 'signal' | 'chir' | 'maxChunk' | 'onTimings'>,
): Promise<AutobkBatchResult[]> {
  void ctx; void input; void options; void run;
  return Promise.reject(new Error('autobkBatchGpu: not implemented yet'));
}
