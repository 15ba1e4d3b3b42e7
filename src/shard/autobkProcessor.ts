/**
 * The AUTOBK shard processor: every item is one spectrum, fitted by autobkBatch (GPU when a
 * hardware adapter exists, else all cores); one row per spectrum goes to an Arrow IPC file
 * written chunk by chunk through src/io's table writer, so a shard holds one chunk of results.
 *
 * Three input layouts: 'series' (a column file: the energy column plus one μ column per
 * spectrum, what quick-scan series and XANES maps are exported as), 'spectra' (one spectrum per
 * file, μ from `mu`, a column or an expression as in readSpectrum) and 'hdf5' (HDF5/NeXus files
 * as quick-EXAFS and XANES-mapping beamlines write them: each file's spectra in readHdf5's order,
 * a map's pixels row-major).
 *
 * Arrow IPC rather than Parquet for shard outputs: merging needs to read them back at run time,
 * and apache-arrow (a runtime dependency) reads Arrow and appends its record batches to the
 * merged file as they are, with no re-encoding; hyparquet, the Parquet reader, is only a
 * development dependency. pyarrow reads the result with `pyarrow.ipc.open_file`.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { RecordBatchReader } from 'apache-arrow';
import { openArrowFile, openTable, type TableChunk, type TableColumn, type TableWriter } from '../io/batchTable.js';
import { autobkBatch, readSpectrum, AUTOBK_STATUS, type AutobkBatchResults, type AutobkOptions } from '../xafs/index.js';
import { autobkSettings } from '../xafs/autobk.js';
import { readHdf5, type ReadHdf5Options } from '../xafs/readHdf5.js';
import type { JsonValue, ShardManifest } from './manifest.js';
import type { ShardCounts, ShardJob, ShardProcessor } from './processor.js';

/** The options an AUTOBK job stores in its manifest. */
export interface AutobkShardOptions {
  /** 'series': each input is energy + one μ column per spectrum; 'spectra': one spectrum per input; 'hdf5': HDF5/NeXus datasets. */
  layout: 'series' | 'spectra' | 'hdf5';
  /** Energy column: 1-based number or label (default 1); 'hdf5': the energy dataset's path. */
  energy: number | string;
  /** 'spectra': μ as a column or an expression (readSpectrum's `mu`), default readSpectrum's rule; 'hdf5' (required): a dataset path or an expression over `signals`. */
  mu?: string;
  /** 'hdf5': names for the datasets of a μ expression (`{ i0: '/entry/i0', it: '/entry/it' }`). */
  signals?: Record<string, string>;
  /** 'hdf5': which axis of a 2-D/3-D dataset is energy (readHdf5's energyAxis; default: found from the lengths). */
  energyAxis?: 'first' | 'last';
  /** autobk's options (rbkg, kweight, kmin, kmax, dk, win, nknots, kstep, nfft, e0, edgeStep…). */
  fit: AutobkOptions;
}

/** The row columns of a shard's (and the merged) table. */
export const AUTOBK_SHARD_COLUMNS: readonly TableColumn[] = [
  { name: 'item', kind: 'int32', unit: '', description: 'job-wide spectrum index (manifest order)' },
  { name: 'input', kind: 'string', unit: '', description: 'input file, relative to the manifest' },
  { name: 'name', kind: 'string', unit: '', description: "column label (series), file name (spectra) or [index] / [y, x] in the HDF5 dataset" },
  { name: 'status', kind: 'string', unit: '', description: `fit status: ${AUTOBK_STATUS.join(', ')}` },
  { name: 'message', kind: 'string', unit: '', description: 'the error of a failed spectrum, or what its setup clipped' },
  { name: 'e0', kind: 'float64', unit: 'eV', description: 'edge energy (NaN when failed)' },
  { name: 'edge_step', kind: 'float64', unit: '', description: 'edge step, in μ units (NaN when failed)' },
  { name: 'chisqr', kind: 'float64', unit: '', description: 'AUTOBK χ² (NaN when failed)' },
  { name: 'redchi', kind: 'float64', unit: '', description: 'reduced χ² (NaN when failed)' },
  { name: 'nspl', kind: 'int32', unit: '', description: 'spline knots (0 when failed)' },
  { name: 'iterations', kind: 'int32', unit: '', description: 'Levenberg–Marquardt iterations' },
  { name: 'chi', kind: 'list<float64>', unit: '', description: 'χ(k) on k = kstep·i (null when failed)' },
];

