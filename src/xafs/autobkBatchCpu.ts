/**
 * The CPU back end of autobkBatch: chunks of spectra over worker threads (autobkWorker.ts), each
 * writing its spectra's rows into the batch planes in place (shared memory) or into planes of
 * its own that move back without a copy. A packed or streamed series goes through in blocks of
 * rows, so that neither the job buffers nor a worker map's replies ever hold more than a block.
 */
import { isSharedBuffer, mapInWorkers, type SpawnWorker, type WorkerJob } from '../cpu/workerPool.js';
import type { AutobkBatchOptions, AutobkBatchRun, BatchSpectrum, BatchTimings } from './autobkBatchTypes.js';
import { sliceColumns, type AutobkPlaneShape, type ResultSink } from './autobkBatchResults.js';
import { E0_GIVEN, STEP_GIVEN, autobkChunkHandler, type AutobkChunk, type AutobkJob, type AutobkWorkerInit } from './autobkWorker.js';
import { seriesBlocks, valueAt, type Batch } from './autobkBatchInput.js';

/** Starts a worker thread of autobkWorker.ts: in this form bundlers bundle the worker module (see workerPool.ts). */
const spawnAutobkWorker: SpawnWorker = (Worker) => new Worker(new URL('./autobkWorker.js', import.meta.url), { type: 'module' });

/** Chunks per thread (load balance and progress steps) and the largest chunk. */
const CHUNKS_PER_THREAD = 16;
const MAX_CHUNK = 128;

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

interface Given {
  given: Uint8Array;
  e0: Float64Array;
  edgeStep: Float64Array;
}

function givenArrays(m: number): Given & { set(s: number, e0: number | undefined, step: number | undefined): void } {
  const g = { given: new Uint8Array(m), e0: new Float64Array(m), edgeStep: new Float64Array(m) };
  return {
    ...g,
    set(s, e0v, stepv) {
      if (e0v !== undefined) {
        g.given[s]! |= E0_GIVEN;
        g.e0[s] = e0v;
      }
      if (stepv !== undefined) {
        g.given[s]! |= STEP_GIVEN;
        g.edgeStep[s] = stepv;
      }
    },
  };
}

/** Jobs over the rows of a series block ([m][ne] μ from batch index `start`), made when sent. */
function seriesJobs(
  mu: Float64Array | Float32Array, ne: number, start: number, chunk: number, forWorkers: boolean,
  e0: number | Float64Array | undefined, edgeStep: number | Float64Array | undefined,
): { count: number; make(index: number): WorkerJob<AutobkJob> } {
  const n = mu.length / ne;
  return {
    count: Math.ceil(n / chunk),
    make(index) {
      const s0 = index * chunk;
      const m = Math.min(chunk, n - s0);
      const g = givenArrays(m);
      for (let s = 0; s < m; s++) g.set(s, valueAt(e0, start + s0 + s), valueAt(edgeStep, start + s0 + s));
      const rows = mu.subarray(s0 * ne, (s0 + m) * ne);
      // Workers get their rows as a float64 copy whose buffer is moved; this thread reads them in place.
      const job: AutobkJob = { start: start + s0, count: m, energy: null, lengths: null, mu: forWorkers ? new Float64Array(rows) : rows, given: g.given, e0: g.e0, edgeStep: g.edgeStep };
      const transfer = forWorkers ? [job.mu.buffer as ArrayBuffer, g.given.buffer as ArrayBuffer, g.e0.buffer as ArrayBuffer, g.edgeStep.buffer as ArrayBuffer] : [];
      return { data: job, transfer };
    },
  };
}

/** Jobs over a list of spectra; each job's energies and μ values are concatenated copies. */
function listJobs(spectra: readonly BatchSpectrum[], chunk: number, forWorkers: boolean): { count: number; make(index: number): WorkerJob<AutobkJob> } {
  return {
    count: Math.ceil(spectra.length / chunk),
    make(index) {
      const start = index * chunk;
      const m = Math.min(chunk, spectra.length - start);
      const g = givenArrays(m);
      // Energy and μ lengths separately: a spectrum whose lengths differ gets autobk's own error.
      const lengths = new Int32Array(2 * m);
      let ne = 0;
      let nm = 0;
      for (let s = 0; s < m; s++) {
        const sp = spectra[start + s]!;
        lengths[2 * s] = sp.energy.length;
        lengths[2 * s + 1] = sp.mu.length;
        ne += sp.energy.length;
        nm += sp.mu.length;
        g.set(s, sp.e0, sp.edgeStep);
      }
      const energy = new Float64Array(ne);
      const mu = new Float64Array(nm);
      ne = 0;
      nm = 0;
      for (let s = 0; s < m; s++) {
        const sp = spectra[start + s]!;
        copyNumbers(sp.energy, energy, ne);
        copyNumbers(sp.mu, mu, nm);
        ne += sp.energy.length;
        nm += sp.mu.length;
      }
      const job: AutobkJob = { start, count: m, energy, lengths, mu, given: g.given, e0: g.e0, edgeStep: g.edgeStep };
      // Every array of a job was allocated here, so moving its buffer takes nothing from the caller.
      const transfer = forWorkers ? [energy.buffer, lengths.buffer, mu.buffer, g.given.buffer as ArrayBuffer, g.e0.buffer as ArrayBuffer, g.edgeStep.buffer as ArrayBuffer] : [];
      return { data: job, transfer };
    },
  };
}

