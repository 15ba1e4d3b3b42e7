/**
 * HDF5 input: files written here with h5wasm from the fixture spectra (1-D, I0/It signals, a 2-D
 * series in both axis orders, a 3-D map in both axis orders, float32) read back through readHdf5
 * give the same χ(k) as the equivalent column files read by readSpectrum.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as h5wasm from 'h5wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { autobk, listHdf5Datasets, readHdf5, readSpectrum, type Spectrum } from '../../src/xafs/index.js';
import { fixtureDir } from './fixtures.js';

type Data = Float64Array | Float32Array;
interface Entry {
  path: string;
  data: Data;
  shape: number[];
}

let written = 0;
/** An HDF5 file holding `entries` (groups made as needed), as bytes. */
function writeHdf5(entries: Entry[]): Uint8Array {
  const FS = h5wasm.FS!;
  const name = `/test-write-${++written}.h5`;
  const f = new h5wasm.File(name, 'w');
  for (const e of entries) {
    const parts = e.path.split('/').filter((p) => p !== '');
    let g: h5wasm.Group = f;
    for (const p of parts.slice(0, -1)) g = (g.get(p) as h5wasm.Group | null) ?? g.create_group(p);
    g.create_dataset({ name: parts[parts.length - 1]!, data: e.data, shape: e.shape });
  }
  f.close();
  const bytes = FS.readFile(name) as Uint8Array;
  FS.unlink(name);
  return bytes.slice();
}

const read = (name: string, mu?: string): Spectrum => readSpectrum(readFileSync(join(fixtureDir, name), 'utf8'), { fileName: name, ...(mu === undefined ? {} : { mu }) });

/** A column file of one spectrum, read back: the "equivalent column file" of an HDF5 row. */
function columnFile(energy: ArrayLike<number>, mu: ArrayLike<number>): Spectrum {
  const rows = ['# energy mu'];
  for (let i = 0; i < energy.length; i++) rows.push(`${energy[i]} ${mu[i]}`);
  return readSpectrum(rows.join('\n'));
}

/** Spectrum j of a series made from one measured spectrum: scaled and offset so that each differs. */
const variant = (mu: Float64Array, j: number): Float64Array => mu.map((v) => v * (1 + 0.25 * j) + 0.05 * j);

function expectSameChi(energy: ArrayLike<number>, mu: ArrayLike<number>, reference: Spectrum): void {
  const a = autobk(energy, mu, { rbkg: 1, kweight: 2 });
  const b = autobk(reference.energy, reference.mu, { rbkg: 1, kweight: 2 });
  expect(a.e0).toBe(b.e0);
  expect(a.chi).toEqual(b.chi);
}

beforeAll(async () => {
  await h5wasm.ready;
});

