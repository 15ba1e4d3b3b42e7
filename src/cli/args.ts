/**
 * What every batchfit command shares: one rule for numeric option values, the check that a path
 * names a regular file, and how an error becomes one line on stderr with exit status 2 (the command
 * line or a file it names cannot be used) or 1 (the work itself failed).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { type Command, CommanderError } from 'commander';
import { clipForMessage, parseDecimal, readSpectrum, type Spectrum } from '../xafs/readSpectrum.js';

/** A command line that cannot be used: exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The allowed values of a numeric option. */
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

/**
 * Parses `argv` (the words after the command's name) with `cmd`. Commander's own printing is
 * switched off so that every usage error leaves as one line through reportError. Returns null
 * when the arguments were parsed, or the help text when -h/--help was asked for (the caller
 * prints it, exit 0); throws a UsageError for an unknown option, a missing value or argument,
 * or extra arguments.
 */
export function parseCommandOrHelp(cmd: Command, argv: string[]): string | null {
  let help = '';
  cmd
    .exitOverride()
    .configureOutput({ writeOut: (s) => void (help += s), writeErr: () => undefined, outputError: () => undefined })
    .helpOption('-h, --help', 'show this help');
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') return help;
      throw new UsageError(clipForMessage(e.message.replace(/^error: /, ''), 300));
    }
    throw e;
  }
  return null;
}

/** parseCommandOrHelp, printing the help on stdout: false when help was shown (exit 0), true when parsed. */
export function parseCommand(cmd: Command, argv: string[]): boolean {
  const help = parseCommandOrHelp(cmd, argv);
  if (help !== null) process.stdout.write(help);
  return help === null;
}

/** A path a command cannot do without: a UsageError when it does not exist or is not a regular file. */
export function checkInputFile(path: string): void {
  if (!existsSync(path)) throw new UsageError(`${clipForMessage(path, 200)} does not exist`);
  checkRegularFile(path);
}

/** A commander parser for a numeric option: parseNumberOption's rule and message. */
export function numberArg(option: string, range: NumberRange = {}): (value: string) => number {
  return (value) => parseNumberOption(option, value, range);
}

/** A commander parser for an option taking one of `words`. */
export function choiceArg<T extends string>(option: string, words: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(words as readonly string[]).includes(value)) throw new UsageError(`${option} = '${clipForMessage(value)}' must be one of ${words.join(', ')}`);
    return value as T;
  };
}

/** The exit codes, for the end of every --help. */
export const EXIT_CODES = `
Exit status:
  0  done, every item fitted or measured
  1  some items failed (each named with its error on stdout/stderr); the others were written
  2  usage or input error: an unknown option, a value outside its range, a path that is not a
     regular file, a file whose μ column is ambiguous, an output that exists (give --force)
Numbers are plain decimals (2, 0.5, 1e-3): no hex, no Infinity.`;

/**
 * Refuses to write over existing files unless `force`: a UsageError naming the first one found,
 * checked before any work so that a long run never ends in a refusal.
 */
export function checkOutputs(paths: readonly string[], force: boolean): void {
  if (force) return;
  const there = paths.filter((p) => existsSync(p));
  if (there.length > 0) {
    const more = there.length > 1 ? ` and ${there.length - 1} more` : '';
    throw new UsageError(`${clipForMessage(there[0]!, 200)}${more} exists: give --force to overwrite, or another --out`);
  }
}

/** Column labels that name μ itself (Larch/Athena column files: mu, xmu, mutrans, mufluor, xmu(trans)). */
const MU_LABEL = /^x?mu(_?(t|trans|f|fluor))?$|^x?mu\((trans|fluor)\)$/;
const I0_LABEL = /^(i0|io|imon|mon|monitor|i_0)$/;
const IT_LABEL = /^(it|i1|itrans|i_t|itr)$/;
const IF_LABEL = /^(if|iff|ifluor|i_f|fluor|ifl)$/;

/** How μ was chosen for a file, and what the user should be told about it. */
export interface MuChoice {
  /** The --mu value to read the file with. */
  mu: number | string;
  /** A line saying what was picked and why, or null when the user gave --mu. */
  note: string | null;
}

/**
 * μ of a column file when --mu is not given, by a documented rule that never guesses silently:
 * a file with one column besides the energy takes it; otherwise exactly one column labelled as μ
 * (mu, xmu, mutrans, mufluor, xmu(trans)) is taken and said so; anything else is a UsageError
 * listing the columns with a first and last value each (a constant count-time column shows as
 * such) and suggesting transmission and fluorescence expressions from the labels.
 */
