/**
 * FFT benchmark: CPU real FFT (ours and fft.js side by side) and the batched GPU FFT (kernel
 * time from timestamp queries, and end to end with upload and read-back), 2048-point columns,
 * each GPU figure next to the kernel's modelled workgroup-memory wavefronts per column
 * (scripts/fft-wavefronts.mjs). On a software adapter (lavapipe) the GPU figures are CPU
 * emulation, labelled so: correctness runs, not GPU speed.
 * Writes bench/results/fft-<adapter>.json.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import FFT from 'fft.js';
import { Bench } from 'tinybench';
import { GpuContext, GpuUnavailableError } from '../src/gpu/context.js';
import { BatchedFft } from '../src/gpu/fft.js';
import { realFftPlan } from '../src/math/fft.js';
import { machineInfo, projectRoot, slug, summarize, writeResult } from './util.js';

const N = 2048;
const BATCHES = [1000, 10_000];

interface KernelWavefronts {
  wavefronts: number;
  workgroupLoads: number;
  workgroupStores: number;
  twiddleL1: number;
}
type WavefrontModel = (n: number, options?: { nOut?: number }) => { old: KernelWavefronts; new: KernelWavefronts };

async function wavefrontModel(): Promise<WavefrontModel> {
  const url = pathToFileURL(join(projectRoot, 'scripts', 'fft-wavefronts.mjs')).href;
  return ((await import(url)) as { model: WavefrontModel }).model;
}

function wavefronts(k: KernelWavefronts): KernelWavefronts {
  const { wavefronts: total, workgroupLoads, workgroupStores, twiddleL1 } = k;
  return { wavefronts: total, workgroupLoads, workgroupStores, twiddleL1 };
}

function randomColumns(count: number): Float32Array {
  let s = 12345;
  return Float32Array.from({ length: count }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

async function cpu(): Promise<Record<string, unknown>> {
  const plan = realFftPlan(N);
  const x = Float64Array.from(randomColumns(N));
  const out = new Float64Array(N + 2);
  const ref = new FFT(N);
  const refOut = ref.createComplexArray() as number[];
  const refIn = Array.from(x);
  const one = new Bench({ time: 1500, warmupTime: 300 });
  one.add('batchfit realFftPlan(2048).forward', () => plan.forward(x, out));
  one.add('fft.js realTransform(2048)', () => ref.realTransform(refOut, refIn));
  await one.run();
  const single = summarize(one);

  const loops = new Bench({ time: 2000, warmupTime: 200, iterations: 5 });
  const columns = randomColumns(N * BATCHES[BATCHES.length - 1]!);
  const col = new Float64Array(N);
  for (const b of BATCHES) {
    loops.add(`CPU ${b} columns`, () => {
      for (let c = 0; c < b; c++) {
        for (let j = 0; j < N; j++) col[j] = columns[c * N + j]!;
        plan.forward(col, out);
      }
    });
  }
  await loops.run();
  const batch = summarize(loops);
  const ours = single[0]!.medianMs * 1000;
  const theirs = single[1]!.medianMs * 1000;
  console.log(`CPU 2048-point real FFT: batchfit ${ours.toFixed(2)} µs, fft.js ${theirs.toFixed(2)} µs median (ratio ${(theirs / ours).toFixed(2)}×)`);
  for (const t of batch) console.log(`${t.name}: ${t.medianMs.toFixed(2)} ms median (${((t.medianMs * 1000) / Number(t.name.split(' ')[1])).toFixed(2)} µs per column)`);
  return { singleTransform: single, batches: batch, perTransformUs: { batchfit: ours, fftjs: theirs } };
}

async function gpu(ctx: GpuContext, model: WavefrontModel): Promise<Record<string, unknown>> {
  const software = ctx.adapterInfo.isFallbackAdapter || ctx.adapterInfo.architecture === 'software';
  const device = software ? `software-emulated GPU (${ctx.describe()}): not GPU speed` : ctx.describe();
  const tag = software ? 'software GPU' : 'GPU';
  const results: Record<string, unknown>[] = [];
  for (const nOut of [N / 2 + 1, 40]) {
    const modelled = wavefronts(model(N, { nOut }).new);
    const fft = await BatchedFft.create(ctx, { n: N, nOut, capacity: BATCHES[BATCHES.length - 1]! });
    for (const b of BATCHES) {
      const input = randomColumns(N * b);
      const out = new Float32Array(b * nOut * 2);
      await fft.forward(input, b, { out }); // warm-up: pipeline compiled, buffers touched
      const kernel: number[] = [];
      const bench = new Bench({ time: 1000, warmupTime: 0, iterations: 5 });
      bench.add(`${tag} ${b} columns, ${nOut} bins, end to end`, async () => {
        const r = await fft.forward(input, b, { out, timing: true });
        if (r.kernelMs !== undefined) kernel.push(r.kernelMs);
      });
      await bench.run();
      const [e2e] = summarize(bench);
      kernel.sort((a, c) => a - c);
      const kernelMs = kernel.length > 0 ? kernel[Math.floor(kernel.length / 2)]! : null;
      const row = {
        device,
        columns: b,
        nOut,
        endToEndMedianMs: e2e!.medianMs,
        endToEndPerTransformUs: (e2e!.medianMs * 1000) / b,
        kernelMedianMs: kernelMs,
        kernelPerTransformUs: kernelMs === null ? null : (kernelMs * 1000) / b,
        modelledWavefrontsPerColumn: modelled,
        samples: e2e!.samples,
      };
      console.log(
        `${tag} ${b} columns × ${N}, ${nOut} bins kept: end to end ${row.endToEndMedianMs.toFixed(2)} ms (${row.endToEndPerTransformUs.toFixed(3)} µs/transform)` +
          (kernelMs === null ? '' : `, kernel ${kernelMs.toFixed(3)} ms (${row.kernelPerTransformUs!.toFixed(4)} µs/transform)`) +
          `; modelled ${modelled.wavefronts} workgroup-memory wavefronts per column`,
      );
      results.push(row);
    }
    fft.destroy();
  }
  return { device, runs: results };
}

export default async function main(): Promise<void> {
  let ctx: GpuContext | undefined;
  try {
    ctx = await GpuContext.create();
  } catch (e) {
    if (!(e instanceof GpuUnavailableError)) throw e;
    console.log(`no WebGPU adapter (${e.message}): CPU figures only`);
  }
  const adapter = ctx?.adapterInfo;
  if (ctx) {
    console.log(`adapter: ${ctx.describe()}${adapter!.isFallbackAdapter ? ' — software-emulated GPU: correctness only, not GPU speed' : ''}`);
  }
  const model = await wavefrontModel();
  const modelled = model(N);
  console.log(`modelled workgroup-memory wavefronts per ${N}-point column: ${modelled.new.wavefronts} (the kernel before issue 11: ${modelled.old.wavefronts})`);
  const cpuResult = await cpu();
  const gpuResult = ctx ? await gpu(ctx, model) : null;
  const label = ctx ? slug(`${adapter!.vendor}-${adapter!.architecture}-${adapter!.device}`) : 'no-gpu';
  const path = writeResult(`fft-${label}`, {
    benchmark: 'fft',
    date: new Date().toISOString(),
    n: N,
    machine: machineInfo(),
    adapter: adapter ?? null,
    softwareEmulatedGpu: adapter ? adapter.isFallbackAdapter || adapter.architecture === 'software' : null,
    cpu: cpuResult,
    gpu: gpuResult,
    // scripts/fft-wavefronts.mjs, all bins: this kernel and the one it replaced.
    wavefrontModel: { kernel: wavefronts(modelled.new), beforeIssue11: wavefronts(modelled.old) },
  });
  console.log(`wrote ${path}`);
  ctx?.destroy();
}
