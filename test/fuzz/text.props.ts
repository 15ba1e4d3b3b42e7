/**
 * Fuzz properties of the text inputs (issue 13): readSpectrum on random and mutated column files,
 * μ expressions from a small grammar against a reference evaluator, and the command lines of
 * autobk, autobk-batch and stars on random argv, run in-process.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import type { NumberRange } from '../../src/cli/args.js';
import { autobkCommand, NUMERIC as AUTOBK_NUMERIC } from '../../src/cli/autobk.js';
import { columnRange, parseAutobkBatchArgs } from '../../src/cli/autobkBatchArgs.js';
import { UsageError } from '../../src/cli/args.js';
import { NUMERIC as STARS_NUMERIC, starsCommand } from '../../src/cli/stars.js';
import { serveWorker } from '../../src/cpu/workerPool.js';
import { MU_EXPRESSION_MAX_DEPTH, MU_EXPRESSION_MAX_LENGTH, MuExpressionError, readSpectrum, type Spectrum } from '../../src/xafs/readSpectrum.js';
import { fuzzProperty, fuzzWorker } from './harness.js';

/**
 * The package root: this module runs from test/fuzz or, in a worker, from a transpiled copy under
 * node_modules/.cache/, so fixtures are found from the nearest package.json, not relative to it.
 */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}
const ROOT = packageRoot();
const XAFS = join(ROOT, 'test', 'fixtures', 'xafs');
const STARS = join(ROOT, 'test', 'fixtures', 'stars');
const FIXTURES = ['cu_rt01.xmu', 'cu_romanglass.xdi', 'fe2o3_rt1.xmu', 'mn_cpmnco3.dat', 'Ru_QAS.dat', 'znse_zn_xafs.001'].map((f) => ({
  name: f,
  text: readFileSync(join(XAFS, f), 'utf8'),
}));

/** Longest error message readSpectrum or a command may give (the tests' "a few hundred characters"). */
const MAX_MESSAGE = 400;
/** Messages that only an engine failure (not one of our checks) produces. */
const ENGINE = /Maximum call stack|Invalid (typed )?array length|Cannot read prop|is not a function|is not iterable|undefined|Array buffer allocation/;

// ---------------------------------------------------------------- random text

/** Numbers as files write them, nan and inf words, and numbers beyond float64 (Infinity, 0). */
const goodNumber = fc.oneof(
  fc.double({ noNaN: true }).map((x) => String(x)),
  fc.double({ noNaN: true, min: -1e6, max: 1e6 }).chain((x) => fc.constantFrom(x.toExponential(), x.toFixed(3), x.toPrecision(4))),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => x.toExponential(17)),
  fc.integer().map(String),
  fc.constantFrom('nan', 'NaN', '-nan', 'inf', '-inf', 'Infinity', '-Infinity', '1e400', '-1e-400', '.5', '5.', '+.5e3', '0', '-0'),
);
/** Tokens that Number() reads as numbers (or that look like them) but a data file must not. */
const numberToken = fc.oneof({ weight: 4, arbitrary: goodNumber }, { weight: 1, arbitrary: fc.constantFrom('0x10', '0b1', '1_0', '1e', 'e5', '.', '-', '+', '1.2.3', '1,5', '١٢', '１') });
const junkToken = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.constantFrom('energy', 'mu', 'i0', 'Column.1:', 'Column.2: mu', 'key = value', ':', '=', '%cols:', '----', '#', ';'),
);
/** Long runs: the inputs that made a backtracking regex quadratic. */
const longRun = fc.tuple(fc.constantFrom(' ', '\t', '1', 'x', ':', '#', ',', ' \t', 'e'), fc.integer({ min: 1000, max: 120_000 })).map(([c, n]) => c.repeat(n));
const separator = fc.oneof(fc.constantFrom(' ', '  ', '\t', ',', ' , ', ' \u00a0 '), fc.integer({ min: 1, max: 40 }).map((n) => ' '.repeat(n)));
const lineEnd = fc.constantFrom('\n', '\r\n', '\r', '\n\n');

