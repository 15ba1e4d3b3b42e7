/**
 * measureStarsBatch: 10 000 stars on a 6144² frame and 100 000 stars on a 16384² frame
 * (synthetic Gaussian stars, FWHM 3.5 → 15×15 stamps, sky 1000 ADU, gain 1.5, read noise 5 e⁻),
 * Gaussian and Moffat (β = 2.5) fits: CPU one thread (measureStars), CPU all cores
 * (device 'cpu', worker_threads) and the GPU (device 'gpu') with its time split.
 *
 * Runs that would take minutes measure a prefix of the star list (`stars` in each row says how
 * many): the Moffat fit on one CPU thread, and every GPU run on a software adapter. A software
 * adapter (lavapipe, SwiftShader) is labelled as such: its times are correctness runs, not GPU
 * speed. BATCHFIT_BENCH_GPU=0 runs the CPU rows only.
 *
 * Frame and sky map live in shared memory, as a caller measuring a frame on worker threads keeps
 * them (otherwise every call copies them there: seconds for a 16384² frame). Both CPU paths are
 * warmed up on a prefix of each frame and method first (the very first worker call also starts
 * the threads; these times are in the result as `firstCall`), then timed alternately CPU_REPS
 * times, the median kept: the machine is shared, and alternating exposes both to the same load.
 */
import { availableParallelism, loadavg } from 'node:os';
import { GpuContext, GpuUnavailableError } from '../src/gpu/context.js';
import { backgroundMap, measureStars, type BackgroundMap, type MeasureOptions } from '../src/stars/index.js';
import { measureStarsBatch } from '../src/stars/measureBatch.js';
import { FWHM, GAIN, READ_NOISE, SKY, syntheticStarField } from './starField.js';
import { machineInfo, slug, writeResult } from './util.js';

/** Stars per run on a software adapter, and at most on one CPU thread for the Moffat fit. */
const SOFTWARE_GPU_STARS = 2000;
const CPU_MOFFAT_STARS = 5000;
const CPU_WARM_UP_STARS = 2000;
const CPU_REPS = 3;

function inSharedMemory(v: Float32Array): Float32Array {
  const s = new Float32Array(new SharedArrayBuffer(v.byteLength));
  s.set(v);
  return s;
}

function sharedMap(m: BackgroundMap): BackgroundMap {
  return { width: m.width, height: m.height, background: inSharedMemory(m.background), noise: inSharedMemory(m.noise) };
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[(s.length - 1) >> 1] as number;
}

interface Row {
  frame: number;
  method: string;
  device: string;
  stars: number;
  seconds: number;
  starsPerSecond: number;
  converged: number;
  split?: Record<string, number>;
  /** CPU rows: every repetition's seconds (the row's `seconds` is their median). */
  repsSeconds?: number[];
}

