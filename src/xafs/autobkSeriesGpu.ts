/**
 * The series path of the GPU back end: every spectrum of a packed or streamed series with one e0
 * is fitted with the shared maps of autobkSeries.ts on src/gpu/autobkSeries.ts, and the host
 * touches a spectrum only as bytes: μ rows go up as raw float64 words (views of the caller's
 * array when it is a Float64Array), the result planes come back as float64 bit patterns copied
 * straight into the result columns, and what every spectrum shares (e0, knots, grid sizes) is
 * filled per chunk, not per spectrum.
 *
 * The LM loop stays in TypeScript: per chunk one submission runs the setup and the first trials,
 * each read-back of the active count decides whether to submit more (twice as many trials each
 * time, so a chunk needs at most log₂(maxfev) read-backs), then one submission finishes and one
 * read-back fetches the planes. Several chunks are in flight on separate buffer sets ("slots"):
 * while one slot waits for its count, the other's submission is queued and a finished chunk is
 * being consumed, so the GPU does not wait for the host.
 *
 * Spectra the kernels leave to the host (a non-finite or huge μ, an unusable edge step) are
 * fitted by the float64 CPU code of autobkWorker.ts in this thread: rare, and exactly what the
 * CPU path gives (its cleaning, pre_edge and error messages).
 */
import { AutobkSeriesGpu, SERIES_STATUS_REDO } from '../gpu/autobkSeries.js';
import type { AutobkLmSettings } from '../gpu/autobkLm.js';
import type { GpuContext } from '../gpu/context.js';
import type { BatchedFft } from '../gpu/fft.js';
import { seriesBlocks, type Batch } from './autobkBatchInput.js';
import {
  allocateColumns,
  padRow,
  replicateRow,
  sliceColumns,
  STATUS_ERROR,
  type AutobkColumns,
  type AutobkPlaneShape,
  type FinishedChunk,
  type OwnRow,
  type ResultSink,
} from './autobkBatchResults.js';
import { MAX_GPU_EDGE_STEP, type AutobkBatchOptions, type BatchTimings, type ChirSettings } from './autobkBatchTypes.js';
import type { AutobkSeriesDesign } from './autobkSeries.js';
import { E0_GIVEN, STEP_GIVEN, autobkChunkHandler, type AutobkWorkerInit } from './autobkWorker.js';

export interface SeriesRun {
  settings: AutobkLmSettings;
  /** LM trials of a chunk's first submission (later submissions double it). */
  firstTrials: number;
  /** Most spectra per chunk (the device limits may allow fewer). */
  maxChunk: number;
  /** Chunks in flight at once (buffer sets). */
  slots: number;
  signal?: AbortSignal;
  timings: BatchTimings;
  /** χ(R) of the GPU-fitted spectra of a chunk (rows [at, at + n) of columns), when asked for. */
  chir: ((columns: AutobkColumns, at: number, n: number) => Promise<void>) | null;
  onProgress: (done: number) => void;
  t0: number;
}

/** A chunk of series rows: pieces of the caller's arrays (whole rows, in order), no copy. */
interface SeriesChunk {
  index: number;
  start: number;
  n: number;
  pieces: (Float64Array | Float32Array)[];
  /** μ row i of the chunk (a view). */
  rowOf(i: number): Float64Array | Float32Array;
}

/**
 * The series in chunks of `capacity` rows, each a list of views of the caller's rows (a packed
 * μ, or a stream's blocks): the upload gathers them straight into the GPU's staging buffer, and
 * the blocks a chunk refers to stay alive only until it is delivered.
 */
async function* seriesChunks(batch: Extract<Batch, { kind: 'packed' | 'stream' }>, capacity: number): AsyncGenerator<SeriesChunk> {
  const ne = batch.series.energy.length;
  let index = 0;
  let pieces: (Float64Array | Float32Array)[] = [];
  let filled = 0;
  let chunkStart = 0;
  const emit = (): SeriesChunk => {
    const own = pieces;
    const n = filled;
    pieces = [];
    filled = 0;
    return {
      index: index++, start: chunkStart, n, pieces: own,
      rowOf: (i) => {
        let row = i;
        for (const p of own) {
          const rows = p.length / ne;
          if (row < rows) return p.subarray(row * ne, (row + 1) * ne);
          row -= rows;
        }
        throw new RangeError(`autobk series: row ${i} is outside its chunk of ${n}`);
      },
    };
  };
  for await (const block of seriesBlocks(batch, capacity)) {
    const rows = block.mu.length / ne;
    let taken = 0;
    while (taken < rows) {
      if (filled === 0) chunkStart = block.start + taken;
      const m = Math.min(capacity - filled, rows - taken);
      pieces.push(block.mu.subarray(taken * ne, (taken + m) * ne));
      filled += m;
      taken += m;
      if (filled === capacity) yield emit();
    }
  }
  if (filled > 0) yield emit();
}

