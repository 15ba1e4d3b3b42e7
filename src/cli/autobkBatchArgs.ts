/**
 * The command line of `batchfit autobk-batch`, parsed and checked without reading a file or
 * loading the batch machinery (whose worker handlers start on import), so that the fuzz suite can
 * run it in its own worker thread.
 */
import { Command } from 'commander';
import type { AutobkBatchOptions } from '../xafs/autobkBatchTypes.js';
import type { XftfOptions } from '../xafs/xft.js';
import { clipForMessage } from '../xafs/readSpectrum.js';
import { checkInputFile, checkRegularFile, choiceArg, EXIT_CODES, numberArg, parseCommandOrHelp, UsageError } from './args.js';
import { edgeStepProblem } from '../xafs/edgeChecks.js';
import { addAutobkOptions, addXftfOptions } from './autobk.js';

const HELP_AFTER = `
Input: spectrum files (one spectrum each; μ chosen per file as in batchfit autobk, a file whose μ
is ambiguous without --mu is that file's error), or --series FILE: energy plus one μ column per
spectrum (--mu is refused with --series: select columns with --columns; --columns is refused
without --series).
Outputs with --out PREFIX (existing files need --force):
  PREFIX.summary.csv   name, status, e0 [eV], edge_step, nknots, chisqr, redchi, message
  PREFIX.arrow         (Arrow IPC file = Feather v2; PREFIX.parquet with --format parquet)
                       one row per spectrum: name, index,
                       status, message, e0, edge_step, nknots, chisqr, redchi and list columns
                       energy [eV], bkg, chi (k = k_step·i, k_step in the file's metadata) and
                       chir_mag (r = r_step·i); units in the metadata ('units', JSON).
  Written chunk by chunk as results arrive: memory holds one chunk whatever the batch size.
Progress: a bar on stderr when it is a terminal (--progress forces it, --no-progress hides it);
otherwise one summary line at the end.
A spectrum with no rising edge is an error (counted, exit 1): an edge step that is not positive
and finite, or μ whose steepest change is a fall (as in batchfit autobk).
${EXIT_CODES}`;

/** The parsed command line of `batchfit autobk-batch` (see its --help for each option). */
export interface AutobkBatchArgs {
  options: AutobkBatchOptions & { e0?: number; edgeStep?: number };
  /** χ(R) settings (Larch xftf's names), defaults filled in by the command. */
  ft: XftfOptions;
  files: string[];
  series?: string;
  columns?: string;
  mu?: string;
  energy?: string;
  out?: string;
  format: 'parquet' | 'arrow';
  device: 'auto' | 'gpu' | 'cpu';
  workers?: number;
  /** true: bar forced, false: never, undefined: when stderr is a terminal. */
  progress?: boolean;
  force: boolean;
}

/**
 * The arguments, or the help text for -h/--help; a UsageError for anything unusable, including a
 * path that is a directory or FIFO (reading a FIFO would block).
 */
export function parseAutobkBatchArgs(argv: string[]): AutobkBatchArgs | { help: string } {
  const options: AutobkBatchArgs['options'] = {};
  const ft: XftfOptions = {};
  const cmd = new Command('batchfit autobk-batch')
    .description("Larch's autobk over many spectra at once, on the GPU or all CPU cores, with χ(R) (xftf) of each")
    .argument('[files...]', 'spectrum files, one spectrum each')
    .option('--series <file>', 'one series file: energy plus one μ column per spectrum')
    .option('--columns <A:B>', 'with --series: the spectrum columns A..B (1-based), default every column but the energy')
    .option('--mu <expr>', "with files: μ column or expression, e.g. 'ln(i0/it)', 'if/i0' (as batchfit autobk)")
    .option('--energy <col>', 'energy column (eV): number or label, default 1')
    .option('--out <prefix>', 'write PREFIX.summary.csv and PREFIX.arrow (or .parquet)')
    .option('--format <fmt>', 'columnar file: arrow (default, Arrow IPC: ~15× faster to write) or parquet (~30 % smaller)', choiceArg('--format', ['parquet', 'arrow'] as const))
    .option('--device <d>', 'auto (default: the GPU when a hardware adapter exists, else the CPU), gpu or cpu', choiceArg('--device', ['auto', 'gpu', 'cpu'] as const))
    .option('--workers <n>', 'CPU worker threads, 0: this thread; default all cores', numberArg('--workers', { min: 0, max: 1024, integer: true }))
    .option('--progress', 'show the progress bar even when stderr is not a terminal')
    .option('--no-progress', 'never show the progress bar')
    .option('--force', 'overwrite existing outputs');
  addAutobkOptions(cmd, options);
  addXftfOptions(cmd, ft);
  cmd.addHelpText('after', HELP_AFTER);
  const help = parseCommandOrHelp(cmd, argv);
  if (help !== null) return { help };
  const o = cmd.opts<{ series?: string; columns?: string; mu?: string; energy?: string; out?: string; format?: 'parquet' | 'arrow'; device?: 'auto' | 'gpu' | 'cpu'; workers?: number; progress?: boolean; force?: boolean }>();
  const r: AutobkBatchArgs = {
    options,
    ft,
    files: cmd.args,
    format: o.format ?? 'arrow',
    device: o.device ?? 'auto',
    force: o.force === true,
    ...(o.series === undefined ? {} : { series: o.series }),
    ...(o.columns === undefined ? {} : { columns: o.columns }),
    ...(o.mu === undefined ? {} : { mu: o.mu }),
    ...(o.energy === undefined ? {} : { energy: o.energy }),
    ...(o.out === undefined ? {} : { out: o.out }),
    ...(o.workers === undefined ? {} : { workers: o.workers }),
  };
  // With both --progress and --no-progress defined, commander leaves the value undefined unless one is given.
  if (o.progress !== undefined) r.progress = o.progress;
  if ((r.series === undefined) === (r.files.length === 0)) throw new UsageError('give either spectrum files or --series FILE');
  if (r.columns !== undefined && r.series === undefined) throw new UsageError('--columns needs --series FILE (spectrum files have one μ each: choose it with --mu)');
  if (r.mu !== undefined && r.series !== undefined) throw new UsageError('--mu applies to spectrum files; a --series takes its columns as μ: choose them with --columns');
  if (options.edgeStep !== undefined) {
    const bad = edgeStepProblem(options.edgeStep);
    if (bad !== null) throw new UsageError(`--edge-step: ${bad}`);
  }
  if (r.series !== undefined) checkInputFile(r.series);
  else for (const f of r.files) checkRegularFile(f);
  return r;
}

/** The spectrum columns A..B of a series (1-based), without the energy column; a UsageError if none. */
export function columnRange(spec: string, ncols: number, energyCol: number): number[] {
  const m = /^(\d+):(\d+)$/.exec(spec.trim());
  if (m === null) throw new UsageError(`--columns = '${clipForMessage(spec)}' must be A:B (1-based column numbers)`);
  const a = Number(m[1]);
  const b = Number(m[2]);
  if (!(a >= 1 && b >= a && b <= ncols)) throw new UsageError(`--columns = ${clipForMessage(spec)} is outside the file's columns 1..${ncols} (or B < A)`);
  const cols = Array.from({ length: b - a + 1 }, (_, i) => a + i).filter((c) => c !== energyCol);
  if (cols.length === 0) throw new UsageError(`--columns = ${spec} selects no spectrum: column ${energyCol} is the energy`);
  return cols;
}
