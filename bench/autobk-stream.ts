/**
 * One streamed autobkBatch run in a process of its own, for bench/autobk-batch.bench.ts:
 * `node build/bench/autobk-stream.js <gpu|cpu> <mode> <n>`. The series arrives as an async
 * iterable of row blocks made on the fly (as a reader of an HDF5 map or a live quick-scan
 * stream yields them) and each finished chunk goes to onChunk, which reduces it (Σχ) the way a
 * writer would consume it; nothing holds all inputs or all results. Prints one JSON row whose
 * peakRssMiB is the process's maximum resident set size (getrusage), start-up included.
 */
import { availableParallelism } from 'node:os';
import { GpuContext } from '../src/gpu/context.js';
import { autobkBatch, type AutobkBatchRun, type BatchTimings } from '../src/xafs/index.js';
import { ruFixture, ruRows, type Row } from './autobk-batch.bench.js';
import { perItem, profileHost } from './hostProfile.js';

/** Rows per block of the stream (~21 MB of float64 μ), as a reader of a chunked HDF5 map yields them. */
const BLOCK = 4096;

const [device, mode, count] = process.argv.slice(2) as ['gpu' | 'cpu', Row['mode'], string];
const n = Number(count);
const ru = ruFixture();
const ne = ru.energy.length;

// One block of noisy rows, handed out as a fresh copy per block as a file reader would (making
// 10⁶ new noisy rows would time the random numbers, not the fit).
const template = ruRows(ru.mu, ru.edgeStep, 0, BLOCK);
async function* blocks(): AsyncGenerator<Float64Array> {
  for (let first = 0; first < n; first += BLOCK) yield template.slice(0, Math.min(BLOCK, n - first) * ne);
}

const ctx = device === 'gpu' ? await GpuContext.create() : undefined;
const run: AutobkBatchRun = device === 'gpu' ? { device: 'gpu', gpu: ctx! } : { device: 'cpu', workers: availableParallelism() };
let timings: BatchTimings | null = null;
let sum = 0;
let delivered = 0;
const t0 = performance.now();
const { value: res, profile } = await profileHost(() =>
  autobkBatch(
    {
      energy: ru.energy,
      mu: blocks(),
      count: n,
      ...(mode === 'pre_edge inside' ? {} : { e0: ru.e0 }),
      ...(mode === 'e0 and edge step given' ? { edgeStep: ru.edgeStep } : {}),
    },
    {},
    {
      ...run,
      onTimings: (t) => (timings = t),
      onChunk: (chunk) => {
        delivered += chunk.count;
        const chi = chunk.chi;
        for (let i = 0; i < chi.length; i += 97) if (chi[i] === chi[i]) sum += chi[i]!;
      },
    },
  ),
);
const ms = performance.now() - t0;
ctx?.destroy();
// Making the rows is the input's cost, not autobkBatch's: it runs in the profiled thread, as a reader would.
const per = perItem(profile, n);
const t = timings as BatchTimings | null;
const row: Row = {
  device,
  mode,
  delivery: 'onChunk',
  spectra: n,
  runs: 1,
  medianMs: +ms.toFixed(1),
  spectraPerSecond: Math.round(n / (ms / 1000)),
  hostOwnUsPerSpectrum: +per.ownUs.toFixed(3),
  hostWebgpuUsPerSpectrum: +(per.ownWebgpuUs - per.ownUs).toFixed(3),
  hostGcMs: +profile.ms.gc.toFixed(1),
  hostTopOwn: profile.topOwn.slice(0, 6).map((f) => `${f.name} ${f.where} ${f.ms.toFixed(1)} ms`),
  peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  timings: t === null ? null : { ...t, timeline: t.timeline?.slice(0, 4) },
  errors: res.countStatus('error'),
};
if (delivered !== n || !Number.isFinite(sum)) throw new Error(`streamed ${delivered} of ${n} spectra`);
console.log(JSON.stringify({ ...row, ne }));
