// Browser entry for the Chromium test: the GPU FFT through navigator.gpu, checked against the
// CPU FFT, both from the same bundle (shaders embedded, no file access).
import { GpuContext } from '../../src/gpu/context.js';
import { BatchedFft } from '../../src/gpu/fft.js';
import { realFftPlan } from '../../src/math/fft.js';

export async function runFftCheck(n: number, columns: number, nOut: number) {
  const ctx = await GpuContext.create();
  const input = new Float32Array(n * columns);
  let s = 7;
  for (let i = 0; i < input.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    input[i] = s / 2 ** 32 - 0.5;
  }
  const fft = await BatchedFft.create(ctx, { n, nOut, capacity: columns });
  const { spectrum } = await fft.forward(input, columns);
  const plan = realFftPlan(n);
  const full = new Float64Array(n + 2);
  let err = 0;
  let max = 0;
  for (let c = 0; c < columns; c++) {
    plan.forward(input.subarray(c * n, (c + 1) * n), full);
    for (let k = 0; k < 2 * nOut; k++) {
      err = Math.max(err, Math.abs(spectrum[c * nOut * 2 + k]! - full[k]!));
      max = Math.max(max, Math.abs(full[k]!));
    }
  }
  fft.destroy();
  const adapter = ctx.describe();
  ctx.destroy();
  return { adapter, relativeError: err / max };
}