/** The warning of a series row the GPU left to the host (status REDO of shaders/autobk_series.wgsl). */
export const REDO_WARNING = `fitted on the CPU in float64: the GPU's float32 could not take this row (μ beyond 2¹⁰⁰, or an edge step beyond ${MAX_GPU_EDGE_STEP}: μ in large units weighs Larch's clamp terms beyond what float32 resolves)`;

/**
 * Fits every spectrum of a packed or streamed series into `sink`, in input order (the caller
 * has checked AutobkSeriesGpu.capacityFor). Rejects only on abort or device loss.
 */
export async function fitSeriesOnGpu(
  ctx: GpuContext,
  batch: Extract<Batch, { kind: 'packed' | 'stream' }>,
  design: AutobkSeriesDesign,
  e0: number,
  options: AutobkBatchOptions,
  chir: true | ChirSettings | null,
  shape: AutobkPlaneShape,
  sink: ResultSink,
  run: SeriesRun,
): Promise<void> {
  const capacity = AutobkSeriesGpu.capacityFor(ctx, design, run.maxChunk);
  const timings = run.timings;
  const tCreate = performance.now();
  const slots: AutobkSeriesGpu[] = [];
  try {
    for (let i = 0; i < run.slots; i++) slots.push(await AutobkSeriesGpu.create(ctx, design, capacity, run.settings));
  } catch (e) {
    for (const s of slots) s.destroy();
    throw e;
  }
  timings.transformMs += performance.now() - tCreate;

  const { ne, nk, nspl } = design;
  const g = design.grids;
  const series = batch.series;
  // Given edge steps as float64 words: the caller's per-spectrum array, or one value for all.
  const stepsGiven = design.edgeWeights === null;
  const constantSteps = stepsGiven && typeof series.edgeStep === 'number' ? new Float64Array(capacity).fill(series.edgeStep) : null;
  const stepWordsOf = (c: SeriesChunk): Uint32Array | null => {
    if (!stepsGiven) return null;
    const steps = constantSteps ?? (series.edgeStep as Float64Array).subarray(c.start, c.start + c.n);
    return new Uint32Array(steps.buffer, steps.byteOffset, 2 * c.n);
  };
  const maxIter = run.settings.maxIterations;
  const target = sink.target;
  const warnings = g.warnings.length > 0 ? [g.warnings.slice()] : [];
  // The float64 CPU fit of spectra the kernels leave to the host, writing into a chunk's columns.
  const hostInit: AutobkWorkerInit = { options, chir, energy: series.energy as Float64Array, shape, target: null };
  let hostFit: ReturnType<typeof autobkChunkHandler> | null = null;

  const fillShared = (columns: AutobkColumns, from: number, to: number): void => {
    columns.e0.fill(e0, from, to);
    columns.kmin.fill(g.kmin, from, to);
    columns.kmax.fill(g.kmax, from, to);
    columns.rbkg.fill(g.rbkg, from, to);
    columns.nspl.fill(nspl, from, to);
    columns.irbkg.fill(g.irbkg, from, to);
    columns.nk.fill(nk, from, to);
    columns.ne.fill(ne, from, to);
    columns.ownEnergy.fill(0, from, to);
    columns.knots.set(g.knots.subarray(0, nspl + 4), from * (nspl + 4));
    replicateRow(columns.knots, nspl + 4, from, to - from);
  };
  // Streaming (no vectors kept): each slot's host-made planes and whether its mapped views are free.
  const streamViews = target === null && !sink.retains;
  const slotPlanes = new Map<AutobkSeriesGpu, { columns: AutobkColumns; filled: number; dirty: number[]; free: Promise<void> }>();
  if (streamViews) {
    for (const slot of slots) slotPlanes.set(slot, { columns: allocateColumns(shape, 0, capacity, { bkg: false, ownEnergy: false, pad: false }), filled: 0, dirty: [], free: Promise.resolve() });
  }
  const roundTrips: number[] = [];
  const timeline: number[][] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const since = (): number => +(performance.now() - run.t0).toFixed(2);

  const runChunk = async (slot: AutobkSeriesGpu, c: SeriesChunk): Promise<FinishedChunk> => {
    const line = [c.start, since()];
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    run.signal?.throwIfAborted();
    const t1 = performance.now();
    await slot.start(c.pieces, stepWordsOf(c), c.n, run.firstTrials);
    timings.submissions++;
    let trials = run.firstTrials;
    let total = trials;
    let trips = 0;
    for (;;) {
      const active = await slot.readActive();
      trips++;
      if (trips === 1) line.push(since());
      if (active === 0 || total >= maxIter) break;
      run.signal?.throwIfAborted();
      trials = Math.min(2 * trials, maxIter - total);
      total += trials;
      slot.iterate(trials);
      timings.submissions++;
    }
    const t2 = performance.now();
    timings.lmMs += t2 - t1;
    run.signal?.throwIfAborted();
    let columns: AutobkColumns;
    let release: (() => void) | undefined;
    let dirty: number[];
    if (streamViews) {
      // Streaming: onChunk reads the GPU's planes where they were mapped, no copy; host-made
      // planes (shared fields, status bytes) are the slot's own, reused chunk after chunk.
      const own = slotPlanes.get(slot)!;
      await own.free;
      slot.finish();
      timings.submissions++;
      const v = await slot.viewResults();
      const base = sliceColumns(own.columns, 0, c.n);
      columns = { ...base, start: c.start, chi: v.chi, coefs: v.coefs, initCoefs: v.initCoefs, edgeStep: v.edgeStep, chisqr: v.chisqr, redchi: v.redchi, iterations: v.iterations };
      columns.status.set(v.status);
      if (c.n > own.filled) {
        fillShared(columns, own.filled, c.n);
        own.filled = c.n;
      }
      dirty = own.dirty;
      let freed: () => void = () => undefined;
      own.free = new Promise((resolve) => (freed = resolve));
      release = () => {
        v.release();
        freed();
      };
    } else {
      slot.finish();
      timings.submissions++;
      // The kernels write every row of χ and the coefficients (widths are the series'), so a
      // chunk's own planes need no NaN padding; rows the host fits are padded below.
      columns = target !== null ? sliceColumns(target, c.start, c.n) : allocateColumns(shape, c.start, c.n, { bkg: false, ownEnergy: false, pad: false });
      await slot.readResults(columns, 0);
      dirty = [];
      fillShared(columns, 0, c.n);
    }
    trips++;
    if (!Number.isNaN(slot.gpuMs)) timings.gpuMs = (timings.gpuMs ?? 0) + slot.gpuMs;
    line.push(since());
    const t3 = performance.now();
    // Rows of a slot's reused planes that the host fitted last time get the series' shared fields back.
    for (const s of dirty) if (s < c.n) fillShared(columns, s, s + 1);
    dirty.length = 0;
    const ids = new Uint16Array(c.n);
    if (warnings.length > 0) ids.fill(1);
    const errors: [number, string][] = [];
    const ownEnergies: OwnRow[] = [];
    const lists = warnings.slice();
    // Spectra left to the host (rare): found by a native scan of the status column.
    let gpuFitted = c.n;
    const status = columns.status;
    for (let s = status.indexOf(SERIES_STATUS_REDO); s !== -1; s = status.indexOf(SERIES_STATUS_REDO, s + 1)) {
      gpuFitted--;
      // The kernels skipped this row: NaN until the host writes it (a shorter grid leaves a NaN tail).
      padRow(columns, s);
      dirty.push(s);
      columns.status[s] = STATUS_ERROR;
      hostInit.target = columns;
      hostFit ??= autobkChunkHandler(hostInit);
      const given = new Uint8Array(1);
      const e0v = new Float64Array([e0]);
      const step = new Float64Array(1);
      given[0] = E0_GIVEN;
      if (stepsGiven) {
        given[0] |= STEP_GIVEN;
        step[0] = typeof series.edgeStep === 'number' ? series.edgeStep : series.edgeStep![c.start + s]!;
      }
      const reply = (await hostFit({ start: c.start + s, count: 1, energy: null, lengths: null, mu: c.rowOf(s), given, e0: e0v, edgeStep: step })).value;
      for (const [, message] of reply.errors) errors.push([s, message]);
      // A row the host fitted says so (its error, if any, says why it could not be fitted at all).
      if (reply.errors.length > 0) ids[s] = reply.warningIds[0]! > 0 ? lists.push(reply.warningLists[reply.warningIds[0]! - 1]!) : 0;
      else ids[s] = lists.push([...(reply.warningIds[0]! > 0 ? reply.warningLists[reply.warningIds[0]! - 1]! : []), REDO_WARNING]);
      for (const [, energy, bkg] of reply.ownEnergies) ownEnergies.push([s, energy, bkg]);
      sink.r = reply.r;
    }
    if (run.chir !== null && gpuFitted > 0) await run.chir(columns, 0, c.n);
    timings.readbackMs += performance.now() - t3;
    roundTrips[c.index] = trips;
    timeline[c.index] = line;
    return {
      columns,
      errors,
      warnings: lists.length > 0 ? { lists, ids } : null,
      ownEnergies,
      bkgOnDemand: { rowOf: c.rowOf, iek0: design.iek0, nFit: design.nFit, basisE: design.basisE },
      ...(release === undefined ? {} : { release }),
    };
  };

  const chunks = seriesChunks(batch, capacity);
  // Finished chunks reach the sink in input order, one after another; a failure there (an abort,
  // onChunk throwing) stops the slots at their next chunk.
  const pending = new Map<number, FinishedChunk>();
  let nextDelivery = 0;
  let delivery = Promise.resolve();
  let failure: { error: unknown } | null = null;
  const deliver = (index: number, f: FinishedChunk): void => {
    pending.set(index, f);
    while (pending.has(nextDelivery)) {
      const ready = pending.get(nextDelivery)!;
      const at = nextDelivery;
      pending.delete(nextDelivery++);
      delivery = delivery.then(async () => {
        run.signal?.throwIfAborted();
        await sink.add(ready);
        inFlight--;
        timeline[at]?.push(since());
        run.onProgress(sink.done);
      });
      delivery.catch((error: unknown) => {
        failure ??= { error };
      });
    }
  };
  const worker = async (slot: AutobkSeriesGpu): Promise<void> => {
    for (;;) {
      if (failure !== null) throw failure.error;
      const next = await chunks.next();
      if (next.done === true) return;
      deliver(next.value.index, await runChunk(slot, next.value));
    }
  };
  const running = slots.map(worker);
  try {
    await Promise.all(running);
    await delivery;
  } finally {
    // Each slot's chunk runs to its next check of the signal or of a failure before its
    // buffers go: a destroyed buffer used later would poison the caller's context.
    await Promise.allSettled(running);
    for (const s of slots) s.destroy();
  }
  timings.chunks = roundTrips.length;
  timings.roundTripsPerChunk = roundTrips;
  timings.maxChunksInFlight = maxInFlight;
  timings.timeline = timeline;
}