export function chooseMu(file: string, labels: readonly string[], columns: readonly Float64Array[], energyCol: number, mu: string | undefined): MuChoice {
  if (mu !== undefined) return { mu: columnArg(mu), note: null };
  const others = labels.map((_, i) => i + 1).filter((c) => c !== energyCol);
  if (others.length === 1) return { mu: others[0]!, note: null };
  const named = others.filter((c) => MU_LABEL.test(labels[c - 1]!));
  if (named.length === 1) {
    const c = named[0]!;
    return { mu: c, note: `${file}: mu is column ${c} '${labels[c - 1]}', the only column labelled as μ (give --mu to choose another)` };
  }
  const describe = (c: number): string => {
    const v = columns[c - 1]!;
    const first = v[0]!;
    let constant = true;
    for (let i = 1; i < v.length && constant; i++) constant = v[i] === first;
    return `${c} ${clipForMessage(labels[c - 1]!, 20)} (${constant ? `constant ${first}` : `${first.toPrecision(5)}…${v[v.length - 1]!.toPrecision(5)}`})`;
  };
  const find = (re: RegExp) => others.find((c) => re.test(labels[c - 1]!));
  const varying = others.filter((c) => columns[c - 1]!.some((x) => x !== columns[c - 1]![0]));
  const ref = (c: number) => (/^[a-z_][a-z0-9_]*$/.test(labels[c - 1]!) ? labels[c - 1]! : `c${c}`);
  const hints: string[] = named.length > 1 ? named.map((c) => `--mu ${ref(c)}`) : [];
  const i0 = find(I0_LABEL);
  const it = find(IT_LABEL);
  const iff = find(IF_LABEL);
  if (i0 !== undefined && it !== undefined) hints.push(`--mu 'ln(${ref(i0)}/${ref(it)})' (transmission)`);
  if (i0 !== undefined && iff !== undefined) hints.push(`--mu '${ref(iff)}/${ref(i0)}' (fluorescence)`);
  if (hints.length === 0 && varying.length >= 2) {
    // Unrecognised labels: the first two varying columns, in scan-file order (I0 before It).
    const [a, b] = varying as [number, number];
    hints.push(`--mu 'ln(${ref(a)}/${ref(b)})' if ${ref(a)} is I0 and ${ref(b)} It (transmission, ln(I0/It)), or '${ref(b)}/${ref(a)}' if ${ref(b)} is If (fluorescence, If/I0)`);
  }
  const shown = others.slice(0, 12).map(describe).join('; ') + (others.length > 12 ? `; … (${labels.length} columns in all)` : '');
  throw new UsageError(
    `${file}: which column is μ? ${named.length > 1 ? 'Several columns are labelled as μ' : 'No column is labelled as μ'}: give --mu, e.g. ${hints.join(' or ') || '--mu 2'}. Columns besides the energy (column ${energyCol}): ${shown}`,
  );
}

/**
 * Reads spectrum file `name` (its `text`) with μ chosen by chooseMu, and chooseMu's choice. A μ
 * that is one column is taken from the parsed table, so only an expression parses the text twice.
 */
export function readSpectrumChoosingMu(text: string, name: string, energy: number | string, mu: string | undefined): MuChoice & { spectrum: Spectrum } {
  const table = readSpectrum(text, { fileName: name, energy });
  const choice = chooseMu(name, table.labels, table.columns, energyIndex(energy, table.labels), mu);
  const column = typeof choice.mu === 'number' ? table.columns[choice.mu - 1] : undefined;
  const spectrum = column !== undefined ? { ...table, mu: column } : readSpectrum(text, { fileName: name, energy, mu: choice.mu });
  return { ...choice, spectrum };
}

/**
 * A column option (--energy, --mu) as readSpectrum takes it: a bare number is the 1-based column,
 * anything else a label, cN or an expression of them.
 */
export function columnArg(value: string): number | string {
  return /^\d+$/.test(value.trim()) ? Number(value) : value;
}

/** The 1-based column the energy comes from (by number, cN or label), or 0 for an expression. */
export function energyIndex(energy: number | string, labels: string[]): number {
  if (typeof energy === 'number') return energy;
  const cn = /^c(\d+)$/i.exec(energy.trim());
  return cn !== null ? Number(cn[1]) : labels.indexOf(energy.trim().toLowerCase()) + 1;
}
