/**
 * HDF5 / NeXus input (what quick-EXAFS and XANES-mapping beamlines write), through h5wasm (the
 * HDF5 C library compiled to WebAssembly). The file's bytes are placed in h5wasm's in-memory file
 * system, so the same code runs in Node and in browsers; h5wasm (≈4 MB with its WebAssembly) is
 * loaded on first use only, by a dynamic import a bundler splits into its own chunk.
 *
 * μ is one dataset or an expression over named datasets (`ln(i0/it)`, `(if1+if2)/i0`), in the
 * language of readSpectrum's `mu`. A 1-D dataset is one spectrum, a 2-D one a series, a 3-D one
 * a map; series and maps come back packed spectrum-major (an AutobkBatch PackedSeries) with the
 * shape of the spectra kept.
 */
import type { Dataset as H5Dataset, Group as H5Group } from 'h5wasm';
import { clipForMessage, evaluateMuExpression } from './readSpectrum.js';

/** Options of readHdf5. Dataset paths are absolute (`/entry/data/energy`) or relative to the root. */
export interface ReadHdf5Options {
  /** Path of the energy dataset: 1-D, in eV (not converted; a keV grid must be scaled by the caller). */
  energy: string;
  /**
   * μ: the path of a dataset, or an expression over the names defined in `signals`
   * (`ln(i0/it)`, `if/i0`, `sum(c2:c5)/c1` with cN the N-th signal). Required: μ is never guessed.
   */
  mu: string;
  /**
   * Names for datasets used in a `mu` expression, e.g. `{ i0: '/entry/i0', it: '/entry/it' }`;
   * all must have the same shape.
   */
  signals?: Record<string, string>;
  /**
   * Which axis of a 2-D/3-D dataset runs over energy: `last` (spectrum-major, [spectra][energy]
   * or [y][x][energy]) or `first` ([energy][spectra], [energy][y][x]). Default: the axis whose
   * length is the energy grid's, `last` when both are.
   */
  energyAxis?: 'first' | 'last';
  /** File name used in error messages (default `HDF5 file`). */
  fileName?: string;
}

/** Spectra read from an HDF5 file: one shared energy grid, μ packed spectrum-major. */
export interface Hdf5Spectra {
  /** The energy grid, eV, as stored (float64). */
  energy: Float64Array;
  /** μ, `count` rows of `energy.length` values, row-major (float64); a PackedSeries with `energy`. */
  mu: Float64Array;
  /** Number of spectra: the product of `shape` (1 for a 1-D dataset). */
  count: number;
  /**
   * The shape of the spectra, without the energy axis: `[]` for one spectrum, `[n]` for a series,
   * `[ny, nx]` for a map; spectra are in row-major (C) pixel order, the last index fastest.
   */
  shape: number[];
  /** Which axis of the μ dataset(s) was energy (`last` also for a 1-D dataset). */
  energyAxis: 'first' | 'last';
}

/** One dataset of an HDF5 file, as listHdf5Datasets reports it. */
export interface Hdf5DatasetInfo {
  /** Absolute path, e.g. `/entry/data/energy`. */
  path: string;
  /** Dimensions (`[]` for a scalar). */
  shape: number[];
  /** h5wasm's type code: `<d` float64, `<f` float32, `<i` int32, `S` strings… */
  dtype: string;
}

type H5wasm = typeof import('h5wasm');
let h5Promise: Promise<H5wasm> | undefined;
let fileCounter = 0;

/** h5wasm, loaded once and ready. */
function loadH5wasm(): Promise<H5wasm> {
  h5Promise ??= import('h5wasm').then(async (m) => {
    await m.ready;
    return m;
  });
  return h5Promise;
}

/** HDF5's format signature, found at byte 0, 512, 1024, 2048… (after a user block). */
const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
function hasSignature(bytes: Uint8Array): boolean {
  for (let at = 0; at + SIGNATURE.length <= bytes.length; at = at === 0 ? 512 : at * 2) {
    if (SIGNATURE.every((b, i) => bytes[at + i] === b)) return true;
  }
  return false;
}

/** Opens `data` as an HDF5 file in h5wasm's memory file system, runs `f`, closes and removes it. */
async function withFile<T>(data: Uint8Array | ArrayBuffer, file: string, f: (root: H5Group, h5: H5wasm) => T): Promise<T> {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (!hasSignature(bytes)) throw new RangeError(`${file}: not an HDF5 file (no HDF5 signature in its ${bytes.length} bytes)`);
  const h5 = await loadH5wasm();
  const fs = h5.FS!;
  const name = `/batchfit-read-${++fileCounter}.h5`;
  fs.writeFile(name, bytes);
  let h5file: InstanceType<H5wasm['File']> | undefined;
  try {
    h5file = new h5.File(name, 'r');
    return f(h5file, h5);
  } finally {
    h5file?.close();
    fs.unlink(name);
  }
}

