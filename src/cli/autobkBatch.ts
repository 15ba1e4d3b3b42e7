/**
 * `batchfit autobk-batch`: AUTOBK over many spectra at once through autobkBatch, either several
 * files (one spectrum each) or one series file (energy plus one μ column per spectrum). Prints a
 * line per spectrum (the first 20) and the totals; --out writes PREFIX.summary.csv and a
 * columnar file (Parquet or Arrow IPC), one row per spectrum, chunk by chunk as results stream.
 */
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { SingleBar } from 'cli-progress';
import { autobkBatch, readSpectrum, type AutobkBatchInput, type AutobkBatchResults, type BatchSpectrum } from '../xafs/index.js';
import type { ChirSettings } from '../xafs/autobkBatchTypes.js';
import { openTable, type ListValues, type TableChunk, type TableColumn, type TableWriter } from '../io/batchTable.js';
import { csvNumber, csvText } from '../io/csv.js';
import { checkOutputs, chooseMu, energyIndex, errorLine, readTextFile, reportError } from './args.js';
import { edgeStepProblem, fallingMuProblem, xftfSettings } from './autobk.js';
import { columnRange, parseAutobkBatchArgs } from './autobkBatchArgs.js';

const SHOWN = 20;

/** The columns of the batch file, in order. */
export const BATCH_COLUMNS: readonly TableColumn[] = [
  { name: 'name', kind: 'string', unit: '', description: 'file name, or series file:column label' },
  { name: 'index', kind: 'int32', unit: '', description: 'position in the batch (0-based)' },
  { name: 'status', kind: 'string', unit: '', description: 'converged, max-iterations or error' },
  { name: 'message', kind: 'string', unit: '', description: "the error, or the fit's warnings joined by '; '" },
  { name: 'e0', kind: 'float64', unit: 'eV', description: 'edge energy (Larch e0)' },
  { name: 'edge_step', kind: 'float64', unit: '', description: 'edge step in μ units (Larch edge_step)' },
  { name: 'nknots', kind: 'int32', unit: '', description: 'spline knots (Larch nspl)' },
  { name: 'chisqr', kind: 'float64', unit: '', description: 'χ² of the background fit (lmfit chisqr)' },
  { name: 'redchi', kind: 'float64', unit: '', description: 'reduced χ² (lmfit redchi)' },
  { name: 'energy', kind: 'list<float64>', unit: 'eV', description: 'cleaned energy grid of bkg' },
  { name: 'bkg', kind: 'list<float64>', unit: '', description: 'AUTOBK background μ0(E) on energy' },
  { name: 'chi', kind: 'list<float64>', unit: '', description: 'χ(k) on k = k_step·i' },
  { name: 'chir_mag', kind: 'list<float64>', unit: 'Å^-(w+1)', description: '|χ(R)| on r = r_step·i (xftf settings in the metadata)' },
];

/** Runs `batchfit autobk-batch` on `argv` (the words after the command); resolves to the exit status. */
export async function autobkBatchCommand(argv: string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (e) {
    return reportError('batchfit autobk-batch', e);
  }
}

/**
 * Per-spectrum verdict beyond the fit's own status: a non-positive edge step, or μ falling across
 * the scan (`falling`, by batch index, found before the fit), is an error too.
 */
function problemOf(results: AutobkBatchResults, i: number, falling: readonly (string | null)[]): string | null {
  if (results.statusOf(i) === 'error') return results.errors.get(results.start + i) ?? 'not fitted';
  return edgeStepProblem(results.edgeStep[i]!) ?? falling[results.start + i] ?? null;
}

/** The rows of a list column: row i is the first n[i] values of plane row i (width w); compacted. */
function listOf(plane: Float64Array, width: number | Int32Array, n: Int32Array, valid: Uint8Array): ListValues {
  const count = n.length;
  const offsets = new Int32Array(count + 1);
  for (let i = 0; i < count; i++) offsets[i + 1] = offsets[i]! + (valid[i] ? n[i]! : 0);
  const values = new Float64Array(offsets[count]!);
  for (let i = 0; i < count; i++) {
    if (!valid[i]) continue;
    const start = typeof width === 'number' ? i * width : width[i]!;
    values.set(plane.subarray(start, start + n[i]!), offsets[i]!);
  }
  return { values, offsets };
}