/** Spectra per 'spectra'-layout batch: bounds what a shard of one-spectrum files holds at once. */
const SPECTRA_GROUP = 4096;

function shardOptions(o: { [key: string]: JsonValue }): AutobkShardOptions {
  return o as unknown as AutobkShardOptions;
}

/** Rows of one output chunk, gathered in typed arrays and written as one table chunk. */
class RowBlock {
  readonly item: Int32Array;
  readonly input: string[] = [];
  readonly name: string[] = [];
  readonly status: string[] = [];
  readonly message: string[] = [];
  readonly e0: Float64Array;
  readonly edgeStep: Float64Array;
  readonly chisqr: Float64Array;
  readonly redchi: Float64Array;
  readonly nspl: Int32Array;
  readonly iterations: Int32Array;
  readonly offsets: Int32Array;
  readonly valid: Uint8Array;
  chi: Float64Array;
  count = 0;

  constructor(capacity: number, chiCapacity: number) {
    this.item = new Int32Array(capacity);
    this.e0 = new Float64Array(capacity);
    this.edgeStep = new Float64Array(capacity);
    this.chisqr = new Float64Array(capacity);
    this.redchi = new Float64Array(capacity);
    this.nspl = new Int32Array(capacity);
    this.iterations = new Int32Array(capacity);
    this.offsets = new Int32Array(capacity + 1);
    this.valid = new Uint8Array(capacity);
    this.chi = new Float64Array(chiCapacity);
  }

  /** Row for result i (local index) of `res`. */
  addResult(item: number, input: string, name: string, res: AutobkBatchResults, i: number): void {
    const r = this.count++;
    const failed = res.statusOf(i) === 'error';
    this.item[r] = item;
    this.input.push(input);
    this.name.push(name);
    this.status.push(res.statusOf(i));
    this.message.push(failed ? res.errors.get(res.start + i) ?? 'not fitted' : res.warningsOf(i).join('; '));
    this.e0[r] = failed ? NaN : res.e0[i]!;
    this.edgeStep[r] = failed ? NaN : res.edgeStep[i]!;
    this.chisqr[r] = failed ? NaN : res.chisqr[i]!;
    this.redchi[r] = failed ? NaN : res.redchi[i]!;
    this.nspl[r] = failed ? 0 : res.nspl[i]!;
    this.iterations[r] = failed ? 0 : res.iterations[i]!;
    const nk = failed ? 0 : res.nk[i]!;
    const at = this.offsets[r]!;
    this.chi.set(res.chi.subarray(i * res.kWidth, i * res.kWidth + nk), at);
    this.offsets[r + 1] = at + nk;
    this.valid[r] = failed ? 0 : 1;
  }

  /** Row for an item that could not even be read (its file does not parse). */
  addUnread(item: number, input: string, name: string, message: string): void {
    const r = this.count++;
    this.item[r] = item;
    this.input.push(input);
    this.name.push(name);
    this.status.push('error');
    this.message.push(message);
    this.e0[r] = this.edgeStep[r] = this.chisqr[r] = this.redchi[r] = NaN;
    this.nspl[r] = this.iterations[r] = 0;
    this.offsets[r + 1] = this.offsets[r]!;
    this.valid[r] = 0;
  }