const dataLine = fc.array(numberToken, { minLength: 1, maxLength: 8 }).chain((toks) =>
  fc.array(separator, { minLength: toks.length, maxLength: toks.length }).map((seps) => toks.map((t, i) => (i === 0 ? t : seps[i]! + t)).join('')),
);
const commentLine = fc
  .tuple(fc.constantFrom('#', '##', ';', '#%', '; ', '# '), fc.array(fc.oneof({ weight: 3, arbitrary: junkToken }, { weight: 2, arbitrary: numberToken }, { weight: 2, arbitrary: longRun }), { maxLength: 6 }), separator)
  .map(([c, parts, sep]) => c + parts.join(sep));
const anyLine = fc.oneof({ weight: 6, arbitrary: dataLine }, { weight: 3, arbitrary: commentLine }, { weight: 1, arbitrary: junkToken }, { weight: 1, arbitrary: longRun });
const randomText = fc.array(fc.tuple(anyLine, lineEnd), { maxLength: 30 }).map((ls) => ls.map(([l, e]) => l + e).join(''));

/** A well-formed table whose values are known: every token must read back as Number(token). */
const table = fc
  .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 20 }))
  .chain(([ncol, nrow]) =>
    fc.tuple(
      fc.array(fc.array(goodNumber, { minLength: ncol, maxLength: ncol }), { minLength: nrow, maxLength: nrow }),
      fc.array(separator, { minLength: 1, maxLength: 3 }),
      lineEnd,
      fc.boolean(),
    ),
  );

const muOption = fc.option(fc.oneof(fc.integer({ min: 0, max: 9 }), fc.constantFrom('mu', 'i0', 'energy', 'c2', 'ln(c2)', 'log(c3/c4)', 'sum(c2:c3)/c1', '2', 'nosuch', '((c2)')), { nil: undefined });

/** Checks what readSpectrum gave for `text`: a consistent Spectrum, or a short error of ours naming the file. */
function checkRead(text: string, mu: number | string | undefined, file = 'fuzz.dat'): Spectrum | undefined {
  let s: Spectrum;
  try {
    s = readSpectrum(text, { fileName: file, ...(mu === undefined ? {} : { mu }) });
  } catch (e) {
    if (!(e instanceof Error)) throw new Error(`threw a non-Error: ${String(e)}`);
    if (!(e instanceof RangeError || e instanceof MuExpressionError)) throw new Error(`engine error ${e.name}: ${e.message.slice(0, 300)}`);
    if (ENGINE.test(e.message)) throw new Error(`engine error ${e.name}: ${e.message.slice(0, 300)}`);
    if (!e.message.startsWith(`${file}: `)) throw new Error(`error does not name the file: ${e.message.slice(0, 300)}`);
    if (e.message.length > MAX_MESSAGE) throw new Error(`error message of ${e.message.length} characters: ${e.message.slice(0, 300)}…`);
    return undefined;
  }
  const nrow = s.energy.length;
  if (nrow === 0 || s.mu.length !== nrow) throw new Error(`energy has ${nrow} rows, mu ${s.mu.length}`);
  if (s.columns.length === 0 || s.labels.length !== s.columns.length) throw new Error(`${s.columns.length} columns, ${s.labels.length} labels`);
  // Non-finite values come only from nan/inf words and numbers beyond float64 (1e400, 400 digits).
  const overflowOrWord = /nan|inf|\d[eE]\+?\d{3}|\d{309}/i.test(text);
  for (const [c, col] of s.columns.entries()) {
    if (col.length !== nrow) throw new Error(`column ${c + 1} has ${col.length} rows, energy ${nrow}`);
    if (!overflowOrWord && col.some((v) => !Number.isFinite(v))) throw new Error(`column ${c + 1} has a non-finite value though the text has no nan/inf token`);
  }
  if (typeof mu === 'number' && s.mu !== s.columns[mu - 1]) throw new Error(`mu is not column ${mu}`);
  if (s.energy !== s.columns[0]) throw new Error('energy is not column 1');
  return s;
}

