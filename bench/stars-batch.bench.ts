/**
 * measureStarsBatch on a 6144² frame with 10⁴ and 10⁵ synthetic Gaussian stars (FWHM 3.5 → 15×15
 * stamps, sky 1000 ADU, gain 1.5, read noise 5 e⁻), Gaussian fits, positions as two
 * Float64Array columns:
 *   - GPU, the frame and its sky grid uploaded once (`uploadFrame`), then warm calls: wall time
 *     (stars/s end to end, excluding the frame upload), the host CPU time of the call from a V8
 *     sampling profile of the JS thread split into batchfit's own code, webgpu (Dawn) and GC
 *     (bench/hostProfile.ts), per star; round trips (submissions waited on); GPU time of the
 *     passes from timestamp queries; GC events during the call (PerformanceObserver); each with
 *     a fresh catalogue and with the previous call's catalogue recycled (`into`).
 *   - CPU, all cores (device 'cpu', worker_threads) on the same lists, side by side.
 * Also the frame set-up: the sky grid on one thread (backgroundGrid) and on all cores
 * (backgroundGridBatch), and the upload.
 *
 * On a software adapter (lavapipe, SwiftShader) the GPU rows prove the host side only: the
 * kernels run on the same CPU cores, so wall time and stars/s are not GPU speed and are labelled
 * so. BATCHFIT_BENCH_GPU=0 runs the CPU rows only; BATCHFIT_BENCH_STARS="10000,100000" sets
 * the list sizes. Run with LP_NUM_THREADS=1 on lavapipe so the JS thread keeps a core.
 */
import { availableParallelism, loadavg } from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import { GpuContext, GpuUnavailableError } from '../src/gpu/context.js';
import { backgroundGrid, backgroundGridBatch, backgroundMap, uploadFrame, type MeasureOptions, type StarCatalogue } from '../src/stars/index.js';
import { measureStarsBatch } from '../src/stars/measureBatch.js';
import { perItem, profileHost } from './hostProfile.js';
import { FWHM, GAIN, READ_NOISE, SKY, syntheticStarField } from './starField.js';
import { machineInfo, slug, writeResult } from './util.js';

const FRAME = 6144;
const PROFILED_CALLS = 3;
const SEED = 6144;

function sizes(): number[] {
  const env = process.env.BATCHFIT_BENCH_STARS;
  return env ? env.split(',').map(Number) : [10_000, 100_000];
}

/**
 * GC events (kind and ms) that began while fn itself ran — not while the profiler that wraps
 * it collects and classifies its samples, which allocates plenty.
 */
async function withGcEvents<T>(wrap: (fn: () => Promise<T>) => Promise<unknown>, fn: () => Promise<T>): Promise<{ gc: { kind: number; ms: number }[] }> {
  const seen: { start: number; kind: number; ms: number }[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) seen.push({ start: e.startTime, kind: ((e as unknown as { detail?: { kind?: number } }).detail?.kind) ?? -1, ms: +e.duration.toFixed(3) });
  });
  obs.observe({ entryTypes: ['gc'] });
  let t0 = 0;
  let t1 = 0;
  try {
    await wrap(async () => {
      t0 = performance.now();
      try {
        return await fn();
      } finally {
        t1 = performance.now();
      }
    });
    // Entries are delivered asynchronously.
    await new Promise((r) => setTimeout(r, 50));
    return { gc: seen.filter((e) => e.start >= t0 && e.start <= t1).map(({ kind, ms }) => ({ kind, ms })) };
  } finally {
    obs.disconnect();
  }
}

function converged(c: StarCatalogue): number {
  let k = 0;
  for (let i = 0; i < c.length; i++) if (c.fitReason[i] === 0) k++;
  return +(k / c.length).toFixed(4);
}

