export { ComplexFftPlan, RealFftPlan, complexFftPlan, realFftPlan, rfft, irfft } from './math/fft.js';