/** Small random edits of a real file: inserted, deleted, duplicated and replaced text. */
const mutation = fc.oneof(
  fc.tuple(fc.constant('insert' as const), fc.nat(), fc.oneof(junkToken, numberToken, longRun, separator, lineEnd)),
  fc.tuple(fc.constant('delete' as const), fc.nat(), fc.integer({ min: 1, max: 400 })),
  fc.tuple(fc.constant('replace' as const), fc.nat(), fc.constantFrom('#', ';', ',', '\r', ' ', 'e', '.', '-', 'x', '\t', '\u00a0', '\u2028', '\0', ':', '')),
  fc.tuple(fc.constant('duplicate' as const), fc.nat(), fc.integer({ min: 1, max: 2000 })),
  fc.tuple(fc.constant('truncate' as const), fc.nat(), fc.constant(0)),
);
type Mutation = [kind: 'insert' | 'delete' | 'replace' | 'duplicate' | 'truncate', at: number, arg: string | number];

function mutate(text: string, edits: Mutation[]): string {
  for (const [kind, at0, arg] of edits) {
    const at = text.length === 0 ? 0 : at0 % text.length;
    if (kind === 'insert') text = text.slice(0, at) + (arg as string) + text.slice(at);
    else if (kind === 'delete') text = text.slice(0, at) + text.slice(at + (arg as number));
    else if (kind === 'replace') text = text.slice(0, at) + (arg as string) + text.slice(at + 1);
    else if (kind === 'duplicate') text = text.slice(0, at) + text.slice(at, at + (arg as number)) + text.slice(at);
    else text = text.slice(0, at);
  }
  return text;
}

// ---------------------------------------------------------------- μ expressions

/** A μ expression tree of the grammar, its text and, when every name exists, its value per row. */
type Node =
  | { k: 'num'; text: string }
  | { k: 'col'; name: string }
  | { k: 'neg'; a: Node }
  | { k: 'bin'; op: '+' | '-' | '*' | '/'; a: Node; b: Node }
  | { k: 'fn'; name: string; a: Node }
  | { k: 'sum'; from: number; to: number }
  | { k: 'paren'; a: Node };

/** The file every expression runs on: columns energy, mu, i0, i1, i2 with zeros and negative values. */
const EXPR_TEXT = '# energy mu i0 i1 i2\n1 2 3 0 -1\n2 0.5 -4 7 1e-300\n3 -2 1e300 5 2\n';
const EXPR_COLS = [
  [1, 2, 3],
  [2, 0.5, -2],
  [3, -4, 1e300],
  [0, 7, 5],
  [-1, 1e-300, 2],
];
const LABELS = ['energy', 'mu', 'i0', 'i1', 'i2'];

const exprTree: fc.Arbitrary<Node> = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(
      fc.constantFrom('0', '1', '2.5', '.5', '3.', '1e3', '2E-2', '1e+2', '0.0', '10'),
      fc.double({ min: 0, max: 1e6, noNaN: true }).map(String),
    ).map((text): Node => ({ k: 'num', text })),
    fc.constantFrom('c1', 'C2', 'c3', 'c4', 'c5', 'mu', 'I0', 'i1', 'energy', 'c0', 'c6', 'nosuch', 'c99999999999999999999').map((name): Node => ({ k: 'col', name })),
    tie('node').map((a): Node => ({ k: 'neg', a })),
    fc.tuple(fc.constantFrom('+', '-', '*', '/') as fc.Arbitrary<'+' | '-' | '*' | '/'>, tie('node'), tie('node')).map(([op, a, b]): Node => ({ k: 'bin', op, a, b })),
    fc.tuple(fc.constantFrom('ln', 'log', 'LOG', 'exp', 'sqrt', 'Sqrt'), tie('node')).map(([name, a]): Node => ({ k: 'fn', name, a })),
    fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 })).map(([from, to]): Node => ({ k: 'sum', from, to })),
    tie('node').map((a): Node => ({ k: 'paren', a })),
  ),
})).node;

/** Deep chains: parentheses, calls and unary minus, from a few levels to well past the limit. */
const deepTree = fc
  .tuple(fc.array(fc.constantFrom('paren', 'neg', 'ln', 'exp'), { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 3 * MU_EXPRESSION_MAX_DEPTH }), exprTree)
  .map(([kinds, n, leaf]) => {
    let node = leaf;
    for (let i = 0; i < n; i++) {
      const kind = kinds[i % kinds.length]!;
      node = kind === 'paren' ? { k: 'paren', a: node } : kind === 'neg' ? { k: 'neg', a: node } : { k: 'fn', name: kind, a: node };
    }
    return node;
  });