export default async function (): Promise<void> {
  const loadStart = loadavg().map((v) => +v.toFixed(2));
  const n = sizes();
  const maxN = Math.max(...n);
  let t = performance.now();
  const { image, truth } = syntheticStarField(FRAME, maxN, SEED, true);
  const xs = new Float64Array(maxN);
  const ys = new Float64Array(maxN);
  truth.forEach((s, k) => {
    xs[k] = Math.round(s.x);
    ys[k] = Math.round(s.y);
  });
  console.log(`frame ${FRAME}² with ${maxN} stars in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const options: MeasureOptions = { method: 'gaussian', fwhm: FWHM, gain: GAIN, readNoise: READ_NOISE };
  t = performance.now();
  const grid = backgroundGrid(image);
  const gridMs = performance.now() - t;
  const result: Record<string, unknown> = {
    machine: machineInfo(),
    date: new Date().toISOString(),
    frame: { size: FRAME, fwhm: FWHM, stamp: '15x15', gain: GAIN, readNoise: READ_NOISE, sky: SKY, method: 'gaussian' },
    setup: { backgroundGridOneThreadMs: +gridMs.toFixed(1) } as Record<string, number>,
  };
  const rows: Record<string, unknown>[] = [];

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
  const software = ctx !== undefined && (ctx.adapterInfo.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader/i.test(`${ctx.adapterInfo.description} ${ctx.adapterInfo.architecture}`));
  const gpuLabel = ctx ? `${ctx.describe()}${software ? ' — software adapter: host-side figures only, not GPU speed' : ''}` : 'none';
  result['gpu'] = gpuLabel;
  if (ctx) {
    t = performance.now();
    const frame = await uploadFrame(ctx, image, { background: grid });
    await ctx.device.queue.onSubmittedWorkDone();
    (result['setup'] as Record<string, number>)['uploadFrameMs'] = +(performance.now() - t).toFixed(1);
    // Warm-up: compiles the pipelines (minutes on a cold lavapipe shader cache) and makes the batch's buffers.
    t = performance.now();
    await measureStarsBatch(frame, { x: xs.subarray(0, 64), y: ys.subarray(0, 64) }, options);
    (result['setup'] as Record<string, number>)['firstCallMs'] = +(performance.now() - t).toFixed(1);
    for (const [m, recycle] of n.flatMap((m) => [[m, false], [m, true]] as const)) {
      const positions = { x: xs.subarray(0, m), y: ys.subarray(0, m) };
      // One unprofiled call at this size grows the buffers; the measured calls reuse them. With
      // `recycle` each call takes over the memory of the previous call's catalogue (`into`), as
      // a loop over frames that keeps only the latest catalogue would.
      let last = await measureStarsBatch(frame, positions, options);
      // Three profiled calls: the sampling profile of a 2-core VM varies by tens of per cent.
      const calls: { own: number; ownWebgpu: number; wall: number; gc: { kind: number; ms: number }[]; timings: Record<string, number>; ms: Record<string, number>; top: unknown[]; cat: StarCatalogue }[] = [];
      for (let r = 0; r < PROFILED_CALLS; r++) {
        let timings: Record<string, number> = {};
        let profiled: Awaited<ReturnType<typeof profileHost<StarCatalogue>>> | undefined;
        const { gc } = await withGcEvents(
          async (fn) => (profiled = await profileHost(fn)),
          () => measureStarsBatch(frame, positions, options, { onTimings: (s) => (timings = { ...s }), ...(recycle ? { into: last } : {}) }),
        );
        const value = profiled!;
        last = value.value;
        const { profile } = value;
        const per = perItem(profile, m);
        calls.push({ own: per.ownUs, ownWebgpu: per.ownWebgpuUs, wall: profile.wallMs, gc, timings, ms: profile.ms, top: profile.topOwn.slice(0, 6), cat: value.value });
      }
      const byOwn = [...calls].sort((a, b) => a.own - b.own);
      const med = byOwn[(byOwn.length - 1) >> 1]!;
      const row = {
        device: `gpu: ${gpuLabel}`,
        stars: m,
        catalogueMemory: recycle ? 'recycled (into: the previous catalogue)' : 'fresh',
        wallMs: +med.wall.toFixed(1),
        starsPerSecond: Math.round(m / (med.wall / 1000)),
        hostOwnUsPerStar: +med.own.toFixed(4),
        hostOwnUsPerStarEachCall: calls.map((c) => +c.own.toFixed(4)),
        hostOwnWebgpuUsPerStar: +med.ownWebgpu.toFixed(4),
        // The call's own timers (no profiler): positions, slots, uniforms, encoding and submitting
        // (Dawn's writeBuffer and submit included), catalogue copy and columns.
        hostTimerUsPerStar: +(((med.timings['hostMs']! + med.timings['uploadMs']! + med.timings['readbackMs']!) * 1000) / m).toFixed(4),
        hostMs: Object.fromEntries(Object.entries(med.ms).map(([k, v]) => [k, +v.toFixed(2)])),
        topOwn: med.top,
        roundTrips: med.timings['submissions'],
        gpuMs: +(med.timings['gpuMs'] ?? NaN).toFixed(2),
        gpuNsPerStar: +(((med.timings['gpuMs'] ?? NaN) * 1e6) / m).toFixed(1),
        gcEventsEachCall: calls.map((c) => c.gc.length),
        gcEvents: med.gc,
        converged: converged(med.cat),
      };
      console.log(JSON.stringify(row));
      rows.push(row);
    }
    frame.destroy();
  }

  // After the GPU rows: worker threads left parked by these calls would wake (and end) during them.
  // The first call starts the worker threads: timed apart from a warm one.
  const setup = result['setup'] as Record<string, number>;
  t = performance.now();
  await backgroundGridBatch(image);
  setup['backgroundGridWorkersFirstCallMs'] = +(performance.now() - t).toFixed(1);
  t = performance.now();
  await backgroundGridBatch(image);
  setup['backgroundGridWorkersMs'] = +(performance.now() - t).toFixed(1);
  const cores = availableParallelism();
  setup['workers'] = cores;
  const map = backgroundMap(image);
  // Warm the workers (the first call starts them).
  await measureStarsBatch(image, { x: xs.subarray(0, 2000), y: ys.subarray(0, 2000) }, options, { device: 'cpu', background: map });
  for (const m of n) {
    const positions = { x: xs.subarray(0, m), y: ys.subarray(0, m) };
    t = performance.now();
    const cat = await measureStarsBatch(image, positions, options, { device: 'cpu', workers: cores, background: map });
    const ms = performance.now() - t;
    const row = { device: `cpu, ${cores} worker threads`, stars: m, wallMs: +ms.toFixed(1), starsPerSecond: Math.round(m / (ms / 1000)), converged: converged(cat) };
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  result['rows'] = rows;
  result['loadAverage1m5m15m'] = { start: loadStart, end: loadavg().map((v) => +v.toFixed(2)) };
  if (software) result['note'] = 'GPU rows ran on a software adapter (no GPU was lent): host CPU time per star, round trips and GC are the point; wall time, GPU time and stars/s are not GPU speed.';
  writeResult(`stars-batch-${slug(ctx ? ctx.adapterInfo.description || ctx.describe() : 'cpu-only')}`, result);
  ctx?.destroy();
}