/** One streamed chunk as table rows (everything copied: the chunk's planes are reused after onChunk). */
function chunkRows(c: AutobkBatchResults, names: readonly string[], falling: readonly (string | null)[]): TableChunk {
  const n = c.count;
  const valid = new Uint8Array(n);
  const status: string[] = new Array(n);
  const message: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const bad = problemOf(c, i, falling);
    valid[i] = bad === null ? 1 : 0;
    status[i] = bad === null ? c.statusOf(i) : 'error';
    message[i] = bad ?? c.warningsOf(i).join('; ');
  }
  const cols = c.columns;
  const bkg = c.bkg;
  const energy = new Float64Array(bkg.length);
  for (let i = 0; i < n; i++) {
    const r = valid[i] ? c.at(i) : undefined;
    if (r !== undefined && r.status !== 'error') energy.set(r.energy.subarray(0, cols.ne[i]!), cols.rowOffsets[i]!);
  }
  const rowStart = cols.rowOffsets.subarray(0, n);
  const lists: Record<string, ListValues> = {
    energy: listOf(energy, rowStart, cols.ne, valid),
    bkg: listOf(bkg, rowStart, cols.ne, valid),
    chi: listOf(cols.chi, cols.kWidth, cols.nk, valid),
    chir_mag: listOf(cols.chirMag, cols.nr, new Int32Array(n).fill(cols.nr), valid),
  };
  return {
    count: n,
    valid,
    columns: {
      name: names.slice(c.start, c.start + n),
      index: Int32Array.from({ length: n }, (_, i) => c.start + i),
      status,
      message,
      e0: cols.e0.slice(),
      edge_step: cols.edgeStep.slice(),
      nknots: cols.nspl.slice(),
      chisqr: cols.chisqr.slice(),
      redchi: cols.redchi.slice(),
      ...lists,
    },
  };
}

async function run(argv: string[]): Promise<number> {
  const args = parseAutobkBatchArgs(argv);
  if ('help' in args) {
    process.stdout.write(args.help);
    return 0;
  }
  const { files, series, columns, mu, energy, out, device, workers, format } = args;
  const tablePath = out === undefined ? undefined : `${out}.${format}`;
  if (out !== undefined) checkOutputs([`${out}.summary.csv`, tablePath!], args.force);
  const colOf = (s: string | undefined): number | string | undefined => (s === undefined ? undefined : /^\d+$/.test(s) ? Number(s) : s);
  const { e0, edgeStep, ...fitOptions } = args.options;
  let input: AutobkBatchInput;
  let names: string[];
  const unreadable: { name: string; error: string }[] = [];
  const notes: string[] = [];
  const falling: (string | null)[] = [];
  if (series !== undefined) {
    const energyCol = colOf(energy) ?? 1;
    const spec = readSpectrum(readTextFile(series), { fileName: basename(series), energy: energyCol });
    const eIndex = energyIndex(energyCol, spec.labels);
    const cols = columns === undefined ? spec.columns.map((_, i) => i + 1).filter((c) => c !== eIndex) : columnRange(columns, spec.columns.length, eIndex);
    if (cols.length === 0) throw new RangeError(`${basename(series)}: no spectrum column besides the energy`);
    const ne = spec.energy.length;
    const packed = new Float64Array(cols.length * ne);
    cols.forEach((c, s) => packed.set(spec.columns[c - 1]!, s * ne));
    for (let s = 0; s < cols.length; s++) falling.push(fallingMuProblem(spec.energy, packed, s * ne));
    input = { energy: spec.energy, mu: packed, ...(e0 === undefined ? {} : { e0 }), ...(edgeStep === undefined ? {} : { edgeStep }) };
    names = cols.map((c) => `${basename(series)}:${spec.labels[c - 1] ?? `c${c}`}`);
  } else {
    // A file that cannot be read, or whose μ is ambiguous, is that spectrum's error; the others still run.
    const spectra: BatchSpectrum[] = [];
    names = [];
    for (const f of files) {
      try {
        const name = basename(f);
        const text = readTextFile(f);
        const energyCol = colOf(energy) ?? 1;
        const table = readSpectrum(text, { fileName: name, energy: energyCol });
        const choice = chooseMu(name, table.labels, table.columns, energyIndex(energyCol, table.labels), mu);
        if (choice.note !== null) notes.push(choice.note);
        const s = readSpectrum(text, { fileName: name, energy: energyCol, mu: choice.mu });
        falling.push(fallingMuProblem(s.energy, s.mu));
        spectra.push({ energy: s.energy, mu: s.mu, ...(e0 === undefined ? {} : { e0 }), ...(edgeStep === undefined ? {} : { edgeStep }) });
        names.push(name);
      } catch (e) {
        unreadable.push({ name: basename(f), error: errorLine(e) });
      }
    }
    input = spectra;
  }
  for (const u of unreadable) console.log(`${u.name}: error: ${u.error}`);
  for (const line of notes) console.log(`note: ${line}`);
  const total = names.length;
  const showBar = args.progress ?? process.stderr.isTTY === true;
  const bar = showBar
    ? new SingleBar({
        format: 'autobk-batch [{bar}] {percentage}% | {value}/{total} spectra | {eta_formatted} left',
        stream: process.stderr,
        noTTYOutput: args.progress === true,
        notTTYSchedule: 250,
        hideCursor: process.stderr.isTTY === true,
      })
    : null;
  const fts = xftfSettings(args.ft);
  const chir: ChirSettings = { kmin: fts.kmin, kmax: fts.kmax, dk: fts.dk, window: fts.window, kweight: fts.kweight, rmax: fts.rmaxOut };
  const kstep = fitOptions.kstep ?? 0.05;
  const nfft = fitOptions.nfft ?? 2048;
  let table: TableWriter | null = null;
  if (tablePath !== undefined) {
    table = openTable(tablePath, format, BATCH_COLUMNS, {
      k_step: String(kstep),
      r_step: String(Math.PI / (kstep * nfft)),
      xftf: JSON.stringify(chir),
      autobk: JSON.stringify(fitOptions),
      created_by: 'batchfit autobk-batch',
    });
  }
  let results: AutobkBatchResults;
  const t0 = performance.now();
  bar?.start(total, 0);
  try {
    results = total === 0 ? await autobkBatch([], fitOptions, { device: 'cpu', workers: 0 }) : await autobkBatch(input, fitOptions, {
      device,
      chir,
      retain: false,
      ...(workers === undefined ? {} : { workers }),
      ...(bar === null ? {} : { onProgress: (p) => bar.update(p.done) }),
      ...(table === null ? {} : { onChunk: (c: AutobkBatchResults) => table.write(chunkRows(c, names, falling)) }),
    });
  } finally {
    bar?.stop();
    await table?.close();
  }
  const ms = performance.now() - t0;
  const errors = report(results, names, falling, ms, unreadable.length);
  if (out !== undefined) {
    writeSummary(`${out}.summary.csv`, results, names, falling, unreadable);
    console.log(`wrote ${out}.summary.csv and ${tablePath}`);
  }
  return errors > 0 ? 1 : 0;
}