const PREC = { '+': 1, '-': 1, '*': 2, '/': 2 } as const;

/**
 * The text of a tree, with the parentheses precedence needs (a node's own 'paren' adds more), and
 * its nesting depth as the parser counts it: each parenthesised group, call and unary minus.
 */
function render(n: Node): { text: string; depth: number } {
  const group = (r: { text: string; depth: number }) => ({ text: `(${r.text})`, depth: r.depth + 1 });
  switch (n.k) {
    case 'num': return { text: n.text, depth: 0 };
    case 'col': return { text: n.name, depth: 0 };
    case 'sum': return { text: `sum(c${n.from}:c${n.to})`, depth: 0 };
    case 'paren': return group(render(n.a));
    case 'fn': {
      const a = render(n.a);
      return { text: `${n.name}(${a.text})`, depth: a.depth + 1 };
    }
    case 'neg': {
      const a = n.a.k === 'bin' ? group(render(n.a)) : render(n.a);
      return { text: `-${a.text}`, depth: a.depth + 1 };
    }
    case 'bin': {
      const l = n.a.k === 'bin' && PREC[n.a.op] < PREC[n.op] ? group(render(n.a)) : render(n.a);
      const r = n.b.k === 'bin' && PREC[n.b.op] <= PREC[n.op] ? group(render(n.b)) : render(n.b);
      return { text: `${l.text} ${n.op} ${r.text}`, depth: Math.max(l.depth, r.depth) };
    }
  }
}

/** Column index of a name as readSpectrum resolves it, or -1 for an unknown one. */
function columnOf(name: string): number {
  const cn = /^c(\d+)$/i.exec(name);
  const idx = cn !== null ? Number(cn[1]) - 1 : /^\d+$/.test(name) ? Number(name) - 1 : LABELS.indexOf(name.toLowerCase());
  return idx >= 0 && idx < LABELS.length ? idx : -1;
}

/** What the expression should give: its values, or the kind of error (the first one the parser meets is not predicted). */
function reference(n: Node, row: number, errors: Set<string>): number {
  switch (n.k) {
    case 'num': return Number(n.text);
    case 'col': {
      const i = columnOf(n.name);
      if (i < 0) errors.add('unknown column');
      return i < 0 ? NaN : EXPR_COLS[i]![row]!;
    }
    case 'sum': {
      if (n.from < 1 || n.from > 5 || n.to < 1 || n.to > 5) errors.add('unknown column');
      else if (n.to < n.from) errors.add('wrong order');
      let s = 0;
      for (let c = n.from - 1; c <= n.to - 1; c++) s += EXPR_COLS[c]?.[row] ?? NaN;
      return s;
    }
    case 'paren': return reference(n.a, row, errors);
    case 'neg': return -reference(n.a, row, errors);
    case 'fn': {
      const a = reference(n.a, row, errors);
      const f = n.name.toLowerCase();
      return f === 'exp' ? Math.exp(a) : f === 'sqrt' ? Math.sqrt(a) : Math.log(a);
    }
    case 'bin': {
      const a = reference(n.a, row, errors);
      const b = reference(n.b, row, errors);
      return n.op === '+' ? a + b : n.op === '-' ? a - b : n.op === '*' ? a * b : a / b;
    }
  }
}

