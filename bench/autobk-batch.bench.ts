/**
 * autobkBatch throughput: packed series of 1 000, 10 000 and 100 000 spectra made from the Ru
 * quick-scan fixture with Gaussian noise (σ = 1e-3 of the edge step, one seed per spectrum),
 * with e0 and edge step given and with pre_edge inside; on the CPU in the calling thread, on the
 * CPU over all cores (worker threads) and on the GPU. End-to-end spectra/s (median of a few runs,
 * one run at 100 000) and the time split reported by onTimings (CPU: summed over threads).
 * A software adapter (lavapipe) is labelled as such; its sizes stop where a run would take
 * minutes. Also the largest |χ_GPU − χ_CPU| / max|χ| over the first size, and, first of all,
 * one cold call (fresh worker threads, nothing optimised by the JIT yet) of 10 000 spectra with
 * pre_edge on all cores: the tinybench rows after it find the worker pool warm.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import { GpuContext, GpuUnavailableError } from '../src/gpu/context.js';
import { autobkBatch, preEdge, readSpectrum, type AutobkBatchResult, type AutobkBatchRun, type BatchTimings, type PackedSeries } from '../src/xafs/index.js';
import { gaussian, mulberry32 } from '../test/util/random.js';
import { machineInfo, projectRoot, slug, summarize, writeResult } from './util.js';

const SIZES = [1_000, 10_000, 100_000];
/** A software adapter gets the next size only if it is predicted to finish within this. */
const SOFTWARE_GPU_BUDGET_MS = 120_000;

interface Row {
  device: string;
  mode: 'e0 and edge step given' | 'pre_edge inside';
  spectra: number;
  runs: number;
  medianMs: number;
  spectraPerSecond: number;
  timings: BatchTimings | null;
  errors: number;
}

function ruSeries(energy: Float64Array, mu: Float64Array, edgeStep: number, nSpectra: number): Float64Array {
  const ne = energy.length;
  const out = new Float64Array(nSpectra * ne);
  const sigma = 1e-3 * edgeStep;
  for (let s = 0; s < nSpectra; s++) {
    const g = gaussian(mulberry32(1 + s));
    for (let i = 0; i < ne; i++) out[s * ne + i] = mu[i]! + sigma * g();
  }
  return out;
}

function isSoftware(ctx: GpuContext): boolean {
  const a = ctx.adapterInfo;
  return a.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader|software/i.test(`${a.vendor} ${a.architecture} ${a.device} ${a.description}`);
}

