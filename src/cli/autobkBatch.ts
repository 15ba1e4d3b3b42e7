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
import { openTable, type TableWriter } from '../io/batchTable.js';
import { AUTOBK_BATCH_COLUMNS, autobkRows, autobkTableMetadata, unreadRows, fitError } from '../io/autobkTable.js';
import { csvNumber, csvText } from '../io/csv.js';
import { checkOutputs, columnArg, energyIndex, errorLine, readSpectrumChoosingMu, readTextFile, reportError } from './args.js';
import { edgeStepProblem, fallingMuProblem } from '../xafs/edgeChecks.js';
import { xftfSettings } from './autobk.js';
import { columnRange, parseAutobkBatchArgs } from './autobkBatchArgs.js';

const SHOWN = 20;

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
  return fitError(results, i) ?? edgeStepProblem(results.edgeStep[i]!) ?? falling[results.start + i] ?? null;
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
  const colOf = (s: string | undefined): number | string | undefined => (s === undefined ? undefined : columnArg(s));
  const { e0, edgeStep, ...fitOptions } = args.options;
  let input: AutobkBatchInput;
  let names: string[];
  const unreadable: { name: string; error: string }[] = [];
  const notes: string[] = [];
  const falling: (string | null)[] = [];
  const energyCol = colOf(energy) ?? 1;
  if (series !== undefined) {
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
        const { spectrum: s, note } = readSpectrumChoosingMu(text, name, energyCol, mu);
        if (note !== null) notes.push(note);
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
  let table: TableWriter | null = null;
  if (tablePath !== undefined) {
    table = openTable(tablePath, format, AUTOBK_BATCH_COLUMNS, autobkTableMetadata(fitOptions, chir, 'batchfit autobk-batch'));
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
      ...(table === null ? {} : { onChunk: (c: AutobkBatchResults) => table.write(autobkRows(c, names, (i) => problemOf(c, i, falling))) }),
    });
    // The files that could not be read get their error rows too: no input is missing from the file.
    if (table !== null && unreadable.length > 0) await table.write(unreadRows(unreadable, total));
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
