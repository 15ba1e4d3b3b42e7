/**
 * AUTOBK for a whole batch of spectra: validates the container, picks the device and runs the
 * WebGPU back end (autobkBatchGpu) or the CPU one (autobkWorker over worker_threads). One result
 * per input spectrum, in input order; a spectrum that cannot be fitted gets an error result.
 */
import { availableThreads, mapInWorkers, type WorkerJob } from '../cpu/workerPool.js';
import { GpuContext, GpuUnavailableError } from '../gpu/context.js';
import { autobkBatchGpu } from './autobkBatchGpu.js';
import { ETOK } from './xafsUtils.js';
import type {
  AutobkBatchInput,
  AutobkBatchOptions,
  AutobkBatchResult,
  AutobkBatchRun,
  BatchSpectrum,
  BatchTimings,
  PackedSeries,
} from './autobkBatchTypes.js';
import {
  E0_GIVEN,
  META,
  META_STRIDE,
  STATUS_ERROR,
  STATUS_MAX_ITERATIONS,
  STEP_GIVEN,
  autobkChunkHandler,
  type AutobkChunk,
  type AutobkJob,
  type AutobkWorkerInit,
} from './autobkWorker.js';

/** Below this many spectra the default runs in the calling thread: starting workers costs more. */
const MIN_SPECTRA_FOR_WORKERS = 32;
/** Chunks per thread (load balance and progress steps) and the largest chunk. */
const CHUNKS_PER_THREAD = 16;
const MAX_CHUNK = 128;

