import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { readSpectrum } from '../../src/xafs/index.js';
import { MU_EXPRESSION_MAX_DEPTH, MU_EXPRESSION_MAX_LENGTH, MuExpressionError, parseDecimal } from '../../src/xafs/readSpectrum.js';
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

/** Runs `f` and returns its error (or undefined) and how long it took. */
function timed(f: () => unknown): { error: Error | undefined; ms: number } {
  const t0 = performance.now();
  try {
    f();
    return { error: undefined, ms: performance.now() - t0 };
  } catch (e) {
    return { error: e as Error, ms: performance.now() - t0 };
  }
}

test('issue 13 (8): long runs of spaces in comments, data and expressions parse in linear time', () => {
  const spaces = ' '.repeat(200_000);
  // The case of the issue (14 s before): a comment line of 200 000 spaces between two words.
  const comment = timed(() => readSpectrum(`# a${spaces}b\n# energy${spaces}mu\n1 2\n3 4\n`));
  expect(comment.error).toBeUndefined();
  expect(comment.ms).toBeLessThan(1000);
  for (const text of [`#${spaces}:${spaces}=\n1 2\n`, `;;${spaces};\n1,${spaces},2\n`, `1${spaces}2\n3${'\t'.repeat(200_000)}4\n`, `${'1'.repeat(200_000)}x\n1 2\n3 y\n`]) {
    const r = timed(() => readSpectrum(text));
    expect(r.ms).toBeLessThan(1000);
    if (r.error !== undefined) expect(r.error.message.length).toBeLessThan(300);
  }
  const expr = timed(() => readSpectrum('1 2\n3 4\n', { mu: `c2${' '.repeat(1900)}$` }));
  expect(expr.error).toBeInstanceOf(MuExpressionError);
  expect(expr.ms).toBeLessThan(1000);
});

test('issue 13 (deliverable 4): expression depth is bounded, with a named error', () => {
  // The issue's case, 5 000 parentheses deep (a stack overflow before), is also over the length limit.
  const issue = timed(() => readSpectrum('1 2\n3 4\n', { mu: `${'('.repeat(5000)}c2${')'.repeat(5000)}` }));
  expect(issue.error).toBeInstanceOf(MuExpressionError);
  expect(issue.ms).toBeLessThan(1000);
  const deep = timed(() => readSpectrum('1 2\n3 4\n', { mu: `${'('.repeat(900)}c2${')'.repeat(900)}` }));
  expect(deep.error).toBeInstanceOf(MuExpressionError);
  expect(deep.error!.name).toBe('MuExpressionError');
  expect(deep.error!.message).toMatch(/nests deeper than 64 levels/);
  expect(deep.ms).toBeLessThan(1000);
  expect(() => readSpectrum('1 2\n3 4\n', { mu: `${'-'.repeat(100)}c2` })).toThrow(MuExpressionError);
  // At the limit it still evaluates; a long flat chain is not deep (evaluated as postfix, in a loop).
  const ok = `${'ln('.repeat(MU_EXPRESSION_MAX_DEPTH - 1)}(c2)${')'.repeat(MU_EXPRESSION_MAX_DEPTH - 1)}`;
  expect(Number.isNaN(readSpectrum('1 2\n3 4\n', { mu: ok }).mu[0])).toBe(true);
  expect(Array.from(readSpectrum('1 2\n3 4\n', { mu: Array(600).fill('c2').join('+') }).mu)).toEqual([1200, 2400]);
  expect(() => readSpectrum('1 2\n3 4\n', { mu: Array(100_000).fill('c2').join('+') })).toThrow(/longer than 2000 characters/);
  expect(MU_EXPRESSION_MAX_LENGTH).toBe(2000);
  // Division by zero and logs of negative values are per-row values, not errors.
  expect(Array.from(readSpectrum('1 0\n3 -4\n', { mu: '1/c2' }).mu)).toEqual([Infinity, -0.25]);
  expect(Array.from(readSpectrum('1 0\n3 -4\n', { mu: 'ln(c2)' }).mu)).toEqual([-Infinity, NaN]);
});

test('issue 13 (deliverable 4): error messages cut long tokens to 60 characters with their length', () => {
  const token = 'x'.repeat(1_000_000);
  for (const [text, mu] of [[`1 2\n3 ${token}\n`, 2], ['1 2\n3 4\n', token], ['1 2\n3 4\n', `c2 + ${token}`], ['1 2\n3 4\n', `sum(c1:${token})`]] as const) {
    const r = timed(() => readSpectrum(text, { mu, fileName: 'f'.repeat(10_000) }));
    expect(r.error).toBeDefined();
    expect(r.error!.message.length).toBeLessThan(400);
    expect(r.error!.message).toMatch(/x+… \(\d+ characters\)/);
  }
});

test('data values are plain decimal numbers, nan or inf: hex, empty fields and junk are not numbers', () => {
  expect(() => readSpectrum('1 2\n3 0x10\n')).toThrow(/line 2, column 2: '0x10' is not a number/);
  expect(() => readSpectrum('1 2\n3 4e\n')).toThrow(/'4e' is not a number/);
  expect(() => readSpectrum('1 2\n3 1_0\n')).toThrow(/'1_0' is not a number/);
  const s = readSpectrum('title line\n1,2,\n,3 4\n5 NaN\n6 -inf\n.5 7.\n+1e3 -2E-2\n');
  expect(Array.from(s.energy)).toEqual([1, 3, 5, 6, 0.5, 1000]);
  expect(Array.from(s.mu)).toEqual([2, 4, NaN, -Infinity, 7, -0.02]);
  // A lone CR ends a line as CR LF and LF do.
  expect(Array.from(readSpectrum('1 2\r3 4\r\n5 6\n').energy)).toEqual([1, 3, 5]);
  expect(parseDecimal('')).toBeUndefined();
  expect(parseDecimal('Infinity')).toBeUndefined();
  expect(parseDecimal('-1.5e-3')).toBe(-0.0015);
});

test('XDI labels are used only when every column has one', () => {
  const s = readSpectrum('# Column.1: energy eV\n# Column.3: i0\n# e m i\n1 2 3\n');
  expect(s.labels).toEqual(['e', 'm', 'i']);
  const big = readSpectrum('# Column.99999999999: energy\n# label\n1 2\n');
  expect(big.labels).toEqual(['c1', 'c2']);
});