  async flush(writer: TableWriter, counts: ShardCounts): Promise<void> {
    const n = this.count;
    if (n === 0) return;
    for (const s of this.status) counts.statuses[s] = (counts.statuses[s] ?? 0) + 1;
    counts.items += n;
    const chunk: TableChunk = {
      count: n,
      columns: {
        item: this.item.subarray(0, n),
        input: this.input,
        name: this.name,
        status: this.status,
        message: this.message,
        e0: this.e0.subarray(0, n),
        edge_step: this.edgeStep.subarray(0, n),
        chisqr: this.chisqr.subarray(0, n),
        redchi: this.redchi.subarray(0, n),
        nspl: this.nspl.subarray(0, n),
        iterations: this.iterations.subarray(0, n),
        chi: { values: this.chi.subarray(0, this.offsets[n]!), offsets: this.offsets.subarray(0, n + 1) },
      },
      valid: this.valid.subarray(0, n),
    };
    await writer.write(chunk);
  }
}

/** Index (0-based) of the energy column named by a 1-based number or a label; -1 if absent. */
function energyColumn(energy: number | string, labels: readonly string[]): number {
  return typeof energy === 'number' ? energy - 1 : labels.indexOf(energy);
}

const UTF8 = new TextDecoder();

function decode(bytes: Uint8Array): string {
  return UTF8.decode(bytes);
}

/** A series file's μ columns (0-based indices into spec.columns) and their labels. */
function seriesColumns(text: string, path: string, energy: number | string): { spec: ReturnType<typeof readSpectrum>; cols: number[] } {
  const spec = readSpectrum(text, { fileName: basename(path), energy });
  const e = energyColumn(energy, spec.labels);
  const cols = spec.columns.map((_, i) => i).filter((i) => i !== e);
  if (cols.length === 0) throw new RangeError(`${basename(path)}: no spectrum column besides the energy`);
  return { spec, cols };
}

/** Fits rows first … first + count − 1 of a packed series and writes their rows, chunk by chunk. */
async function fitPacked(job: ShardJob, o: AutobkShardOptions, writer: TableWriter, counts: ShardCounts, series: { energy: Float64Array; mu: Float64Array; item: number; input: string; name: (row: number) => string }): Promise<void> {
  const { e0, edgeStep, ...fit } = o.fit;
  const res = await autobkBatch({ energy: series.energy, mu: series.mu, ...(e0 === undefined ? {} : { e0 }), ...(edgeStep === undefined ? {} : { edgeStep }) }, fit, {
    device: job.device,
    ...(job.workers === undefined ? {} : { workers: job.workers }),
    notice: job.log,
    onChunk: async (chunk) => {
      // A block sized by the chunk (one per chunk, not per spectrum); its rows are in the file when flush returns.
      const block = new RowBlock(chunk.count, chunk.count * chunk.kWidth);
      for (let i = 0; i < chunk.count; i++) block.addResult(series.item + chunk.start + i, series.input, series.name(chunk.start + i), chunk, i);
      await block.flush(writer, counts);
    },
  });
  counts.device = res.device;
}

async function processSeries(job: ShardJob, o: AutobkShardOptions, writer: TableWriter, counts: ShardCounts): Promise<void> {
  let item = job.shard.item;
  for (const seg of job.shard.segments) {
    const input = job.manifest.inputs[seg.input]!;
    const { spec, cols } = seriesColumns(decode(job.readInput(seg.input)), input.path, o.energy);
    const ne = spec.energy.length;
    const packed = new Float64Array(seg.count * ne);
    for (let s = 0; s < seg.count; s++) packed.set(spec.columns[cols[seg.first + s]!]!, s * ne);
    const name = (row: number): string => {
      const col = cols[seg.first + row]!;
      return spec.labels[col] ?? `c${col + 1}`;
    };
    await fitPacked(job, o, writer, counts, { energy: spec.energy, mu: packed, item, input: input.path, name });
    item += seg.count;
  }
}