/** A validated batch: a list of spectra, or a packed series with its grid as Float64Array. */
type Batch =
  | { kind: 'list'; spectra: readonly BatchSpectrum[]; n: number }
  | { kind: 'packed'; series: PackedSeries & { energy: Float64Array }; n: number };

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} of ${(v as unknown as ArrayLike<number>).length}`;
  if (typeof v === 'number') return String(v);
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function isArrayLike(v: unknown): v is ArrayLike<number> {
  if (Array.isArray(v)) return true;
  if (ArrayBuffer.isView(v)) return !(v instanceof DataView || v instanceof BigInt64Array || v instanceof BigUint64Array);
  return false;
}

/** One value for all spectra, or one per spectrum (as a Float64Array). */
function perSpectrumValue(name: string, v: unknown, n: number): number | Float64Array | undefined {
  if (v === undefined || typeof v === 'number') return v;
  if (!isArrayLike(v)) throw new TypeError(`autobkBatch: packed series ${name} must be a number or an array of one value per spectrum, got ${describe(v)}`);
  if (v.length !== n) throw new RangeError(`autobkBatch: packed series ${name} has ${v.length} values for ${n} spectra`);
  return v instanceof Float64Array ? v : Float64Array.from(v);
}

/** Checks the container (shapes, types); problems of one spectrum's data are left to its fit. */
function validateBatch(spectra: unknown): Batch {
  if (Array.isArray(spectra)) {
    spectra.forEach((s: unknown, i) => {
      if (s === null || typeof s !== 'object') throw new TypeError(`autobkBatch: spectra[${i}] must be an object {energy, mu, e0?, edgeStep?}, got ${describe(s)}`);
      const o = s as Record<string, unknown>;
      for (const key of ['energy', 'mu'] as const) {
        if (!isArrayLike(o[key])) throw new TypeError(`autobkBatch: spectra[${i}].${key} must be an array or typed array, got ${describe(o[key])}`);
      }
      for (const key of ['e0', 'edgeStep'] as const) {
        if (o[key] !== undefined && typeof o[key] !== 'number') throw new TypeError(`autobkBatch: spectra[${i}].${key} must be a number, got ${describe(o[key])}`);
      }
    });
    return { kind: 'list', spectra: spectra as BatchSpectrum[], n: spectra.length };
  }
  if (spectra === null || typeof spectra !== 'object' || ArrayBuffer.isView(spectra)) {
    throw new TypeError(`autobkBatch: spectra must be an array of {energy, mu} or a packed series {energy, mu: Float64Array}, got ${describe(spectra)}`);
  }
  const p = spectra as Record<string, unknown>;
  if (!isArrayLike(p.energy)) throw new TypeError(`autobkBatch: packed series energy must be an array or typed array, got ${describe(p.energy)}`);
  if (!(p.mu instanceof Float64Array || p.mu instanceof Float32Array)) {
    throw new TypeError(`autobkBatch: packed series mu must be a Float64Array or Float32Array of nSpectra × energy.length values, got ${describe(p.mu)}`);
  }
  const ne = p.energy.length;
  if (ne === 0) throw new RangeError('autobkBatch: packed series energy is empty');
  if (p.mu.length % ne !== 0) {
    throw new RangeError(`autobkBatch: packed series mu has ${p.mu.length} values, not a multiple of energy.length = ${ne}`);
  }
  const n = p.mu.length / ne;
  const e0 = perSpectrumValue('e0', p.e0, n);
  const edgeStep = perSpectrumValue('edgeStep', p.edgeStep, n);
  const energy = p.energy instanceof Float64Array ? p.energy : Float64Array.from(p.energy);
  const series: PackedSeries & { energy: Float64Array } = {
    energy,
    mu: p.mu,
    ...(e0 === undefined ? {} : { e0 }),
    ...(edgeStep === undefined ? {} : { edgeStep }),
  };
  return { kind: 'packed', series, n };
}

/** Copies array-like numbers into out at offset; entries that are not numbers become NaN (dropped later, as by autobk). */
function copyNumbers(src: ArrayLike<number>, out: Float64Array, offset: number): void {
  if (ArrayBuffer.isView(src)) {
    out.set(src, offset);
    return;
  }
  for (let i = 0; i < src.length; i++) {
    const v = src[i] as unknown;
    out[offset + i] = typeof v === 'number' ? v : NaN;
  }
}

function valueAt(v: number | Float64Array | undefined, i: number): number | undefined {
  return v === undefined || typeof v === 'number' ? v : v[i];
}

/** The jobs of a batch: chunks of spectra, built when sent (copied for workers, views in this thread). */
function chunkJobs(batch: Batch, chunk: number, forWorkers: boolean): { count: number; make(index: number): WorkerJob<AutobkJob> } {
  const count = Math.ceil(batch.n / chunk);
  return {
    count,
    make(index) {
      const start = index * chunk;
      const m = Math.min(chunk, batch.n - start);
      const given = new Uint8Array(m);
      const e0 = new Float64Array(m);
      const edgeStep = new Float64Array(m);
      const setGiven = (s: number, e0v: number | undefined, stepv: number | undefined): void => {
        if (e0v !== undefined) {
          given[s]! |= E0_GIVEN;
          e0[s] = e0v;
        }
        if (stepv !== undefined) {
          given[s]! |= STEP_GIVEN;
          edgeStep[s] = stepv;
        }
      };
      let job: AutobkJob;
      if (batch.kind === 'packed') {
        const { series } = batch;
        const ne = series.energy.length;
        const rows = series.mu.subarray(start * ne, (start + m) * ne);
        for (let s = 0; s < m; s++) setGiven(s, valueAt(series.e0, start + s), valueAt(series.edgeStep, start + s));
        // Workers get their rows as a float64 copy whose buffer is moved; this thread reads them in place.
        const mu = forWorkers ? new Float64Array(rows) : rows;
        job = { start, count: m, energy: null, lengths: null, mu, given, e0, edgeStep };
      } else {
        // Energy and μ lengths separately: a spectrum whose lengths differ gets autobk's own error.
        const lengths = new Int32Array(2 * m);
        let ne = 0;
        let nm = 0;
        for (let s = 0; s < m; s++) {
          const sp = batch.spectra[start + s]!;
          lengths[2 * s] = sp.energy.length;
          lengths[2 * s + 1] = sp.mu.length;
          ne += sp.energy.length;
          nm += sp.mu.length;
          setGiven(s, sp.e0, sp.edgeStep);
        }
        const energy = new Float64Array(ne);
        const mu = new Float64Array(nm);
        ne = 0;
        nm = 0;
        for (let s = 0; s < m; s++) {
          const sp = batch.spectra[start + s]!;
          copyNumbers(sp.energy, energy, ne);
          copyNumbers(sp.mu, mu, nm);
          ne += sp.energy.length;
          nm += sp.mu.length;
        }
        job = { start, count: m, energy, lengths, mu, given, e0, edgeStep };
      }
      // Every array of a worker job was allocated here, so moving its buffer takes nothing from the caller.
      const arrays: ArrayBufferView[] = [job.mu, given, e0, edgeStep, ...(job.energy ? [job.energy] : []), ...(job.lengths ? [job.lengths] : [])];
      const transfer = forWorkers ? arrays.map((a) => a.buffer as ArrayBuffer) : [];
      return { data: job, transfer };
    },
  };
}

/** Largest finite value minus smallest finite value of an energy array (NaN if fewer than two finite values). */
function finiteSpan(energy: ArrayLike<number>): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < energy.length; i++) {
    const e = energy[i] as unknown;
    if (typeof e !== 'number' || !Number.isFinite(e)) continue;
    if (e < lo) lo = e;
    if (e > hi) hi = e;
  }
  return hi > lo ? hi - lo : NaN;
}

/**
 * Points of the longest k grid any spectrum of the batch can have: nk = ⌊1.01 + kmax/kstep⌋ with
 * kmax ≤ k(E_max − e0) and e0 ≥ E_min. Known before any result arrives, so one shared k grid
 * serves every result whatever order chunks come back in.
 */
function kGridBound(batch: Batch, kstep: number): number {
  let span = NaN;
  if (batch.kind === 'packed') {
    span = finiteSpan(batch.series.energy);
  } else {
    for (const sp of batch.spectra) {
      const s = finiteSpan(sp.energy);
      if (!(s <= span)) span = s;
    }
  }
  const nk = Math.trunc(1.01 + Math.sqrt(ETOK * span) / kstep);
  return Number.isFinite(nk) && nk > 0 ? nk : 0;
}

/**
 * Result records with views into each chunk's packed arrays, the k (and R) grids shared, made as
 * each chunk arrives so that the calling thread's work overlaps the workers'.
 */
class ResultAssembler {
  readonly results: AutobkBatchResult[];
  /** k = kstep·i exactly as autobkSetup builds it, once for the batch. */
  private k: Float64Array;
  private r: Float64Array | null = null;
  private readonly seriesEnergy: Float64Array | null;

  constructor(
    batch: Batch,
    private readonly kstep: number,
  ) {
    this.results = new Array<AutobkBatchResult>(batch.n);
    this.k = this.kGrid(kGridBound(batch, kstep));
    this.seriesEnergy = batch.kind === 'packed' ? batch.series.energy : null;
  }

  private kGrid(nk: number): Float64Array {
    const k = new Float64Array(nk);
    for (let i = 0; i < nk; i++) k[i] = this.kstep * i;
    return k;
  }

  add(c: AutobkChunk): void {
    const { meta, data, text } = c;
    this.r ??= c.r;
    const r = this.r;
    for (let s = 0; s < c.count; s++) {
      const index = c.start + s;
      const row = s * META_STRIDE;
      const status = meta[row + META.status]!;
      if (status === STATUS_ERROR) {
        this.results[index] = { status: 'error', index, device: 'cpu', error: text[s] as string };
        continue;
      }
      const ne = meta[row + META.ne]!;
      const nk = meta[row + META.nk]!;
      const nspl = meta[row + META.nspl]!;
      const nr = meta[row + META.nr]!;
      // The bound holds by construction; a longer grid would only cost sharing, never values.
      if (nk > this.k.length) this.k = this.kGrid(nk);
      let at = meta[row + META.offset]!;
      const take = (n: number): Float64Array => data.subarray(at, (at += n));
      const energy = meta[row + META.ownEnergy] === 1 ? take(ne) : this.seriesEnergy!;
      const bkg = take(ne);
      const chi = take(nk);
      const knots = take(nspl + 4);
      const initCoefs = take(nspl);
      const coefs = take(nspl);
      const chisqr = meta[row + META.chisqr]!;
      const nfev = meta[row + META.nfev]!;
      this.results[index] = {
        status: status === STATUS_MAX_ITERATIONS ? 'max-iterations' : 'converged',
        index,
        device: 'cpu',
        energy,
        e0: meta[row + META.e0]!,
        edgeStep: meta[row + META.edgeStep]!,
        bkg,
        k: this.k.subarray(0, nk),
        chi,
        ...(nr > 0 && r !== null ? { chir: { r: r.subarray(0, nr), re: take(nr), im: take(nr), mag: take(nr) } } : {}),
        details: {
          nspl,
          irbkg: meta[row + META.irbkg]!,
          kmin: meta[row + META.kmin]!,
          kmax: meta[row + META.kmax]!,
          rbkg: meta[row + META.rbkg]!,
          knots,
          initCoefs,
          coefs,
          chisqr,
          redchi: meta[row + META.redchi]!,
          // Every residual evaluation after the first is one trial step, accepted or not.
          iterations: nfev - 1,
          nfev,
          warnings: text[s] as string[],
        },
      };
    }
  }
}

/** The CPU back end: chunks of spectra over `threads` workers (0: this thread). */
async function autobkBatchCpu(batch: Batch, options: AutobkBatchOptions, run: AutobkBatchRun, threads: number, t0: number): Promise<AutobkBatchResult[]> {
  const { signal, onProgress } = run;
  const n = batch.n;
  const chunk = Math.max(1, Math.min(MAX_CHUNK, Math.ceil(n / (Math.max(1, threads) * CHUNKS_PER_THREAD))));
  const jobs = chunkJobs(batch, chunk, threads > 0);
  const init: AutobkWorkerInit = {
    options,
    chir: run.chir === undefined || run.chir === false ? null : run.chir,
    energy: batch.kind === 'packed' ? batch.series.energy : null,
  };
  const assembler = new ResultAssembler(batch, options.kstep ?? 0.05);
  const timings = new Float64Array(4);
  let assembleMs = 0;
  let done = 0;
  await mapInWorkers<AutobkWorkerInit, AutobkJob, AutobkChunk>({
    module: new URL('./autobkWorker.js', import.meta.url),
    handler: autobkChunkHandler,
    init,
    jobs,
    threads: Math.min(threads, jobs.count),
    ...(signal === undefined ? {} : { signal }),
    onDone: (_, c) => {
      const ta = performance.now();
      assembler.add(c);
      for (let i = 0; i < 4; i++) timings[i]! += c.timings[i]!;
      assembleMs += performance.now() - ta;
      done += c.count;
      // The final 100 % is reported once, after the results are assembled.
      if (done < n) onProgress?.({ done, total: n, fraction: done / n });
    },
  });
  const t1 = performance.now();
  onProgress?.({ done: n, total: n, fraction: 1 });
  run.onTimings?.({
    setupMs: timings[0]!,
    transformMs: timings[1]!,
    lmMs: timings[2]!,
    readbackMs: timings[3]! + assembleMs,
    totalMs: t1 - t0,
    submissions: 0,
  } satisfies BatchTimings);
  return assembler.results;
}

/**
 * AUTOBK background removal of every spectrum of a batch (Larch's autobk with `options`, which
 * apply to all; e0 and edge step come from the input or from pre_edge). `spectra` is a list
 * of spectra (grids may differ) or a packed series on one energy grid. The container is checked
 * first (a malformed one rejects the call, naming field and value); a spectrum whose data or
 * options cannot be fitted gets `{ status: 'error', error }` and the others still complete.
 *
 * Devices: 'auto' (default) runs on the GPU when a hardware adapter exists and otherwise on the CPU,
 * after one notice line; 'gpu' rejects without an adapter; 'cpu' spreads chunks of spectra
 * over worker threads. CPU results equal `autobk`'s exactly (the same float64 code).
 */
export async function autobkBatch(spectra: AutobkBatchInput, options: AutobkBatchOptions = {}, run: AutobkBatchRun = {}): Promise<AutobkBatchResult[]> {
  const t0 = performance.now();
  const device = run.device ?? 'auto';
  if (device !== 'auto' && device !== 'gpu' && device !== 'cpu') throw new RangeError(`autobkBatch: device = '${String(device)}' must be 'gpu', 'cpu' or 'auto'`);
  if (options === null || typeof options !== 'object') throw new TypeError(`autobkBatch: options must be an object, got ${describe(options)}`);
  for (const key of ['e0', 'edgeStep'] as const) {
    if ((options as Record<string, unknown>)[key] !== undefined) {
      throw new TypeError(`autobkBatch: options.${key} = ${String((options as Record<string, unknown>)[key])}: ${key} belongs to the input (per spectrum, or the packed series' ${key})`);
    }
  }
  if (run.workers !== undefined && !(Number.isInteger(run.workers) && run.workers >= 0)) {
    throw new RangeError(`autobkBatch: workers = ${run.workers} must be an integer ≥ 0`);
  }
  const batch = validateBatch(spectra);
  run.signal?.throwIfAborted();
  const threads = async (): Promise<number> => run.workers ?? (batch.n < MIN_SPECTRA_FOR_WORKERS ? 0 : await availableThreads());
  if (device === 'cpu') return autobkBatchCpu(batch, options, run, await threads(), t0);

  let ctx = run.gpu;
  let owned = false;
  if (ctx === undefined) {
    try {
      ctx = await GpuContext.create(run.gpuOptions);
      owned = true;
    } catch (e) {
      if (!(e instanceof GpuUnavailableError)) throw e;
      if (device === 'gpu') throw new GpuUnavailableError(`autobkBatch: device 'gpu' was requested but ${e.message}`, { cause: e });
      const n = await threads();
      (run.notice ?? console.warn)(`batchfit: ${e.message}; autobkBatch runs on the CPU (${n === 0 ? 'in the calling thread' : `${n} worker threads`}).`);
      return autobkBatchCpu(batch, options, run, n, t0);
    }
    // A software adapter (lavapipe, SwiftShader) is several times slower than the CPU path, so
    // 'auto' does not count it as a GPU; device: 'gpu' still uses it.
    if (device === 'auto' && ctx.adapterInfo.isFallbackAdapter) {
      const adapter = ctx.describe();
      ctx.destroy();
      const n = await threads();
      (run.notice ?? console.warn)(`batchfit: only a software WebGPU adapter (${adapter}); autobkBatch runs on the CPU (${n === 0 ? 'in the calling thread' : `${n} worker threads`}); device: 'gpu' uses it anyway.`);
      return autobkBatchCpu(batch, options, run, n, t0);
    }
  }
  const input: AutobkBatchInput = batch.kind === 'list' ? batch.spectra : batch.series;
  try {
    return await autobkBatchGpu(ctx, input, options, {
      ...(run.onProgress === undefined ? {} : { onProgress: run.onProgress }),
      ...(run.signal === undefined ? {} : { signal: run.signal }),
      ...(run.chir === undefined ? {} : { chir: run.chir }),
      ...(run.maxChunk === undefined ? {} : { maxChunk: run.maxChunk }),
      ...(run.onTimings === undefined ? {} : { onTimings: run.onTimings }),
    });
  } finally {
    if (owned) ctx.destroy();
  }
}
