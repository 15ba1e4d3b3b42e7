import { describe, expect, it } from 'vitest';
import { chooseMu, errorLine, parseNumberOption, UsageError } from '../../src/cli/args.js';

describe('parseNumberOption: one rule for every numeric option of the CLI', () => {
  it('takes plain decimal and scientific numbers', () => {
    for (const [s, x] of [['2', 2], ['-1.5', -1.5], ['.5', 0.5], ['3.', 3], ['1e3', 1000], ['+2E-2', 0.02], [' 4 ', 4]] as const) {
      expect(parseNumberOption('--x', s)).toBe(x);
    }
  });

  it("refuses '', hex, binary, Infinity, NaN, separators and trailing junk, naming the option and the value", () => {
    for (const s of ['', ' ', '0x10', '0b1', '0o7', 'Infinity', '-Infinity', 'NaN', '1_000', '2x', '1e', 'e3', '.', '--1', '1e400']) {
      expect(() => parseNumberOption('--kweight', s), s).toThrow(UsageError);
      expect(() => parseNumberOption('--kweight', s), s).toThrow(`--kweight = '${s}' is not a number`);
    }
  });

  it('checks ranges: open and closed bounds, integers, powers of two', () => {
    expect(() => parseNumberOption('--a', '0', { min: 0, minOpen: true })).toThrow("--a = '0' is outside the allowed range: a number > 0");
    expect(parseNumberOption('--a', '0', { min: 0 })).toBe(0);
    expect(() => parseNumberOption('--b', '30', { min: 1, max: 30, maxOpen: true })).toThrow('a number in [1, 30)');
    expect(() => parseNumberOption('--n', '2.5', { integer: true })).toThrow('an integer');
    expect(() => parseNumberOption('--nfft', '1000', { min: 256, max: 65536, powerOfTwo: true })).toThrow('a power of two in [256, 65536]');
    expect(parseNumberOption('--nfft', '4096', { min: 256, max: 65536, powerOfTwo: true })).toBe(4096);
  });
});

describe('errorLine', () => {
  it('is one line of at most 400 characters and a few more for the length', () => {
    const line = errorLine(new Error(`first\nsecond\r\n${'x'.repeat(1_000_000)}`));
    expect(line).not.toMatch(/[\r\n]/);
    expect(line.startsWith('first second ')).toBe(true);
    expect(line.length).toBeLessThan(430);
    expect(errorLine('plain')).toBe('plain');
  });
});

describe('chooseMu: μ of a file without --mu, by a documented rule, never silently', () => {
  const col = (...v: number[]) => Float64Array.from(v);
  it('takes the only column besides the energy, or the only one labelled as μ (and says so)', () => {
    expect(chooseMu('a.dat', ['e', 'x'], [col(1, 2), col(3, 4)], 1, undefined)).toEqual({ mu: 2, note: null });
    for (const label of ['mu', 'xmu', 'mutrans', 'mu_fluor', 'xmu(trans)', 'muf']) {
      const c = chooseMu('a.dat', ['energy', 'i0', label], [col(1, 2), col(5, 6), col(3, 4)], 1, undefined);
      expect(c.mu, label).toBe(3);
      expect(c.note).toBe(`a.dat: mu is column 3 '${label}', the only column labelled as μ (give --mu to choose another)`);
    }
    expect(chooseMu('a.dat', ['e', 'a', 'b'], [], 1, ' 3 ')).toEqual({ mu: 3, note: null });
    expect(chooseMu('a.dat', ['e', 'a', 'b'], [], 1, 'ln(a/b)')).toEqual({ mu: 'ln(a/b)', note: null });
  });

  it('otherwise a UsageError suggesting expressions from the labels', () => {
    const cols = [col(1, 2), col(5, 6), col(3, 3), col(7, 8)];
    expect(() => chooseMu('b.dat', ['energy', 'i0', 'time', 'it'], cols, 1, undefined)).toThrow(UsageError);
    expect(() => chooseMu('b.dat', ['energy', 'i0', 'time', 'it'], cols, 1, undefined)).toThrow(
      "b.dat: which column is μ? No column is labelled as μ: give --mu, e.g. --mu 'ln(i0/it)' (transmission). Columns besides the energy (column 1): 2 i0 (5.0000…6.0000); 3 time (constant 3); 4 it (7.0000…8.0000)",
    );
    expect(() => chooseMu('c.dat', ['energy', 'mutrans', 'mufluor'], cols.slice(0, 3), 1, undefined)).toThrow(/Several columns are labelled as μ: give --mu, e\.g\. --mu mutrans or --mu mufluor\./);
  });
});