/** Every dataset under `group`, depth first, at most `limit` (links to groups seen before are not followed). */
function walk(group: H5Group, h5: H5wasm, path: string, out: Hdf5DatasetInfo[], seen: Set<string>, limit: number): void {
  for (const key of group.keys()) {
    if (out.length >= limit) return;
    const child = `${path}/${key}`;
    const entity = group.get(key);
    if (entity instanceof h5.Dataset) {
      out.push({ path: child, shape: entity.shape ?? [], dtype: String(entity.dtype) });
    } else if (entity instanceof h5.Group && !seen.has(child) && child.split('/').length < 32) {
      seen.add(child);
      walk(entity, h5, child, out, seen, limit);
    }
  }
}

const LIST_LIMIT = 10_000;

/**
 * The datasets of an HDF5 file (paths, shapes, types), depth first, at most 10 000: for choosing
 * `energy`/`mu`/`signals`, and for error messages.
 * @param data the file's bytes.
 */
export async function listHdf5Datasets(data: Uint8Array | ArrayBuffer, fileName = 'HDF5 file'): Promise<Hdf5DatasetInfo[]> {
  return withFile(data, clipForMessage(fileName, 120), (root, h5) => {
    const out: Hdf5DatasetInfo[] = [];
    walk(root, h5, '', out, new Set(), LIST_LIMIT);
    return out;
  });
}

/** Up to 20 datasets as `path [shape]`, for an error message. */
function describeDatasets(root: H5Group, h5: H5wasm): string {
  const all: Hdf5DatasetInfo[] = [];
  walk(root, h5, '', all, new Set(), 21);
  if (all.length === 0) return 'the file holds no datasets';
  const shown = all.slice(0, 20).map((d) => `${d.path} [${d.shape.join('×')}]`);
  return `datasets: ${shown.join(', ')}${all.length > 20 ? ', …' : ''}`;
}

/** A numeric dataset as float64 (integers and float32 widened; 64-bit integers through Number). */
function numericDataset(root: H5Group, h5: H5wasm, path: string, what: string, file: string): { values: Float64Array; shape: number[] } {
  const entity = root.get(path);
  if (!(entity instanceof h5.Dataset)) {
    throw new RangeError(`${file}: ${what} = '${clipForMessage(path)}' is ${entity === null ? 'not in the file' : 'not a dataset'} (${describeDatasets(root, h5)})`);
  }
  const ds = entity as H5Dataset;
  const value = ds.value;
  const shape = ds.shape ?? [];
  let values: Float64Array;
  if (value instanceof Float64Array) values = value;
  else if (ArrayBuffer.isView(value) && !(value instanceof DataView) && !(value instanceof Uint8Array && ds.metadata.type !== 0)) {
    const src = value as unknown as ArrayLike<number | bigint>;
    values = new Float64Array(src.length);
    for (let i = 0; i < src.length; i++) values[i] = Number(src[i]);
  } else if (typeof value === 'number') values = new Float64Array([value]);
  else throw new RangeError(`${file}: ${what} = '${clipForMessage(path)}' is not numeric (type ${String(ds.dtype)})`);
  return { values, shape };
}

/**
 * Reads spectra from an HDF5/NeXus file: the energy grid from one dataset, μ from a dataset or an
 * expression over datasets (I0/It/If). A 2-D μ is a series, a 3-D μ a map (pixel order kept in
 * `shape`). Asynchronous because h5wasm loads its WebAssembly on first use.
 * @param data the file's bytes (Node: `readFileSync(path)`; browser: `new Uint8Array(await file.arrayBuffer())`).
 */