/** readHdf5's options from a job's. */
function hdf5Options(o: AutobkShardOptions, path: string): ReadHdf5Options {
  return { energy: String(o.energy), mu: o.mu!, ...(o.signals === undefined ? {} : { signals: o.signals }), ...(o.energyAxis === undefined ? {} : { energyAxis: o.energyAxis }), fileName: basename(path) };
}

/** A spectrum's name in an HDF5 series or map: its index, or [y, x] in a map. */
function pixelName(shape: readonly number[], i: number): string {
  if (shape.length < 2) return `[${i}]`;
  const idx: number[] = [];
  for (let d = shape.length - 1, r = i; d >= 0; d--) {
    idx.unshift(r % shape[d]!);
    r = Math.floor(r / shape[d]!);
  }
  return `[${idx.join(', ')}]`;
}

async function processHdf5(job: ShardJob, o: AutobkShardOptions, writer: TableWriter, counts: ShardCounts): Promise<void> {
  let item = job.shard.item;
  for (const seg of job.shard.segments) {
    const input = job.manifest.inputs[seg.input]!;
    const h = await readHdf5(job.readInput(seg.input), hdf5Options(o, input.path));
    const ne = h.energy.length;
    const mu = h.mu.subarray(seg.first * ne, (seg.first + seg.count) * ne);
    await fitPacked(job, o, writer, counts, { energy: h.energy, mu, item, input: input.path, name: (row) => pixelName(h.shape, seg.first + row) });
    item += seg.count;
  }
}

async function processSpectra(job: ShardJob, o: AutobkShardOptions, writer: TableWriter, counts: ShardCounts): Promise<void> {
  // Items of a 'spectra' job are whole inputs: segment s covers inputs seg.input (first = 0, count = 1).
  const items = job.shard.segments.map((s) => s.input);
  const { e0, edgeStep, ...fit } = o.fit;
  for (let g = 0; g < items.length; g += SPECTRA_GROUP) {
    const group = items.slice(g, g + SPECTRA_GROUP);
    const spectra: { energy: Float64Array; mu: Float64Array; e0?: number; edgeStep?: number }[] = [];
    const unread = new Map<number, string>();
    for (const [p, i] of group.entries()) {
      const path = job.manifest.inputs[i]!.path;
      try {
        const s = readSpectrum(decode(job.readInput(i)), { fileName: basename(path), energy: o.energy, ...(o.mu === undefined ? {} : { mu: o.mu }) });
        spectra.push({ energy: s.energy, mu: s.mu, ...(e0 === undefined ? {} : { e0 }), ...(edgeStep === undefined ? {} : { edgeStep }) });
      } catch (e) {
        if ((e as Error).name === 'ShardInputError') throw e;
        unread.set(p, (e as Error).message);
      }
    }
    const res = spectra.length === 0 ? null : await autobkBatch(spectra, fit, { device: job.device, ...(job.workers === undefined ? {} : { workers: job.workers }), notice: job.log });
    if (res !== null) counts.device = res.device;
    const block = new RowBlock(group.length, res === null ? 0 : res.count * res.kWidth);
    let j = 0;
    for (const [p, i] of group.entries()) {
      const path = job.manifest.inputs[i]!.path;
      const item = job.shard.item + g + p;
      if (unread.has(p)) block.addUnread(item, path, basename(path), unread.get(p)!);
      else block.addResult(item, path, basename(path), res!, j++);
    }
    await block.flush(writer, counts);
  }
}

