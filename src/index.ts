export { ComplexFftPlan, RealFftPlan, complexFftPlan, realFftPlan, rfft, irfft } from './math/fft.js';
export * from './gpu/index.js';