/** Prints the first spectra and the totals; returns the number of errors (unreadable files included). */
function report(results: AutobkBatchResults, names: readonly string[], falling: readonly (string | null)[], ms: number, unreadable: number): number {
  let fitErrors = 0;
  let stepErrors = 0;
  const counts = { converged: 0, 'max-iterations': 0 };
  for (let i = 0; i < results.count; i++) {
    const status = results.statusOf(i);
    if (status === 'error') fitErrors++;
    else if (problemOf(results, i, falling) !== null) stepErrors++;
    else counts[status]++;
  }
  for (let i = 0; i < Math.min(SHOWN, results.count); i++) {
    const bad = problemOf(results, i, falling);
    if (bad !== null) console.log(`${names[i]}: error: ${bad}`);
    else console.log(`${names[i]}: ${results.statusOf(i)}, e0 ${results.e0[i]} eV, edge step ${results.edgeStep[i]!.toPrecision(6)}, ${results.nspl[i]} knots, chisqr ${results.chisqr[i]!.toPrecision(6)}`);
  }
  if (results.count > SHOWN) console.log(`… ${results.count - SHOWN} more`);
  const errors = unreadable + fitErrors + stepErrors;
  const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;
  const parts = [unreadable > 0 ? plural(unreadable, 'unreadable file', 'unreadable files') : '', fitErrors > 0 ? plural(fitErrors, 'failed fit', 'failed fits') : '', stepErrors > 0 ? `${stepErrors} without a rising edge` : ''].filter((p) => p !== '');
  console.log(
    `${results.count + unreadable} spectra on the ${results.device.toUpperCase()}: ${counts.converged} converged, ${counts['max-iterations']} at the iteration limit, ${errors} errors${parts.length > 0 ? ` (${parts.join(', ')})` : ''}; ` +
      `${ms.toFixed(0)} ms (${Math.round(results.count / (ms / 1000))} spectra/s)`,
  );
  return errors;
}

/**
 * One row per spectrum with its scalars and units in the header comment; the files that could
 * not be read come last as error rows (they are not in the columnar file, which holds the batch).
 */
function writeSummary(path: string, results: AutobkBatchResults, names: readonly string[], falling: readonly (string | null)[], unreadable: readonly { name: string; error: string }[]): void {
  const lines = [
    '# batchfit autobk-batch summary',
    '# e0 [eV]: edge energy; edge_step [1]: edge step in μ units; nknots: spline knots; chisqr, redchi [1]: χ² and reduced χ² of the fit',
    'name,status,e0,edge_step,nknots,chisqr,redchi,message',
  ];
  for (let i = 0; i < results.count; i++) {
    const bad = problemOf(results, i, falling);
    const fitted = results.statusOf(i) !== 'error';
    const num = (x: number) => (fitted ? csvNumber(x) : '');
    lines.push([csvText(names[i]!), bad === null ? results.statusOf(i) : 'error', num(results.e0[i]!), num(results.edgeStep[i]!), fitted ? String(results.nspl[i]) : '', num(results.chisqr[i]!), num(results.redchi[i]!), csvText(bad ?? results.warningsOf(i).join('; '))].join(','));
  }
  for (const u of unreadable) lines.push(`${csvText(u.name)},error,,,,,,${csvText(u.error)}`);
  writeFileSync(path, `${lines.join('\n')}\n`);
}
