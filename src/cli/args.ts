/**
 * What every batchfit command shares: one rule for numeric option values, the check that a path
 * names a regular file, and how an error becomes one line on stderr with exit status 2 (the command
 * line or a file it names cannot be used) or 1 (the work itself failed).
 */
import { readFileSync, statSync } from 'node:fs';
import { clipForMessage, parseDecimal } from '../xafs/readSpectrum.js';

/** A command line that cannot be used: exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface NumberRange {
  min?: number;
  max?: number;
  /** The lower bound itself is outside the range (min < v rather than min ≤ v). */
  minOpen?: boolean;
  /** The upper bound itself is outside the range. */
  maxOpen?: boolean;
  integer?: boolean;
  /** An integer power of two (FFT sizes). */
  powerOfTwo?: boolean;
}

/** The range of a numeric option, for its error message: "a number in (0, 10]". */
function describeRange(r: NumberRange): string {
  const kind = r.powerOfTwo ? 'a power of two' : r.integer ? 'an integer' : 'a number';
  if (r.min === undefined && r.max === undefined) return kind;
  if (r.max === undefined) return `${kind} ${r.minOpen ? '>' : '≥'} ${r.min}`;
  if (r.min === undefined) return `${kind} ${r.maxOpen ? '<' : '≤'} ${r.max}`;
  return `${kind} in ${r.minOpen ? '(' : '['}${r.min}, ${r.max}${r.maxOpen ? ')' : ']'}`;
}

/**
 * The value of a numeric option: a plain decimal or scientific number (no '', hex, Infinity or
 * trailing junk, which Number() would accept as 0, 16, Infinity…) inside `range`; otherwise a
 * UsageError naming the option, the value and the allowed range.
 */
export function parseNumberOption(option: string, value: string, range: NumberRange = {}): number {
  const x = parseDecimal(value.trim());
  const shown = `'${clipForMessage(value)}'`;
  if (x === undefined || !Number.isFinite(x)) throw new UsageError(`${option} = ${shown} is not a number (give ${describeRange(range)})`);
  const below = range.min !== undefined && (range.minOpen ? x <= range.min : x < range.min);
  const above = range.max !== undefined && (range.maxOpen ? x >= range.max : x > range.max);
  const notInteger = (range.integer || range.powerOfTwo) && !Number.isInteger(x);
  const notPower = range.powerOfTwo && !(x > 0 && 2 ** Math.round(Math.log2(x)) === x);
  if (below || above || notInteger || notPower) throw new UsageError(`${option} = ${shown} is outside the allowed range: ${describeRange(range)}`);
  return x;
}

/** What a path names, when it is not a regular file. */
function kindOf(s: import('node:fs').Stats): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a FIFO (named pipe)';
  if (s.isSocket()) return 'a socket';
  if (s.isCharacterDevice() || s.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * Throws a UsageError when `path` exists but is not a regular file: reading a FIFO would block
 * until a writer came (forever), a directory or device gives an error without the path. A path
 * that cannot be stat'ed is left to the read, whose error names it.
 */
export function checkRegularFile(path: string): void {
  let s;
  try {
    s = statSync(path);
  } catch {
    return;
  }
  if (!s.isFile()) throw new UsageError(`${clipForMessage(path, 200)} is ${kindOf(s)}, not a regular file`);
}

/** A regular file's text (UTF-8). */
export function readTextFile(path: string): string {
  checkRegularFile(path);
  return readFileSync(path, 'utf8');
}

/** An error as one line of at most a few hundred characters (a message never carries a 1 MB token). */
export function errorLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return clipForMessage(msg.replace(/[\r\n]+/g, ' '), 400);
}

/** Prints `e` for `command` on stderr, one line; the exit status: 2 for a UsageError, else 1. */
export function reportError(command: string, e: unknown): number {
  const usage = e instanceof UsageError;
  console.error(`${command}: ${errorLine(e)}${usage ? ` (${command} --help)` : ''}`);
  return usage ? 2 : 1;
}