/**
 * Spectra per worker map for a series: bounds what one map's job buffers and replies hold
 * (~13 KB per 645-point spectrum: its μ copy and, when the batch planes are not shared, its
 * result rows), and so the memory of a stream.
 */
const SERIES_BLOCK = 8192;

/**
 * Fits every spectrum of `batch` on `threads` workers (0: this thread) into `sink`, in input
 * order; rejects only on abort or a broken worker.
 */
export async function autobkBatchCpu(
  batch: Batch,
  options: AutobkBatchOptions,
  run: Pick<AutobkBatchRun, 'signal' | 'chir' | 'onProgress'>,
  threads: number,
  sink: ResultSink,
  shape: AutobkPlaneShape,
): Promise<Pick<BatchTimings, 'setupMs' | 'transformMs' | 'lmMs' | 'readbackMs'>> {
  const target = sink.target;
  // Workers write the batch planes in place only where they can share them.
  const inPlace = target !== null && (threads === 0 || isSharedBuffer(target.chi.buffer));
  const init: AutobkWorkerInit = {
    options,
    chir: run.chir === undefined || run.chir === false ? null : run.chir,
    energy: batch.kind === 'list' ? null : batch.series.energy,
    shape,
    target: inPlace ? target : null,
    padRows: inPlace && threads > 0,
  };
  const timings = new Float64Array(4);
  const total = batch.n;
  const runMap = async (jobs: { count: number; make(index: number): WorkerJob<AutobkJob> }): Promise<void> => {
    // Workers finish out of order; the sink takes chunks in input order.
    const pending = new Map<number, AutobkChunk>();
    let nextJob = 0;
    let chain = Promise.resolve();
    const deliver = (c: AutobkChunk): Promise<void> => {
      run.signal?.throwIfAborted();
      sink.r = c.r;
      return sink.add({
        columns: c.columns ?? sliceColumns(target!, c.start, c.count),
        errors: c.errors,
        warnings: c.warningLists.length === 0 ? null : { lists: c.warningLists, ids: c.warningIds },
        ownEnergies: c.ownEnergies,
        bkgOnDemand: null,
      }).then(() => {
        const done = sink.done;
        // The final 100 % is reported once, by autobkBatch, after the batch result is made.
        if (total === null || done < total) run.onProgress?.({ done, total: total ?? done, fraction: total === null ? NaN : done / total });
      });
    };
    try {
      await mapInWorkers<AutobkWorkerInit, AutobkJob, AutobkChunk>({
        worker: spawnAutobkWorker,
        handler: autobkChunkHandler,
        init,
        jobs,
        threads: Math.min(threads, jobs.count),
        ...(run.signal === undefined ? {} : { signal: run.signal }),
        onDone: (index, c) => {
          for (let i = 0; i < 4; i++) timings[i]! += c.timings[i]!;
          pending.set(index, c);
          while (pending.has(nextJob)) {
            const ready = pending.get(nextJob)!;
            pending.delete(nextJob++);
            chain = chain.then(() => deliver(ready));
            // Handled here: a delivery that fails (an abort) is reported once the map itself
            // has settled, which may be ticks later (after its workers are terminated).
            chain.catch(() => undefined);
          }
        },
      });
    } catch (e) {
      // The map's own failure is the one to report; the deliveries queued before it are dropped.
      await chain.catch(() => undefined);
      throw e;
    }
    await chain;
  };
  const chunkFor = (n: number): number => Math.max(1, Math.min(MAX_CHUNK, Math.ceil(n / (Math.max(1, threads) * CHUNKS_PER_THREAD))));

  if (batch.kind === 'list') {
    await runMap(listJobs(batch.spectra, chunkFor(batch.n), threads > 0));
  } else {
    const ne = batch.series.energy.length;
    for await (const block of seriesBlocks(batch, SERIES_BLOCK)) {
      run.signal?.throwIfAborted();
      const n = block.mu.length / ne;
      await runMap(seriesJobs(block.mu, ne, block.start, chunkFor(Math.min(n, total ?? n)), threads > 0, batch.series.e0, batch.series.edgeStep));
    }
  }
  return { setupMs: timings[0]!, transformMs: timings[1]!, lmMs: timings[2]!, readbackMs: timings[3]! };
}