export default async function (): Promise<void> {
  const loadStart = loadavg().map((v) => +v.toFixed(2));
  let ctx: GpuContext | undefined;
  if (process.env.BATCHFIT_BENCH_GPU === '0') console.log('BATCHFIT_BENCH_GPU=0: CPU rows only');
  else {
    try {
      ctx = await GpuContext.create();
    } catch (e) {
      if (!(e instanceof GpuUnavailableError)) throw e;
      console.warn(`no GPU: ${e.message}`);
    }
  }
  const software = ctx?.adapterInfo.isFallbackAdapter || ctx?.adapterInfo.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(ctx?.adapterInfo.description ?? '');
  const gpuLabel = ctx ? `${ctx.describe()}${software ? ' — lavapipe (software, not GPU speed)' : ''}` : 'none';
  const cores = availableParallelism();
  const rows: Row[] = [];
  const firstCall: Record<string, { stars: number; oneThreadSeconds: number; workersSeconds: number }> = {};
  for (const [size, count, seed] of [
    [6144, 10_000, 6144],
    [16384, 100_000, 16384],
  ] as const) {
    const t0 = performance.now();
    const { image, truth } = syntheticStarField(size, count, seed, true);
    const starts = truth.map((t) => ({ x: Math.round(t.x), y: Math.round(t.y) }));
    const map = sharedMap(backgroundMap(image));
    console.log(`frame ${size}² with ${count} stars and its sky map in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    for (const [name, method] of [
      ['gaussian', { method: 'gaussian' }],
      ['moffat beta 2.5', { method: 'moffat', beta: 2.5 }],
    ] as [string, MeasureOptions][]) {
      const options: MeasureOptions = { ...method, fwhm: FWHM, gain: GAIN, readNoise: READ_NOISE };
      const push = (device: string, n: number, ms: number, res: { fitReason: string }[], extra?: Pick<Row, 'split' | 'repsSeconds'>): void => {
        const row: Row = {
          frame: size,
          method: name,
          device,
          stars: n,
          seconds: +(ms / 1000).toFixed(3),
          starsPerSecond: Math.round(n / (ms / 1000)),
          converged: +(res.filter((r) => r.fitReason === 'converged').length / n).toFixed(4),
          ...extra,
        };
        console.log(JSON.stringify(row));
        rows.push(row);
      };
      const nCpu = name === 'gaussian' ? count : Math.min(count, CPU_MOFFAT_STARS);
      const cpuStars = starts.slice(0, nCpu);
      const onWorkers = (stars: { x: number; y: number }[]) => measureStarsBatch(image, stars, options, { device: 'cpu', workers: cores, background: map });
      const warm = starts.slice(0, CPU_WARM_UP_STARS);
      let t = performance.now();
      measureStars(image, warm, options, map);
      const oneFirst = performance.now() - t;
      t = performance.now();
      await onWorkers(warm);
      firstCall[`${size} ${name}`] = { stars: warm.length, oneThreadSeconds: +(oneFirst / 1000).toFixed(3), workersSeconds: +((performance.now() - t) / 1000).toFixed(3) };
      const oneMs: number[] = [];
      const allMs: number[] = [];
      let one: { fitReason: string }[] = [];
      let all: { fitReason: string }[] = [];
      for (let r = 0; r < CPU_REPS; r++) {
        t = performance.now();
        one = measureStars(image, cpuStars, options, map);
        oneMs.push(performance.now() - t);
        t = performance.now();
        all = await onWorkers(cpuStars);
        allMs.push(performance.now() - t);
      }
      const reps = (ms: number[]) => ({ repsSeconds: ms.map((v) => +(v / 1000).toFixed(3)) });
      push('cpu, 1 thread', nCpu, median(oneMs), one, reps(oneMs));
      push(`cpu, ${cores} worker threads`, nCpu, median(allMs), all, reps(allMs));
      if (!ctx) continue;
      const nGpu = software ? Math.min(count, SOFTWARE_GPU_STARS) : count;
      // Warm-up: compiles the pipelines (minutes on a cold lavapipe shader cache).
      await measureStarsBatch(image, starts.slice(0, 64), options, { device: 'gpu', gpu: ctx, background: map });
      let split: Record<string, number> = {};
      t = performance.now();
      const gpu = await measureStarsBatch(image, starts.slice(0, nGpu), options, {
        device: 'gpu',
        gpu: ctx,
        background: map,
        onTimings: (s) => {
          split = {
            uploadMs: +s.uploadMs.toFixed(1),
            extractMs: +s.extractMs.toFixed(1),
            fitMs: +s.fitMs.toFixed(1),
            metricsMs: +s.metricsMs.toFixed(1),
            readbackMs: +(s.readbackMs + s.assembleMs).toFixed(1),
            fitSubmissions: s.fitSubmissions,
            bands: s.bands,
          };
        },
      });
      push(`gpu: ${gpuLabel}`, nGpu, performance.now() - t, gpu, { split });
    }
  }
  writeResult(`stars-batch-${slug(ctx ? ctx.adapterInfo.description || ctx.describe() : 'cpu-only')}`, {
    machine: machineInfo(),
    gpu: gpuLabel,
    note: software
      ? 'GPU rows ran on a software adapter: correctness runs on a prefix of the stars, not GPU speed. No real GPU was available.'
      : undefined,
    date: new Date().toISOString(),
    frame: { fwhm: FWHM, stamp: '15x15', gain: GAIN, readNoise: READ_NOISE, sky: SKY },
    loadAverage1m5m15m: { start: loadStart, end: loadavg().map((v) => +v.toFixed(2)) },
    firstCall,
    rows,
  });
  ctx?.destroy();
}