function checkExpression(tree: Node): void {
  const { text, depth } = render(tree);
  if (/^\d+$/.test(text)) return; // a bare integer is a column number, not an expression
  const errors = new Set<string>();
  const want = [0, 1, 2].map((r) => reference(tree, r, errors));
  if (text.length > MU_EXPRESSION_MAX_LENGTH) errors.add('longer than');
  if (depth > MU_EXPRESSION_MAX_DEPTH) errors.add('nests deeper');
  let got: Float64Array;
  try {
    got = readSpectrum(EXPR_TEXT, { mu: text, fileName: 'e.dat' }).mu;
  } catch (e) {
    const msg = (e as Error).message;
    if (errors.size === 0) throw new Error(`'${text.slice(0, 200)}' (depth ${depth}) should evaluate to ${want.join(', ')}, threw ${(e as Error).name}: ${msg.slice(0, 300)}`);
    if (!(e instanceof RangeError || e instanceof MuExpressionError) || ![...errors].some((k) => msg.includes(k))) {
      throw new Error(`'${text.slice(0, 200)}' should fail with one of ${[...errors].join(' | ')}, threw ${(e as Error).name}: ${msg.slice(0, 300)}`);
    }
    if (msg.length > MAX_MESSAGE || !msg.startsWith('e.dat: ')) throw new Error(`bad message: ${msg.slice(0, 300)}`);
    return;
  }
  if (errors.size > 0) throw new Error(`'${text.slice(0, 200)}' should fail with ${[...errors].join(' | ')}, gave ${Array.from(got).join(', ')}`);
  for (let r = 0; r < 3; r++) {
    if (!Object.is(got[r], want[r]) && !(Number.isNaN(got[r]) && Number.isNaN(want[r]))) {
      throw new Error(`'${text.slice(0, 200)}' row ${r}: got ${got[r]}, want ${want[r]}`);
    }
  }
}

/** Arbitrary characters of the expression language and a few others, in any order. */
const noiseExpression = fc.string({ unit: fc.constantFrom(...'()+-*/:.,c12lnogsqrtexpum eE\t$#'.split('')), maxLength: 300 });

// ---------------------------------------------------------------- command lines

const TMP = mkdtempSync(join(tmpdir(), 'batchfit-fuzz-text-'));
process.once('exit', () => rmSync(TMP, { recursive: true, force: true }));
const FIFO = join(TMP, 'fifo.dat');
execFileSync('mkfifo', [FIFO]);
mkdirSync(join(TMP, 'dir.xmu'));
const SERIES = join(TMP, 'series.dat');
{
  const cu = readSpectrum(FIXTURES[0]!.text);
  writeFileSync(SERIES, `# energy a b\n${Array.from(cu.energy, (e, i) => `${e} ${cu.mu[i]} ${cu.mu[i]! * 2}`).join('\n')}\n`);
}
const POSITIONS = join(TMP, 'pos.csv');
writeFileSync(POSITIONS, 'x,y\n100,100\n,\n0x10,5\n30.5,40.25\n');
const BROKEN_F32 = join(TMP, 'broken.f32');
writeFileSync(BROKEN_F32, readFileSync(join(STARS, 'stars_gauss_iso.f32')));
writeFileSync(join(TMP, 'broken.json'), '{"width": 256, "height"');

const optionValue = fc.oneof(
  numberToken,
  fc.constantFrom('', ' ', '2', '1', '0', '-1', '3', '0.5', '1e300', '1e-7', '2048', '1000', '0x10', '7.5', '1:2', '2:1', '1:1', '2:3', 'hanning', 'kaiser', 'boxcar', 'cpu', 'gpu', 'auto', 'tpu'),
  fc.string({ maxLength: 20 }),
  longRun.map((s) => s.slice(0, 5000)),
);
const AUTOBK_OPTIONS = ['--mu', '--energy', '--e0', '--edge-step', '--rbkg', '--kweight', '--kmin', '--kmax', '--nknots', '--dk', '--nclamp', '--clamp-lo', '--clamp-hi', '--nfft', '--kstep', '--win'];
const STARS_OPTIONS = ['--fwhm', '--gain', '--read-noise', '--saturation', '--beta', '--threshold', '--method', '--background', '--precision'];
/** A value inside an option's range (so that most runs get past the parser to the work). */
function goodValue(option: string): fc.Arbitrary<string> {
  const range: NumberRange | undefined = AUTOBK_NUMERIC[option]?.range ?? STARS_NUMERIC[option];
  if (range !== undefined) {
    if (range.powerOfTwo) return fc.integer({ min: Math.log2(range.min!), max: Math.log2(range.max!) }).map((e) => String(2 ** e));
    const min = range.min ?? -1e4;
    const max = range.max ?? 1e4;
    if (range.integer) return fc.integer({ min: Math.ceil(min), max: Math.min(Math.floor(max), 10_000) }).map(String);
    return fc.double({ min, max, noNaN: true, minExcluded: range.minOpen, maxExcluded: range.maxOpen }).map(String);
  }
  const words: Record<string, string[]> = {
    '--win': ['hanning', 'parzen', 'welch', 'kaiser', 'gaussian', 'sine', 'Hann'],
    '--mu': ['2', 'mu', 'log(c3/c4)', 'ln(c2)', 'c2*1e3'],
    '--energy': ['1', 'c1', 'energy'],
    '--method': ['moments', 'gaussian', 'gaussianRotated', 'moffat'],
    '--background': ['map', 'annulus'],
    '--precision': ['f64', 'f32'],
    '--columns': ['1:2', '2:3', '1:3'],
    '--workers': ['0', '1'],
    '--device': ['cpu', 'auto'],
  };
  return fc.constantFrom(...(words[option] ?? ['1']));
}

