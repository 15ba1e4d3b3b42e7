import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { readSpectrum } from '../../src/xafs/index.js';
import { fixtureDir } from './fixtures.js';

const read = (f: string): string => readFileSync(join(fixtureDir, f), 'utf8');

test('.xmu: labels from the last comment line, columns by number or label', () => {
  const s = readSpectrum(read('cu_rt01.xmu'));
  expect(s.labels).toEqual(['energy', 'mu', 'i0']);
  expect(s.energy.length).toBe(408);
  expect(s.energy[0]).toBe(8779);
  expect(s.mu[0]).toBe(-1.3070486);
  expect(readSpectrum(read('cu_rt01.xmu'), { mu: 'mu' }).mu).toEqual(s.mu);
  expect(s.header['%cols']).toBe('418 E XMU I0');
});

test('XDI: header fields and Column.N labels', () => {
  const s = readSpectrum(read('cu_romanglass.xdi'), { mu: 'mufluor' });
  expect(s.labels.slice(0, 3)).toEqual(['energy', 'mufluor', 'mutrans']);
  expect(s.header['Column.1']).toBe('energy eV');
  expect(s.header['Beamline.foe_slit_hpos']).toMatch(/^0\.5000/);
  expect(s.mu).toEqual(s.columns[1]);
});

test('Epics .001 (; comments): log(c3/c4) and a 13-channel sum over I0', () => {
  const z = readSpectrum(read('znse_zn_xafs.001'), { mu: 'log(c3/c4)' });
  expect(z.mu[0]).toBeCloseTo(Math.log(101896.7 / 167180.2), 14);
  const s = readSpectrum(read('scorodite_as_xafs.001'), { mu: 'sum(c45:c57)/c4' });
  let want = 0;
  for (let c = 44; c < 57; c++) want += s.columns[c]![0]!;
  expect(s.mu[0]).toBeCloseTo(want / s.columns[3]![0]!, 14);
  expect(readSpectrum(read('scorodite_as_xafs.001'), { mu: 'ln(c4) - ln(c5) + 2*(1-1)' }).mu[5]).toBeCloseTo(
    Math.log(s.columns[3]![5]! / s.columns[4]![5]!),
    12,
  );
});

test('errors name the file, the line and the column', () => {
  expect(() => readSpectrum('1 2 3\n4 5\n', { fileName: 'r.dat' })).toThrow(/r\.dat: line 2 has 2 columns, but the first data row \(line 1\) has 3/);
  expect(() => readSpectrum('1 2\n3 x\n', { fileName: 'b.dat' })).toThrow(/b\.dat: line 2, column 2: 'x' is not a number/);
  expect(() => readSpectrum('1 2\n3 4\n', { fileName: 'u.dat', mu: 'log(c2/c9)' })).toThrow(/u\.dat: unknown column 'c9'/);
  expect(() => readSpectrum('1 2\n3 4\n', { fileName: 'u.dat', mu: 5 })).toThrow(/mu column 5 does not exist/);
  expect(() => readSpectrum('1 2\n3 4\n', { mu: 'log(c2' })).toThrow(/expected '\)'/);
});
