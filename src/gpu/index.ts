// The public GPU surface: the context and the batched FFT. The kernel drivers (AutobkLm,
// StarsGpuBatch) and the chunk planner are internal: autobkBatch and measureStarsBatch use them.
export { GpuContext, GpuDeviceError, GpuUnavailableError, requestGpuContext } from './context.js';
export type { AdapterDescription, GpuContextOptions } from './context.js';
export { BatchedFft } from './fft.js';
export type { BatchedFftOptions, FftRunResult } from './fft.js';
export { GpuStarFrame } from './starsFrame.js';
// Types that public signatures mention (BatchedFft.chunks, measureStarsBatch's onTimings).
export type { Chunk, ChunkLimits } from './chunks.js';
export type { StarsBatchTimings } from './starsBatch.js';
