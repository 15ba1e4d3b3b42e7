/**
 * The batched FFT demo: 1000 columns of 2048 samples through the GPU FFT when an adapter exists,
 * checked against the CPU FFT; otherwise on the CPU alone, after a one-line notice.
 */
import { GpuContext, GpuUnavailableError, type GpuContextOptions } from '../gpu/context.js';
import { BatchedFft } from '../gpu/fft.js';
import { realFftPlan } from '../math/fft.js';

const N = 2048;
const COLUMNS = 1000;

export async function fftDemo(log: (line: string) => void = console.log, gpuOptions: GpuContextOptions = {}): Promise<number> {
  let s = 1;
  const input = Float32Array.from({ length: N * COLUMNS }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
  const plan = realFftPlan(N);
  const col = new Float64Array(N);
  const bins = new Float64Array(N + 2);
  const cpu = new Float32Array(COLUMNS * (N + 2));
  const t0 = performance.now();
  for (let c = 0; c < COLUMNS; c++) {
    for (let j = 0; j < N; j++) col[j] = input[c * N + j]!;
    plan.forward(col, bins);
    cpu.set(bins, c * (N + 2));
  }
  const cpuMs = performance.now() - t0;

  let ctx: GpuContext;
  try {
    ctx = await GpuContext.create(gpuOptions);
  } catch (e) {
    if (!(e instanceof GpuUnavailableError)) throw e;
    log(`batchfit: ${e.message}; running on the CPU only.`);
    log(`FFT ${COLUMNS} × ${N} real columns on the CPU: ${cpuMs.toFixed(1)} ms (${((cpuMs * 1000) / COLUMNS).toFixed(1)} µs per column)`);
    return 0;
  }
  try {
    log(`GPU: ${ctx.describe()} — ${ctx.adapterInfo.description}`);
    const fft = await BatchedFft.create(ctx, { n: N, capacity: COLUMNS });
    await fft.forward(input, COLUMNS); // first call compiles the pipeline
    const t1 = performance.now();
    const { spectrum, kernelMs } = await fft.forward(input, COLUMNS, { timing: true });
    const gpuMs = performance.now() - t1;
    let err = 0;
    let max = 0;
    for (let i = 0; i < cpu.length; i++) {
      err = Math.max(err, Math.abs(spectrum[i]! - cpu[i]!));
      max = Math.max(max, Math.abs(cpu[i]!));
    }
    log(`FFT ${COLUMNS} × ${N} real columns:`);
    log(`  CPU (float64, one thread): ${cpuMs.toFixed(1)} ms`);
    log(
      `  GPU (float32): ${gpuMs.toFixed(1)} ms end to end` +
        (kernelMs === undefined ? '' : `, ${kernelMs.toFixed(2)} ms in the kernel`) +
        (ctx.adapterInfo.isFallbackAdapter ? ' (software-emulated adapter: not GPU speed)' : ''),
    );
    log(`  max |GPU − CPU| = ${(err / max).toExponential(2)} × max|X|`);
    fft.destroy();
  } finally {
    ctx.destroy();
  }
  return 0;
}