export default async function run(): Promise<void> {
  const text = readFileSync(join(projectRoot, 'test', 'fixtures', 'xafs', 'Ru_QAS.dat'), 'utf8');
  const ru = readSpectrum(text, { mu: 'log(c2/c3)', fileName: 'Ru_QAS.dat' });
  const pre = preEdge(ru.energy, ru.mu);
  const maxSize = SIZES[SIZES.length - 1]!;
  const allMu = ruSeries(ru.energy, ru.mu, pre.edgeStep, maxSize);
  const cores = availableParallelism();
  // Other jobs on the machine show in every row: the 1/5/15-minute load averages at the start and the end.
  const loadBefore = loadavg().map((v) => +v.toFixed(2));
  const coldN = 10_000;
  const tCold = performance.now();
  let coldTimings: BatchTimings | null = null;
  await autobkBatch({ energy: ru.energy, mu: allMu.subarray(0, coldN * ru.energy.length) }, {}, { device: 'cpu', workers: cores, onTimings: (t) => (coldTimings = t) });
  const coldFirstCall = { spectra: coldN, mode: 'pre_edge inside', workers: cores, ms: +(performance.now() - tCold).toFixed(1), timings: coldTimings };
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

  const devices: { name: string; run: AutobkBatchRun }[] = [
    { name: `CPU, ${cores} worker threads`, run: { device: 'cpu', workers: cores } },
    { name: 'CPU, calling thread', run: { device: 'cpu', workers: 0 } },
    ...(ctx === undefined ? [] : [{ name: `GPU ${gpuLabel}`, run: { device: 'gpu' as const, gpu: ctx } }]),
  ];
  const modes = ['e0 and edge step given', 'pre_edge inside'] as const;
  const rows: Row[] = [];
  const skipped: string[] = [];
  let agreement: { spectra: number; maxChiDiffOverMaxChi: number; maxChisqrRelDiff: number } | null = null;

  // Devices outermost, worker threads first: their rows follow the cold call while its pool is
  // still warm, and no CPU row waits behind the minutes of a software GPU (idle workers expire).
  for (const device of devices) {
    for (const mode of modes) {
      let lastMsPerSpectrum = 0;
      for (const n of SIZES) {
        const gpuSoftware = device.run.device === 'gpu' && ctx !== undefined && isSoftware(ctx);
        if (gpuSoftware && lastMsPerSpectrum * n > SOFTWARE_GPU_BUDGET_MS) {
          skipped.push(`${device.name}, ${mode}, ${n} spectra: predicted ${((lastMsPerSpectrum * n) / 1000).toFixed(0)} s`);
          continue;
        }
        const series: PackedSeries = {
          energy: ru.energy,
          mu: allMu.subarray(0, n * ru.energy.length),
          ...(mode === 'e0 and edge step given' ? { e0: pre.e0, edgeStep: pre.edgeStep } : {}),
        };
        let timings: BatchTimings | null = null;
        let results: AutobkBatchResult[] = [];
        const runs = n >= 100_000 || gpuSoftware ? 1 : 3;
        const bench = new Bench({ name: `${device.name} ${mode} ${n}`, iterations: runs, time: 0, warmupIterations: runs > 1 ? 1 : 0, warmupTime: 0 });
        let failure: string | null = null;
        bench.add(`${device.name} | ${mode} | ${n}`, async () => {
          try {
            results = await autobkBatch(series, {}, { ...device.run, onTimings: (t) => (timings = t) });
          } catch (e) {
            failure = (e as Error).message;
          }
        });
        await bench.run();
        if (failure !== null) {
          skipped.push(`${device.name}, ${mode}, ${n} spectra: failed: ${failure}`);
          break;
        }
        const [task] = summarize(bench);
        lastMsPerSpectrum = task!.medianMs / n;
        const row: Row = {
          device: device.name,
          mode,
          spectra: n,
          runs,
          medianMs: +task!.medianMs.toFixed(1),
          spectraPerSecond: Math.round(n / (task!.medianMs / 1000)),
          timings,
          errors: results.filter((r) => r.status === 'error').length,
        };
        console.log(JSON.stringify(row));
        rows.push(row);
        if (device.run.device === 'gpu' && n === SIZES[0] && mode === 'e0 and edge step given') {
          const cpu = await autobkBatch(series, {}, { device: 'cpu', workers: cores });
          let dChi = 0;
          let dSq = 0;
          cpu.forEach((c, i) => {
            const g = results[i];
            if (c.status === 'error' || g === undefined || g.status === 'error') return;
            let m = 0;
            let d = 0;
            for (let j = 0; j < c.chi.length; j++) {
              m = Math.max(m, Math.abs(c.chi[j]!));
              d = Math.max(d, Math.abs(c.chi[j]! - g.chi[j]!));
            }
            dChi = Math.max(dChi, d / m);
            dSq = Math.max(dSq, Math.abs(g.details.chisqr - c.details.chisqr) / c.details.chisqr);
          });
          agreement = { spectra: n, maxChiDiffOverMaxChi: dChi, maxChisqrRelDiff: dSq };
        }
      }
    }
  }
  ctx?.destroy();
  const machine = machineInfo();
  console.table(rows.map((r) => ({ device: r.device, mode: r.mode, spectra: r.spectra, ms: r.medianMs, 'spectra/s': r.spectraPerSecond, errors: r.errors })));
  for (const s of skipped) console.log(`skipped: ${s}`);
  console.log('GPU vs CPU:', agreement);
  console.log(
    'wrote',
    writeResult(`autobk-batch-${slug(machine.cpu)}`, {
      machine,
      gpu: gpuLabel,
      date: new Date().toISOString(),
      input: { fixture: 'Ru_QAS.dat', points: ru.energy.length, noise: '1e-3 × edge step, Gaussian, one seed per spectrum', e0: pre.e0, edgeStep: pre.edgeStep },
      loadAverage: { before: loadBefore, after: loadavg().map((v) => +v.toFixed(2)) },
      coldFirstCall,
      rows,
      skipped,
      gpuVsCpu: agreement,
    }),
  );
}
