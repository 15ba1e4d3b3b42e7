/**
 * The command line of `batchfit autobk-batch`, parsed and checked without reading a file or
 * loading the batch machinery (whose worker handlers start on import), so that the fuzz suite can
 * run it in its own worker thread.
 */
import type { AutobkBatchOptions } from '../xafs/autobkBatchTypes.js';
import { clipForMessage } from '../xafs/readSpectrum.js';
import { checkRegularFile, parseNumberOption, UsageError } from './args.js';
import { setAutobkOption } from './autobk.js';

export const USAGE = `usage: batchfit autobk-batch <file…> [--mu EXPR] [--energy COL] [options]
       batchfit autobk-batch --series FILE [--energy COL] [--columns A:B] [options]
  --series: one spectrum per column A..B (1-based, default: every column but the energy)
  --device auto|gpu|cpu (default auto)   --workers N (CPU threads, 0: this thread)
  --e0 E --edge-step S (for every spectrum; default: pre_edge of each)
  --rbkg --kweight --kmin --kmax --nknots --dk --win --nclamp --clamp-lo --clamp-hi --nfft --kstep: as batchfit autobk
  --out PREFIX: write PREFIX.summary.csv and PREFIX.chi.csv
  Numbers are plain decimals (2, 0.5, 1e-3). Exit status: 0 done, 1 a file or fit failed, 2 a usage error
  (an unknown option, a value outside its range, a path that is not a regular file).`;

export interface AutobkBatchArgs {
  options: AutobkBatchOptions & { e0?: number; edgeStep?: number };
  files: string[];
  series?: string;
  columns?: string;
  mu?: string;
  energy?: string;
  out?: string;
  device: 'auto' | 'gpu' | 'cpu';
  workers?: number;
}

/**
 * The arguments, or 'help' for -h/--help; a UsageError for anything unusable, including a path
 * that is a directory or FIFO (reading a FIFO would block).
 */
export function parseAutobkBatchArgs(argv: string[]): AutobkBatchArgs | 'help' {
  const r: AutobkBatchArgs = { options: {}, files: [], device: 'auto' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') return 'help';
    if (!a.startsWith('--')) {
      r.files.push(a);
      continue;
    }
    const v = argv[++i];
    if (v === undefined) throw new UsageError(`${clipForMessage(a)} needs a value`);
    if (a === '--series') r.series = v;
    else if (a === '--columns') r.columns = v;
    else if (a === '--mu') r.mu = v;
    else if (a === '--energy') r.energy = v;
    else if (a === '--out') r.out = v;
    else if (a === '--device') {
      if (v !== 'auto' && v !== 'gpu' && v !== 'cpu') throw new UsageError(`--device '${clipForMessage(v)}' must be auto, gpu or cpu`);
      r.device = v;
    } else if (a === '--workers') r.workers = parseNumberOption(a, v, { min: 0, max: 1024, integer: true });
    else if (!setAutobkOption(r.options, a, v)) throw new UsageError(`unknown option ${clipForMessage(a)}`);
  }
  if ((r.series === undefined) === (r.files.length === 0)) throw new UsageError('give either spectrum files or --series FILE');
  if (r.columns !== undefined && r.series === undefined) throw new UsageError('--columns needs --series FILE');
  if (r.mu !== undefined && r.series !== undefined) throw new UsageError('--mu applies to spectrum files; a --series takes its columns with --columns');
  for (const f of r.series === undefined ? r.files : [r.series]) checkRegularFile(f);
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

/** The 1-based column the energy comes from (by number, cN or label), or 0 for an expression. */
export function energyIndex(energy: number | string, labels: string[]): number {
  if (typeof energy === 'number') return energy;
  const cn = /^c(\d+)$/i.exec(energy.trim());
  return cn !== null ? Number(cn[1]) : labels.indexOf(energy.trim().toLowerCase()) + 1;
}
