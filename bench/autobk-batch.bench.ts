/**
 * autobkBatch throughput and host cost: packed series of Ru quick scans (Gaussian noise σ = 1e-3
 * of the edge step, one seed per spectrum) of 10⁴, 10⁵ and 10⁶ spectra, with e0 and the edge step
 * given and with e0 only (the edge step from pre_edge: on the GPU, a linear functional of μ),
 * on the GPU and on all CPU cores, plus pre_edge inside on the CPU. Per row:
 *   - end-to-end time and spectra/s (tinybench; one run from 10⁵ on);
 *   - host CPU time per spectrum: a V8 sampling profile of the calling thread around the call
 *     alone (bench/hostProfile.ts), split into batchfit's own frames (builtins they call
 *     included), calls into Dawn, GC; waits for the GPU are not counted;
 *   - GPU series path: chunks, read-backs per chunk (round trips), the most chunks in flight at
 *     once and the per-chunk timeline [start row, submitted, first count read, results read,
 *     consumed] in ms; GPU time from timestamp queries where the adapter has them.
 * The 10⁶ row streams: the series arrives as an async iterable of row blocks made on the fly and
 * each finished chunk goes to onChunk, in a child process whose peak RSS is the row's memory.
 * Also the per-spectrum GPU path (every fixture as a list) against device: 'cpu', in one run, and
 * first of all one cold call (fresh workers, no JIT warm-up) of 10⁴ spectra on all cores.
 * A software adapter (lavapipe) is labelled as such: its rows prove the host side, not GPU speed.
 *
 * `npm run bench -- autobk-batch` runs it; BATCHFIT_BENCH_SIZES=10000,100000 limits the sizes,
 * BATCHFIT_BENCH_STREAM_GPU_MODES=given the streamed GPU rows.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { GpuContext, GpuUnavailableError } from '../src/gpu/context.js';
import { autobkBatch, preEdge, readSpectrum, type AutobkBatchRun, type BatchTimings, type PackedSeries } from '../src/xafs/index.js';
import { gaussian, mulberry32 } from '../test/util/random.js';
import { CASES } from './autobk.bench.js';
import { perItem, profileHost } from './hostProfile.js';
import { machineInfo, projectRoot, slug, summarize, writeResult } from './util.js';

const SIZES = (process.env.BATCHFIT_BENCH_SIZES ?? '10000,100000,1000000').split(',').map(Number);
/** Sizes above this stream (async row blocks, onChunk) in a child process that reports its peak RSS. */
const STREAM_FROM = 1_000_000;
const MODES = ['e0 and edge step given', 'e0 only', 'pre_edge inside'] as const;
/**
 * Modes of the streamed GPU rows (a software adapter takes ~20 min per 10⁶ spectra, so a run there
 * may keep one): BATCHFIT_BENCH_STREAM_GPU_MODES=given,e0 (default both).
 */
const STREAM_GPU_MODES = (process.env.BATCHFIT_BENCH_STREAM_GPU_MODES ?? 'given,e0').split(',');
type Mode = (typeof MODES)[number];

export interface Row {
  device: string;
  mode: Mode;
  /** 'retained': one result with every plane; 'onChunk': chunks handed to onChunk (retain: false), as a writer consumes them. */
  delivery: 'retained' | 'onChunk';
  spectra: number;
  runs: number;
  medianMs: number;
  spectraPerSecond: number;
  /** Host CPU per spectrum (µs): batchfit's frames, calls into Dawn, GC (the whole thread's, ms). */
  hostOwnUsPerSpectrum?: number;
  hostWebgpuUsPerSpectrum?: number;
  hostGcMs?: number;
  hostTopOwn?: string[];
  peakRssMiB?: number;
  timings: BatchTimings | null;
  errors: number;
}

export function ruFixture(): { energy: Float64Array; mu: Float64Array; e0: number; edgeStep: number } {
  const text = readFileSync(join(projectRoot, 'test', 'fixtures', 'xafs', 'Ru_QAS.dat'), 'utf8');
  const ru = readSpectrum(text, { mu: 'log(c2/c3)', fileName: 'Ru_QAS.dat' });
  const pre = preEdge(ru.energy, ru.mu);
  return { energy: ru.energy, mu: ru.mu, e0: pre.e0, edgeStep: pre.edgeStep };
}

/** Noisy rows first … first + n of the series (seed = row + 1), into `out`. */
export function ruRows(mu: Float64Array, edgeStep: number, first: number, n: number, out = new Float64Array(n * mu.length)): Float64Array {
  const ne = mu.length;
  const sigma = 1e-3 * edgeStep;
  for (let s = 0; s < n; s++) {
    const g = gaussian(mulberry32(first + s + 1));
    for (let i = 0; i < ne; i++) out[s * ne + i] = mu[i]! + sigma * g();
  }
  return out;
}

function isSoftware(ctx: GpuContext): boolean {
  const a = ctx.adapterInfo;
  return a.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader|software/i.test(`${a.vendor} ${a.architecture} ${a.device} ${a.description}`);
}

