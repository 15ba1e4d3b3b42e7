import { describe, expect, it } from 'vitest';
import { errorLine, parseNumberOption, UsageError } from '../../src/cli/args.js';

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