const argvOf = (names: string[], paths: string[]) =>
  fc.tuple(
    fc.option(fc.constantFrom(...paths), { nil: undefined }),
    fc.array(
      fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...names).chain((o) => goodValue(o).map((v): [string, string | null] => [o, v])) },
        { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...names), optionValue as fc.Arbitrary<string | null>) },
        { weight: 1, arbitrary: fc.tuple(fc.constantFrom('--nosuch', '-x', '--', 'extra.dat', '--help'), fc.constant(null)) },
      ),
      { maxLength: 4 },
    ),
    fc.integer({ min: 0, max: 9 }),
  ).map(([path, opts, dangling]) => {
    const argv = path === undefined ? [] : [path];
    for (const [o, v] of opts) argv.push(o, ...(v === null ? [] : [v]));
    if (dangling === 0) argv.push(names[0]!); // an option without its value
    return argv;
  });

/** Runs a command with console and stdout captured; checks its exit status and its stderr lines. */
async function checkCommand(command: string, run: () => Promise<number>): Promise<void> {
  const errLines: string[] = [];
  const saved = { log: console.log, error: console.error, write: process.stdout.write, ewrite: process.stderr.write };
  console.log = () => {};
  console.error = (...a: unknown[]) => void errLines.push(a.join(' '));
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => {
    errLines.push(String(s).replace(/\n$/, ''));
    return true;
  }) as typeof process.stderr.write;
  let code: number;
  try {
    code = await run();
  } finally {
    Object.assign(console, { log: saved.log, error: saved.error });
    process.stdout.write = saved.write;
    process.stderr.write = saved.ewrite;
  }
  if (code !== 0 && code !== 1 && code !== 2) throw new Error(`exit status ${code}`);
  for (const line of errLines) {
    if (line.includes('\n') || /\n\s+at /.test(line) || line.length > MAX_MESSAGE + 100) throw new Error(`stderr line not one short line: ${line.slice(0, 300)}`);
    if (ENGINE.test(line)) throw new Error(`engine error on stderr: ${line.slice(0, 300)}`);
  }
  if (code === 2 && (errLines.length !== 1 || !errLines[0]!.startsWith(`${command}: `))) throw new Error(`exit 2 with stderr ${JSON.stringify(errLines).slice(0, 300)}`);
}

const xafsPaths = [join(XAFS, 'cu_rt01.xmu'), join(XAFS, 'cu_rt01.xmu'), join(XAFS, 'znse_zn_xafs.001'), FIFO, join(TMP, 'dir.xmu'), join(TMP, 'missing.xmu')];

