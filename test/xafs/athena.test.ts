/**
 * Athena project files: the three real projects of test/fixtures/xafs (gzip Perl style, plain
 * JSON, gzip JSON) are listed and read, and their groups give the same χ(k) as the equivalent
 * column data read by readSpectrum.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync as zlibGunzip } from 'node:zlib';
import { gzipSync, strToU8 } from 'fflate';
import { describe, expect, it } from 'vitest';
import { autobk, listAthenaGroups, readAthena, readSpectrum } from '../../src/xafs/index.js';
import { fixtureDir } from './fixtures.js';

const bytes = (name: string): Uint8Array => new Uint8Array(readFileSync(join(fixtureDir, name)));

/** Column text with one row per point; numbers as the shortest strings that round-trip. */
function columnText(labels: string[], columns: ArrayLike<number>[]): string {
  const rows = [`# ${labels.join(' ')}`];
  for (let i = 0; i < columns[0]!.length; i++) rows.push(columns.map((c) => String(c[i])).join(' '));
  return rows.join('\n');
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

describe('listAthenaGroups', () => {
  it('lists the groups of each style in the project order', () => {
    expect(listAthenaGroups(bytes('Copper.prj'))).toEqual([{ name: 'xsypw', label: 'cu.012', recordType: 'mu(E)', points: 612 }]);
    expect(listAthenaGroups(bytes('json_unzipped.prj')).map((g) => [g.name, g.label])).toEqual([
      ['qsekm', 'FeXANES_DebbysSample.001'],
      ['qmdqc', 'FeXANES_DebbysSample.002'],
      ['pnmsn', 'FeXANES_DebbysSample.003'],
      ['gwrcc', 'merge'],
    ]);
    const fe = listAthenaGroups(bytes('FeFoil_QXAFS_Compare.prj'));
    expect(fe.map((g) => g.label)).toEqual([
      'Fe_foil_500msec_stepscan.001',
      'Fe_foil_250msec_qxafs.001',
      'Fe_foil_250msec_qxafs.002',
      'Fe_foil_500msec_qxafs_PinDiode.001',
    ]);
    expect(fe.map((g) => g.points)).toEqual([504, 494, 494, 406]);
  });
});

describe('readAthena', () => {
  it('reads the Perl Data::Dumper style (gzip): arrays, labels and Athena parameters', () => {
    const p = readAthena(bytes('Copper.prj'), { fileName: 'Copper.prj' });
    expect(p.style).toBe('perl');
    expect(p.header[0]).toBe('Athena project file -- Demeter version 0.9.20');
    const g = p.groups[0]!;
    expect(Object.keys(g.arrays).sort()).toEqual(['i0', 'signal', 'x', 'y']);
    expect(g.energy[0]).toBe(8786.204);
    expect(g.energy[611]).toBe(11362.47);
    expect(g.mu[0]).toBe(1.01366092986917);
    expect(g.args.bkg_rbkg).toBe('1.0');
    expect(g.args.bkg_kw).toBe(2);
    expect(g.args.bkg_e0).toBe('8977.5799999999999');
    expect(g.args.titles).toEqual([]);
    // The same project, not compressed, reads the same.
    const plain = readAthena(zlibGunzip(readFileSync(join(fixtureDir, 'Copper.prj'))).toString('utf8'));
    expect(plain.groups[0]!.mu).toEqual(g.mu);
  });

  it('reads the JSON style, plain and gzip, one group, several or all, by id or label', () => {
    const all = readAthena(bytes('json_unzipped.prj'));
    expect(all.style).toBe('json');
    expect(all.groups.map((g) => g.name)).toEqual(['qsekm', 'qmdqc', 'pnmsn', 'gwrcc']);
    expect(all.groups[0]!.energy.slice(0, 3)).toEqual(new Float64Array([7011.996606, 7016.987217, 7021.991613]));
    expect(all.groups[0]!.mu[0]).toBe(0.000240434454);
    const two = readAthena(bytes('json_unzipped.prj'), { groups: ['merge', 'qmdqc'] });
    expect(two.groups.map((g) => g.name)).toEqual(['gwrcc', 'qmdqc']);
    expect(two.groups[1]!.mu).toEqual(all.groups[1]!.mu);
    const gz = readAthena(gzipSync(strToU8(readFileSync(join(fixtureDir, 'json_unzipped.prj'), 'utf8'))), { groups: 'pnmsn' });
    expect(gz.groups[0]!.mu).toEqual(all.groups[2]!.mu);
    const fe = readAthena(bytes('FeFoil_QXAFS_Compare.prj'), { groups: 'Fe_foil_500msec_qxafs_PinDiode.001' }).groups[0]!;
    expect(fe.name).toBe('flygf');
    expect(Number.isNaN(fe.arrays.stddev![0]!)).toBe(true); // a JSON null
  });

  it('names the groups when one asked for does not exist, and rejects what is not a project', () => {
    expect(() => readAthena(bytes('Copper.prj'), { groups: 'nope', fileName: 'Copper.prj' })).toThrow(/Copper\.prj: no group 'nope'; the project has 1: xsypw \(cu\.012\)/);
    expect(() => readAthena('1.0 2.0\n3.0 4.0\n')).toThrow(/not an Athena project file/);
    expect(() => readAthena('{"a": 1}')).toThrow(/holds no groups/);
    expect(() => readAthena("$old_group = 'abc';\n@x = ('1','2');\n@y = ('3','zz');\n[record]\n")).toThrow(/group 'abc' array y\[1\] = 'zz' is not a number/);
    expect(() => readAthena("$old_group = 'abc';\n@x = ('1','2'")).toThrow(/line 2: .*Perl-style/);
    expect(() => readAthena(new Uint8Array([0x1f, 0x8b, 1, 2, 3]))).toThrow(/gzip data cannot be decompressed/);
  });
});

describe('Athena groups give the same χ(k) as the equivalent column data', () => {
  it('Copper.prj (Perl style): μ = ln(i0/signal) from a column file, as Athena computed y', () => {
    const g = readAthena(bytes('Copper.prj')).groups[0]!;
    const text = columnText(['energy', 'i0', 'signal'], [g.energy, g.arrays.i0!, g.arrays.signal!]);
    const s = readSpectrum(text, { mu: 'ln(i0/signal)' });
    expect(maxAbsDiff(s.mu, g.mu)).toBeLessThan(1e-13);
    const fromPrj = autobk(g.energy, g.mu, { rbkg: 1, kweight: 2 });
    const fromColumns = autobk(s.energy, s.mu, { rbkg: 1, kweight: 2 });
    // y is stored with 15 significant digits: χ agrees to that rounding, amplified by the fit.
    expect(maxAbsDiff(fromPrj.chi, fromColumns.chi)).toBeLessThan(1e-9 * maxAbs(fromColumns.chi));
    // Athena's own E0 for this group (bkg_e0) is Larch's find_e0 on the same data.
    expect(Math.abs(fromPrj.e0 - Number(g.args.bkg_e0))).toBeLessThan(0.5);
  });

  it('FeFoil_QXAFS_Compare.prj (gzip JSON, quick-EXAFS): every group against its x, y as a column file', () => {
    const p = readAthena(bytes('FeFoil_QXAFS_Compare.prj'));
    expect(p.groups).toHaveLength(4);
    for (const g of p.groups) {
      const s = readSpectrum(columnText(['energy', 'mu'], [g.energy, g.mu]));
      const a = autobk(g.energy, g.mu);
      const b = autobk(s.energy, s.mu);
      expect(a.chi.length).toBeGreaterThan(100);
      expect(maxAbsDiff(a.chi, b.chi)).toBe(0);
      expect(Math.abs(a.e0 - Number(g.args.bkg_e0))).toBeLessThan(2); // Fe K edge, Athena's e0
    }
    // The PinDiode group's y was made by Athena as ln(i0/i2), stored as i0 and signal.
    const pin = p.groups[3]!;
    const s = readSpectrum(columnText(['energy', 'i0', 'signal'], [pin.energy, pin.arrays.i0!, pin.arrays.signal!]), { mu: 'ln(c2/c3)' });
    expect(maxAbsDiff(autobk(s.energy, s.mu).chi, autobk(pin.energy, pin.mu).chi)).toBeLessThan(1e-9);
  });

  it('json_unzipped.prj (plain JSON, XANES): every group against its x, y as a column file', () => {
    for (const g of readAthena(bytes('json_unzipped.prj')).groups) {
      const s = readSpectrum(columnText(['energy', 'mu'], [g.energy, g.mu]));
      expect(maxAbsDiff(autobk(g.energy, g.mu).chi, autobk(s.energy, s.mu).chi)).toBe(0);
    }
  });
});