/** The streamed run of a child process (bench/autobk-stream.ts), parsed from its last line. */
function streamedRow(device: 'gpu' | 'cpu', mode: Mode, n: number, label: string): Row | string {
  const script = join(projectRoot, 'build', 'bench', 'autobk-stream.js');
  try {
    const out = execFileSync(process.execPath, [script, device, mode, String(n)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
    const row = JSON.parse(out.trim().split('\n').pop()!) as Row;
    return { ...row, device: label };
  } catch (e) {
    return `${label}, ${mode}, ${n} spectra: failed: ${(e as Error).message.split('\n')[0]}`;
  }
}

export default async function run(): Promise<void> {
  const ru = ruFixture();
  const ne = ru.energy.length;
  const inMemory = SIZES.filter((n) => n < STREAM_FROM);
  const maxSize = Math.max(0, ...inMemory);
  const allMu = ruRows(ru.mu, ru.edgeStep, 0, maxSize);
  const cores = availableParallelism();
  const loadBefore = loadavg().map((v) => +v.toFixed(2));
  // First of all one cold call (fresh worker threads, nothing optimised by the JIT yet) of 10 000
  // spectra with pre_edge on all cores: what a script that runs one batch pays.
  const coldN = Math.min(10_000, maxSize);
  const tCold = performance.now();
  await autobkBatch({ energy: ru.energy, mu: allMu.subarray(0, coldN * ne) }, {}, { device: 'cpu', workers: cores });
  const coldFirstCall = { spectra: coldN, mode: 'pre_edge inside', workers: cores, ms: +(performance.now() - tCold).toFixed(1) };
  console.log(`load average ${loadBefore.join(' ')}; cold first call:`, JSON.stringify(coldFirstCall));

  let ctx: GpuContext | undefined;
  let gpuLabel: string | null = null;
  try {
    ctx = await GpuContext.create();
    gpuLabel = isSoftware(ctx) ? `${ctx.describe()}: lavapipe (software, not GPU speed)` : ctx.describe();
  } catch (e) {
    if (!(e instanceof GpuUnavailableError)) throw e;
    console.log(`no GPU: ${e.message}`);
  }
  const devices: { name: string; run: AutobkBatchRun; gpu: boolean }[] = [
    ...(ctx === undefined ? [] : [{ name: `GPU ${gpuLabel}`, run: { device: 'gpu' as const, gpu: ctx }, gpu: true }]),
    { name: `CPU, ${cores} worker threads`, run: { device: 'cpu', workers: cores }, gpu: false },
  ];
  const rows: Row[] = [];
  const skipped: string[] = [];
  const seriesOf = (mode: Mode, n: number): PackedSeries => ({
    energy: ru.energy,
    mu: allMu.subarray(0, n * ne),
    ...(mode === 'pre_edge inside' ? {} : { e0: ru.e0 }),
    ...(mode === 'e0 and edge step given' ? { edgeStep: ru.edgeStep } : {}),
  });

  for (const device of devices) {
    // Pipelines compiled and workers started before anything is timed.
    await autobkBatch(seriesOf('e0 only', 1000), {}, device.run);
    for (const mode of MODES) {
      // pre_edge with e0 per spectrum is the per-spectrum path on the GPU: its row is the list comparison below.
      if (device.gpu && mode === 'pre_edge inside') continue;
      for (const n of SIZES) {
        if (n >= STREAM_FROM) {
          if (device.gpu && !STREAM_GPU_MODES.includes(mode === 'e0 only' ? 'e0' : 'given')) {
            skipped.push(`${device.name}, ${mode}, ${n} spectra: not in BATCHFIT_BENCH_STREAM_GPU_MODES`);
            continue;
          }
          const r = streamedRow(device.gpu ? 'gpu' : 'cpu', mode, n, device.name);
          if (typeof r === 'string') skipped.push(r);
          else rows.push(r);
          console.log(JSON.stringify(r));
          continue;
        }
        const series = seriesOf(mode, n);
        // The GPU rows from 10⁵ on also run streamed (onChunk): the host's cost without the
        // memory of a retained result.
        for (const delivery of device.gpu && n >= 100_000 ? (['retained', 'onChunk'] as const) : (['retained'] as const)) {
          let timings: BatchTimings | null = null;
          let errors = 0;
          let sum = 0;
          const call = async (): Promise<void> => {
            const res = await autobkBatch(series, {}, {
              ...device.run,
              onTimings: (t) => (timings = t),
              ...(delivery === 'onChunk' ? { onChunk: (c: { chisqr: Float64Array }) => void (sum += c.chisqr[0]!) } : {}),
            });
            errors = res.countStatus('error');
          };
          // From 10⁵ on one run, profiled as it is timed; below, three timed runs and a profiled one
          // (so that sampling does not slow the timed ones).
          const runs = n >= 100_000 ? 1 : 3;
          let medianMs: number;
          let profile;
          if (runs === 1) {
            const t0 = performance.now();
            ({ profile } = await profileHost(call));
            medianMs = performance.now() - t0;
          } else {
            const bench = new Bench({ name: `${device.name} ${mode} ${n}`, iterations: runs, time: 0, warmupIterations: 0, warmupTime: 0 });
            bench.add(`${device.name} | ${mode} | ${n}`, call);
            await bench.run();
            medianMs = summarize(bench)[0]!.medianMs;
            ({ profile } = await profileHost(call));
          }
          if (!Number.isFinite(sum)) throw new Error('onChunk saw non-finite χ²');
          const per = perItem(profile, n);
          const row: Row = {
            device: device.name,
            mode,
            delivery,
            spectra: n,
            runs,
            medianMs: +medianMs.toFixed(1),
            spectraPerSecond: Math.round(n / (medianMs / 1000)),
            hostOwnUsPerSpectrum: +per.ownUs.toFixed(3),
            hostWebgpuUsPerSpectrum: +(per.ownWebgpuUs - per.ownUs).toFixed(3),
            hostGcMs: +profile.ms.gc.toFixed(1),
            hostTopOwn: profile.topOwn.slice(0, 6).map((f) => `${f.name} ${f.where} ${f.ms.toFixed(1)} ms`),
            timings,
            errors,
          };
          const t = timings as BatchTimings | null;
          console.log(JSON.stringify({ ...row, timings: { ...t, timeline: undefined } }));
          if (t?.timeline !== undefined) {
            console.log(`  per-chunk timeline (ms: start row, submitted, first count read, results read, consumed), ${t.chunks} chunks, read-backs ${JSON.stringify(t.roundTripsPerChunk)}, at most ${t.maxChunksInFlight} in flight:`);
            for (const line of t.timeline.slice(0, 8)) console.log(`    ${JSON.stringify(line)}`);
          }
          rows.push(row);
        }
      }
    }
  }

  // The per-spectrum GPU path: every XAFS fixture as a list (and 100 copies of it), against the
  // CPU in the same run (tinybench, alternating tasks).
  const listComparison: Record<string, unknown>[] = [];
  if (ctx !== undefined) {
    const dir = join(projectRoot, 'test', 'fixtures', 'xafs');
    const list = CASES.map((c) => readSpectrum(readFileSync(join(dir, c.file), 'utf8'), { mu: c.mu, fileName: c.file }));
    for (const copies of [1, 100]) {
      const spectra = Array.from({ length: copies }, () => list).flat();
      const bench = new Bench({ name: `list of ${spectra.length}`, time: copies === 1 ? 2000 : 0, iterations: copies === 1 ? 10 : 3, warmupIterations: 1, warmupTime: 0 });
      bench.add('gpu', async () => void (await autobkBatch(spectra, {}, { device: 'gpu', gpu: ctx })));
      bench.add('cpu', async () => void (await autobkBatch(spectra, {}, { device: 'cpu' })));
      await bench.run();
      const [gpu, cpu] = summarize(bench);
      const row = { spectra: spectra.length, gpuMedianMs: +gpu!.medianMs.toFixed(2), cpuMedianMs: +cpu!.medianMs.toFixed(2), gpuOverCpu: +(gpu!.medianMs / cpu!.medianMs).toFixed(3) };
      console.log('per-spectrum GPU path vs CPU:', JSON.stringify(row));
      listComparison.push(row);
    }
  }

  ctx?.destroy();
  const machine = machineInfo();
  console.table(rows.map((r) => ({
    device: r.device.slice(0, 40), mode: r.mode, delivery: r.delivery, spectra: r.spectra, ms: r.medianMs, 'spectra/s': r.spectraPerSecond,
    'host µs/sp': r.hostOwnUsPerSpectrum, 'dawn µs/sp': r.hostWebgpuUsPerSpectrum, 'RSS MiB': r.peakRssMiB,
    'read-backs/chunk': r.timings?.roundTripsPerChunk === undefined ? '' : Math.max(...r.timings.roundTripsPerChunk),
  })));
  for (const s of skipped) console.log(`skipped: ${s}`);
  const name = `autobk-batch-${slug(ctx === undefined ? machine.cpu : gpuLabel!.split(':')[0]!)}`;
  console.log('wrote', writeResult(name, {
    machine, gpu: gpuLabel, date: new Date().toISOString(),
    input: { fixture: 'Ru_QAS.dat', points: ne, noise: '1e-3 × edge step, Gaussian, one seed per spectrum', e0: ru.e0, edgeStep: ru.edgeStep },
    loadAverage: { before: loadBefore, after: loadavg().map((v) => +v.toFixed(2)) },
    coldFirstCall, rows, listComparison, skipped,
  }));
}

// Run directly (node build/bench/autobk-batch.bench.js) as well as through bench/run.ts.
if (process.argv[1] === fileURLToPath(import.meta.url)) await run();