export const properties = {
  'readSpectrum: random text gives a consistent spectrum or a short error of ours, in linear time': fuzzProperty(
    fc.tuple(randomText, muOption),
    ([text, mu]) => void checkRead(text, mu),
  ),
  'readSpectrum: a well-formed table reads back every token as its number': fuzzProperty(table, ([rows, seps, end, header]) => {
    const text = (header ? '# a b c d e f\n' : '') + rows.map((r, i) => r.join(seps[i % seps.length]!)).join(end) + end;
    const s = checkRead(text, 1);
    if (s === undefined) throw new Error('a well-formed table was refused');
    rows.forEach((r, i) =>
      r.forEach((t, c) => {
        const w = /^[+-]?(nan|inf|infinity)$/i.test(t) ? (/nan/i.test(t) ? NaN : t.startsWith('-') ? -Infinity : Infinity) : Number(t);
        const g = s.columns[c]![i]!;
        if (!Object.is(g, w) && !(Number.isNaN(g) && Number.isNaN(w))) throw new Error(`row ${i + 1} column ${c + 1}: '${t}' read as ${g}`);
      }),
    );
  }),
  'readSpectrum: mutated fixture files give a consistent spectrum or a short error': fuzzProperty(
    fc.tuple(fc.integer({ min: 0, max: FIXTURES.length - 1 }), fc.array(mutation as fc.Arbitrary<Mutation>, { minLength: 1, maxLength: 6 }), muOption),
    ([f, edits, mu]) => void checkRead(mutate(FIXTURES[f]!.text, edits), mu, FIXTURES[f]!.name),
  ),
  'mu expressions: the reference value, or the named error for unknown names, bad ranges, depth and length': fuzzProperty(
    fc.oneof({ weight: 3, arbitrary: exprTree }, { weight: 1, arbitrary: deepTree }),
    checkExpression,
  ),
  'mu expressions: any string of the language characters is a value or a named error': fuzzProperty(noiseExpression, (src) => {
    try {
      readSpectrum(EXPR_TEXT, { mu: src, fileName: 'e.dat' });
    } catch (e) {
      if (!(e instanceof RangeError || e instanceof MuExpressionError) || ENGINE.test((e as Error).message) || (e as Error).message.length > MAX_MESSAGE) {
        throw new Error(`${(e as Error).name}: ${(e as Error).message.slice(0, 300)}`);
      }
    }
  }),
  'CLI autobk: random argv exits 0, 1 or 2 with one-line messages': fuzzProperty(
    argvOf(AUTOBK_OPTIONS, xafsPaths),
    (argv) => checkCommand('batchfit autobk', () => autobkCommand([...argv, '--out', join(TMP, 'out')])),
    { share: 0.5 },
  ),
  // autobk-batch's run loads the batch machinery, whose worker handler would answer this worker's
  // messages too: its parser and column ranges are fuzzed here, the run by test/xafs/cli.test.ts.
  'CLI autobk-batch: the parser takes random argv or throws a one-line UsageError naming the problem': fuzzProperty(
    fc.tuple(argvOf([...AUTOBK_OPTIONS, '--columns', '--workers', '--device', '--series'], xafsPaths), fc.string({ maxLength: 12 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 9 })),
    ([argv, columns, ncols, energyCol]) => {
      for (const run of [() => parseAutobkBatchArgs(argv), () => columnRange(columns, ncols, energyCol)]) {
        try {
          run();
        } catch (e) {
          const msg = (e as Error).message;
          if (!(e instanceof UsageError) || msg.includes('\n') || msg.length > MAX_MESSAGE || ENGINE.test(msg)) throw new Error(`${(e as Error).name}: ${msg.slice(0, 300)}`);
        }
      }
    },
  ),
  'CLI stars: random argv exits 0, 1 or 2 with one-line messages': fuzzProperty(
    fc.tuple(argvOf(STARS_OPTIONS, [join(STARS, 'stars_gauss_iso.f32'), join(STARS, 'stars_gauss_iso.f32'), join(STARS, 'stars_gauss_iso.f32'), BROKEN_F32, FIFO, join(TMP, 'dir.xmu'), join(TMP, 'missing.fits')]), fc.constantFrom(['--detect'], ['--detect'], ['--positions', POSITIONS], ['--positions', POSITIONS], ['--positions', FIFO], [])),
    ([argv, source]) => checkCommand('batchfit stars', () => starsCommand([...argv, ...source, '--out', join(TMP, 'stars.csv')])),
    // A threshold far below 1σ detects every noise peak: ~900 Moffat fits on the 256² frame take
    // ~1.7 s, work in proportion to the image, not a hang.
    { share: 0.25, caseMs: 5000 },
  ),
};

void serveWorker(fuzzWorker(properties));