describe('readHdf5', () => {
  const cu = read('cu_rt01.xmu');
  const nE = cu.energy.length;

  it('a 1-D μ dataset is one spectrum with the χ of the column file', async () => {
    const bytes = writeHdf5([
      { path: '/entry/data/energy', data: cu.energy, shape: [nE] },
      { path: '/entry/data/mu', data: cu.mu, shape: [nE] },
    ]);
    const r = await readHdf5(bytes, { energy: '/entry/data/energy', mu: '/entry/data/mu' });
    expect(r.count).toBe(1);
    expect(r.shape).toEqual([]);
    expect(r.energy).toEqual(cu.energy);
    expectSameChi(r.energy, r.mu, cu);
    expect(await listHdf5Datasets(bytes)).toEqual([
      { path: '/entry/data/energy', shape: [nE], dtype: '<d' },
      { path: '/entry/data/mu', shape: [nE], dtype: '<d' },
    ]);
  });

  it('μ as an expression over I0/It datasets means what --mu means for a column file', async () => {
    const zn = read('znse_zn_xafs.001', 'log(c3/c4)');
    const n = zn.energy.length;
    const bytes = writeHdf5([
      { path: 'scan/energy', data: zn.energy, shape: [n] },
      { path: 'scan/I0', data: zn.columns[2]!, shape: [n] },
      { path: 'scan/It', data: zn.columns[3]!, shape: [n] },
    ]);
    const r = await readHdf5(bytes, { energy: 'scan/energy', mu: 'ln(i0/it)', signals: { i0: 'scan/I0', it: '/scan/It' } });
    expect(r.mu).toEqual(zn.mu);
    expectSameChi(r.energy, r.mu, zn);
  });

  it('a 2-D dataset is a series, [spectra][energy] or [energy][spectra]', async () => {
    const rows = [0, 1, 2].map((j) => variant(cu.mu, j));
    const spectrumMajor = new Float64Array(3 * nE);
    const energyMajor = new Float64Array(3 * nE);
    rows.forEach((row, j) => row.forEach((v, e) => {
      spectrumMajor[j * nE + e] = v;
      energyMajor[e * 3 + j] = v;
    }));
    const bytes = writeHdf5([
      { path: '/qexafs/energy', data: cu.energy, shape: [nE] },
      { path: '/qexafs/mu', data: spectrumMajor, shape: [3, nE] },
      { path: '/qexafs/mu_t', data: energyMajor, shape: [nE, 3] },
    ]);
    const a = await readHdf5(bytes, { energy: '/qexafs/energy', mu: '/qexafs/mu' });
    const b = await readHdf5(bytes, { energy: '/qexafs/energy', mu: '/qexafs/mu_t' });
    expect([a.count, a.shape, a.energyAxis]).toEqual([3, [3], 'last']);
    expect([b.count, b.shape, b.energyAxis]).toEqual([3, [3], 'first']);
    expect(b.mu).toEqual(a.mu);
    for (let j = 0; j < 3; j++) expectSameChi(a.energy, a.mu.subarray(j * nE, (j + 1) * nE), columnFile(cu.energy, rows[j]!));
  });

  it('a 3-D dataset is a map: spectra in pixel order, the map shape kept', async () => {
    const ny = 2;
    const nx = 3;
    const last = new Float64Array(ny * nx * nE);
    const first = new Float64Array(ny * nx * nE);
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const row = variant(cu.mu, y * nx + x);
        row.forEach((v, e) => {
          last[(y * nx + x) * nE + e] = v;
          first[e * ny * nx + y * nx + x] = v;
        });
      }
    }
    const bytes = writeHdf5([
      { path: '/map/energy', data: cu.energy, shape: [nE] },
      { path: '/map/mu_yxe', data: last, shape: [ny, nx, nE] },
      { path: '/map/mu_eyx', data: first, shape: [nE, ny, nx] },
    ]);
    const a = await readHdf5(bytes, { energy: '/map/energy', mu: '/map/mu_yxe' });
    const b = await readHdf5(bytes, { energy: '/map/energy', mu: '/map/mu_eyx' });
    expect([a.count, a.shape]).toEqual([6, [2, 3]]);
    expect([b.count, b.shape, b.energyAxis]).toEqual([6, [2, 3], 'first']);
    expect(b.mu).toEqual(a.mu);
    // Pixel (y = 1, x = 2) is spectrum 5.
    expectSameChi(a.energy, a.mu.subarray(5 * nE, 6 * nE), columnFile(cu.energy, variant(cu.mu, 5)));
    expectSameChi(a.energy, a.mu.subarray(0, nE), cu);
  });

  it('float32 datasets are widened exactly', async () => {
    const mu32 = Float32Array.from(cu.mu);
    const bytes = writeHdf5([
      { path: 'e', data: cu.energy, shape: [nE] },
      { path: 'mu', data: mu32, shape: [nE] },
    ]);
    const r = await readHdf5(bytes, { energy: 'e', mu: 'mu' });
    expect(r.mu).toEqual(Float64Array.from(mu32));
    expectSameChi(r.energy, r.mu, columnFile(cu.energy, mu32));
  });

  it('errors name the file, the option and the datasets there are', async () => {
    const bytes = writeHdf5([
      { path: '/entry/energy', data: cu.energy, shape: [nE] },
      { path: '/entry/mu', data: cu.mu, shape: [nE] },
      { path: '/entry/short', data: cu.mu.subarray(0, 10), shape: [10] },
      { path: '/entry/grid2d', data: new Float64Array(20), shape: [4, 5] },
    ]);
    const opts = { fileName: 'scan.h5', energy: '/entry/energy' };
    await expect(readHdf5(bytes, { ...opts, mu: '/entry/nope' })).rejects.toThrow(
      /scan\.h5: mu = '\/entry\/nope' is not a dataset, and no signals are named .*\/entry\/energy \[408\], \/entry\/grid2d \[4×5\], \/entry\/mu \[408\]/,
    );
    await expect(readHdf5(bytes, { ...opts, mu: '' })).rejects.toThrow(/scan\.h5: mu must be a dataset path or an expression over signals \(μ is never guessed; datasets: \/entry\/energy/);
    await expect(readHdf5(bytes, { ...opts, mu: '/entry/short' })).rejects.toThrow(/mu has 10 points but energy has 408/);
    // A signal that is not a path is named at once, not reported later as missing from the file.
    await expect(readHdf5(bytes, { ...opts, mu: 'ln(i0)', signals: { i0: 5 as unknown as string } })).rejects.toThrow(/scan\.h5: signals\.i0 must be a dataset path, got 5/);
    await expect(readHdf5(bytes, { ...opts, mu: '/entry/grid2d' })).rejects.toThrow(/mu has shape \[4×5\], and neither its first nor its last axis has the energy grid's 408 points/);
    await expect(readHdf5(bytes, { fileName: 'scan.h5', energy: '/entry/grid2d', mu: '/entry/mu' })).rejects.toThrow(/energy = '\/entry\/grid2d' has shape \[4×5\]; it must be 1-D/);
    await expect(readHdf5(bytes, { ...opts, mu: 'ln(a/b)', signals: { a: '/entry/mu', b: '/entry/missing' } })).rejects.toThrow(/signals\.b = '\/entry\/missing' is not in the file/);
    await expect(readHdf5(bytes, { ...opts, mu: 'ln(a/q)', signals: { a: '/entry/mu' } })).rejects.toThrow(/scan\.h5: mu: unknown name 'q' \(known: a\)/);
    await expect(readHdf5(new TextEncoder().encode('1 2\n3 4\n'), { ...opts, mu: 'x' })).rejects.toThrow(/scan\.h5: not an HDF5 file/);
  });
});