export async function readHdf5(data: Uint8Array | ArrayBuffer, options: ReadHdf5Options): Promise<Hdf5Spectra> {
  const file = clipForMessage(options?.fileName ?? 'HDF5 file', 120);
  if (options === null || typeof options !== 'object') throw new TypeError(`${file}: readHdf5 options must be an object with energy and mu dataset paths`);
  if (typeof options.energy !== 'string' || options.energy === '') throw new TypeError(`${file}: energy must be a dataset path, got ${String(options.energy)}`);
  if (options.energyAxis !== undefined && options.energyAxis !== 'first' && options.energyAxis !== 'last') {
    throw new RangeError(`${file}: energyAxis = '${String(options.energyAxis)}' must be 'first' or 'last'`);
  }
  if (options.signals !== undefined && (options.signals === null || typeof options.signals !== 'object')) throw new TypeError(`${file}: signals must be an object of name → dataset path, got ${String(options.signals)}`);
  for (const [name, path] of Object.entries(options.signals ?? {})) {
    if (typeof path !== 'string' || path === '') throw new TypeError(`${file}: signals.${clipForMessage(name, 40)} must be a dataset path, got ${clipForMessage(String(path))}`);
  }
  return withFile(data, file, (root, h5) => {
    if (typeof options.mu !== 'string' || options.mu.trim() === '') {
      throw new TypeError(`${file}: mu must be a dataset path or an expression over signals (μ is never guessed; ${describeDatasets(root, h5)})`);
    }
    const energyDs = numericDataset(root, h5, options.energy, 'energy', file);
    if (energyDs.shape.length !== 1) {
      throw new RangeError(`${file}: energy = '${clipForMessage(options.energy)}' has shape [${energyDs.shape.join('×')}]; it must be 1-D (one grid shared by all spectra)`);
    }
    const energy = energyDs.values;
    const muEntity = root.get(options.mu);
    let flat: Float64Array;
    let shape: number[];
    if (muEntity instanceof h5.Dataset) {
      ({ values: flat, shape } = numericDataset(root, h5, options.mu, 'mu', file));
    } else {
      const signals = options.signals ?? {};
      const names = Object.keys(signals);
      if (names.length === 0) {
        throw new RangeError(`${file}: mu = '${clipForMessage(options.mu)}' is not a dataset, and no signals are named for an expression (${describeDatasets(root, h5)})`);
      }
      const columns: Float64Array[] = [];
      shape = [];
      for (const [i, name] of names.entries()) {
        const d = numericDataset(root, h5, signals[name]!, `signals.${name}`, file);
        if (i > 0 && d.shape.join('×') !== shape.join('×')) {
          throw new RangeError(`${file}: signals.${name} has shape [${d.shape.join('×')}] but signals.${names[0]} has [${shape.join('×')}]`);
        }
        shape = d.shape;
        columns.push(d.values);
      }
      flat = evaluateMuExpression(options.mu, columns, names, `${file}: mu`);
    }
    return packSpectra(energy, flat, shape, options, file);
  });
}

/** μ values of a dataset of `shape` as [spectra][energy], transposing an energy-first layout. */
function packSpectra(energy: Float64Array, flat: Float64Array, shape: number[], options: ReadHdf5Options, file: string): Hdf5Spectra {
  const nE = energy.length;
  const shown = `[${shape.join('×')}]`;
  if (shape.length === 0 || shape.length > 3) throw new RangeError(`${file}: mu has shape ${shown}; it must be 1-D (one spectrum), 2-D (a series) or 3-D (a map)`);
  if (shape.length === 1) {
    if (shape[0] !== nE) throw new RangeError(`${file}: mu has ${shape[0]} points but energy has ${nE}`);
    return { energy, mu: flat, count: 1, shape: [], energyAxis: 'last' };
  }
  const lastFits = shape[shape.length - 1] === nE;
  const firstFits = shape[0] === nE;
  const axis = options.energyAxis ?? (lastFits ? 'last' : firstFits ? 'first' : undefined);
  if (axis === undefined || (axis === 'last' && !lastFits) || (axis === 'first' && !firstFits)) {
    throw new RangeError(`${file}: mu has shape ${shown}, and ${axis === undefined ? 'neither its first nor its last axis' : `its ${axis} axis`} has the energy grid's ${nE} points`);
  }
  const spectraShape = axis === 'last' ? shape.slice(0, -1) : shape.slice(1);
  const count = spectraShape.reduce((a, b) => a * b, 1);
  if (axis === 'last') return { energy, mu: flat, count, shape: spectraShape, energyAxis: 'last' };
  // [energy][pixels] → [pixels][energy], in blocks of rows so that reads stay cache-friendly.
  const mu = new Float64Array(flat.length);
  const B = 64;
  for (let e0 = 0; e0 < nE; e0 += B) {
    const e1 = Math.min(nE, e0 + B);
    for (let p = 0; p < count; p++) for (let e = e0; e < e1; e++) mu[p * nE + e] = flat[e * count + p]!;
  }
  return { energy, mu, count, shape: spectraShape, energyAxis: 'first' };
}