/**
 * χ(R) of fitted rows (xftf with chirXftfOptions) through one batched f32 FFT: the weighted,
 * windowed χ(k) is formed in f64 on the CPU as xftf forms it (the k grid is xftf's own, so no
 * interpolation), transformed on the GPU, scaled by kstep/√π.
 */
export async function chirOnGpu(fft: BatchedFft, columns: AutobkColumns, at: number, n: number, kstep: number, weights: (row: number) => Float64Array | null): Promise<void> {
  const L = fft.inputLength;
  const input = new Float32Array(n * L);
  const kw = columns.kWidth;
  for (let s = 0; s < n; s++) {
    const w = weights(at + s);
    if (w === null) continue;
    const chi = columns.chi.subarray((at + s) * kw, (at + s) * kw + columns.nk[at + s]!);
    const npts = Math.min(L, chi.length, w.length);
    for (let i = 0; i < npts; i++) input[s * L + i] = chi[i]! * w[i]!;
  }
  const { spectrum } = await fft.forward(input, n);
  const nr = Math.min(fft.nOut, columns.nr);
  const scale = kstep / Math.sqrt(Math.PI);
  for (let s = 0; s < n; s++) {
    if (weights(at + s) === null) continue;
    const o = (at + s) * columns.nr;
    for (let m = 0; m < nr; m++) {
      const re = scale * spectrum[2 * (s * fft.nOut + m)]!;
      const im = scale * spectrum[2 * (s * fft.nOut + m) + 1]!;
      columns.chirRe[o + m] = re;
      columns.chirIm[o + m] = im;
      columns.chirMag[o + m] = Math.hypot(re, im);
    }
  }
}