/** AUTOBK of every spectrum of the inputs, one Arrow row per spectrum (manifest processor 'autobk'). */
export const autobkShardProcessor: ShardProcessor = {
  name: 'autobk',
  extension: '.arrow',

  checkOptions(options) {
    const o = shardOptions(options);
    if (o.layout !== 'series' && o.layout !== 'spectra' && o.layout !== 'hdf5') throw new RangeError(`autobk shards: layout = ${JSON.stringify(o.layout)} must be 'series', 'spectra' or 'hdf5'`);
    const energy = o.energy ?? 1;
    if (o.layout === 'hdf5') {
      if (typeof energy !== 'string' || energy === '') throw new RangeError(`autobk shards: energy = ${JSON.stringify(energy)} must be the path of the energy dataset for 'hdf5' inputs`);
      if (typeof o.mu !== 'string' || o.mu === '') throw new RangeError("autobk shards: 'hdf5' inputs need mu: a dataset path or an expression over signals");
      if (o.energyAxis !== undefined && o.energyAxis !== 'first' && o.energyAxis !== 'last') throw new RangeError(`autobk shards: energyAxis = ${JSON.stringify(o.energyAxis)} must be 'first' or 'last'`);
    } else {
      if (!((typeof energy === 'number' && Number.isInteger(energy) && energy >= 1) || (typeof energy === 'string' && energy !== ''))) {
        throw new RangeError(`autobk shards: energy = ${JSON.stringify(energy)} must be a column number ≥ 1 or a label`);
      }
      if (o.signals !== undefined || o.energyAxis !== undefined) throw new RangeError(`autobk shards: signals and energyAxis apply to the 'hdf5' layout, not '${o.layout}'`);
    }
    if (o.layout === 'series' && o.mu !== undefined) throw new RangeError(`autobk shards: mu = ${JSON.stringify(o.mu)} applies to the 'spectra' and 'hdf5' layouts; a series takes every column but the energy`);
    const fit = o.fit ?? {};
    autobkSettings(fit); // every fit option checked once, here, before any shard runs
    return {
      layout: o.layout,
      energy,
      ...(o.mu === undefined ? {} : { mu: o.mu }),
      ...(o.signals === undefined ? {} : { signals: o.signals }),
      ...(o.energyAxis === undefined ? {} : { energyAxis: o.energyAxis }),
      fit: fit as unknown as JsonValue,
    };
  },

  async countItems(bytes, path, options) {
    const o = shardOptions(options);
    if (o.layout === 'hdf5') return (await readHdf5(bytes, hdf5Options(o, path))).count;
    return o.layout === 'spectra' ? 1 : seriesColumns(decode(bytes), path, o.energy).cols.length;
  },

  async process(job) {
    const o = shardOptions(job.manifest.options);
    const counts: ShardCounts = { items: 0, statuses: {}, failed: 0, device: job.device === 'gpu' ? 'gpu' : 'cpu' };
    const kstep = o.fit.kstep ?? 0.05;
    const writer = openTable(job.outPath, 'arrow', AUTOBK_SHARD_COLUMNS, tableMetadata(job.manifest, kstep));
    try {
      if (o.layout === 'series') await processSeries(job, o, writer, counts);
      else if (o.layout === 'hdf5') await processHdf5(job, o, writer, counts);
      else await processSpectra(job, o, writer, counts);
    } finally {
      await writer.close();
    }
    counts.failed = counts.statuses.error ?? 0;
    return counts;
  },

  async merge(parts, outPath, manifest) {
    // Record batches are appended as they are; each part is read whole (one shard's output) and
    // is in the merged file before the next is read.
    const file = openArrowFile(outPath);
    let rows = 0;
    try {
      for (const part of parts) {
        for (const batch of RecordBatchReader.from(readFileSync(part))) {
          file.write(batch);
          rows += batch.numRows;
        }
      }
    } finally {
      file.close();
    }
    if (rows !== manifest.items) throw new Error(`merge: the shards hold ${rows} rows, the manifest ${manifest.items} items`);
    return rows;
  },
};

/** File metadata shared by every shard and the merged file: identical schemas, so batches concatenate. */
function tableMetadata(m: ShardManifest, kstep: number): Record<string, string> {
  return { 'batchfit.version': m.batchfit, 'batchfit.manifest': m.hash, 'batchfit.items': String(m.items), kstep: String(kstep), 'kstep.unit': 'Å⁻¹' };
}
