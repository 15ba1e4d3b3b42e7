/**
 * `batchfit autobk-batch`: AUTOBK over many spectra at once through autobkBatch, either several
 * files (one spectrum each) or one series file (energy plus one μ column per spectrum). Prints a
 * line per spectrum (the first 20) and the totals; --out writes PREFIX.summary.csv and
 * PREFIX.chi.csv (k, then one χ column per fitted spectrum).
 */
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { autobkBatch, readSpectrum, type AutobkBatchInput, type AutobkBatchResults } from '../xafs/index.js';
import { errorLine, readTextFile, reportError } from './args.js';
import { columnRange, energyIndex, parseAutobkBatchArgs, USAGE } from './autobkBatchArgs.js';

const SHOWN = 20;

export async function autobkBatchCommand(argv: string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (e) {
    return reportError('batchfit autobk-batch', e);
  }
}

async function run(argv: string[]): Promise<number> {
  const args = parseAutobkBatchArgs(argv);
  if (args === 'help') {
    console.log(USAGE);
    return 0;
  }
  const { files, series, columns, mu, energy, out, device, workers } = args;
  const colOf = (s: string | undefined): number | string | undefined => (s === undefined ? undefined : /^\d+$/.test(s) ? Number(s) : s);
  const { e0, edgeStep, ...fitOptions } = args.options;
  let input: AutobkBatchInput;
  let names: string[];
  const unreadable: string[] = [];
  if (series !== undefined) {
    const energyCol = colOf(energy) ?? 1;
    const spec = readSpectrum(readTextFile(series), { fileName: basename(series), energy: energyCol });
    const eIndex = energyIndex(energyCol, spec.labels);
    const cols = columns === undefined ? spec.columns.map((_, i) => i + 1).filter((c) => c !== eIndex) : columnRange(columns, spec.columns.length, eIndex);
    if (cols.length === 0) throw new RangeError(`${basename(series)}: no spectrum column besides the energy`);
    const ne = spec.energy.length;
    const packed = new Float64Array(cols.length * ne);
    cols.forEach((c, s) => packed.set(spec.columns[c - 1]!, s * ne));
    input = { energy: spec.energy, mu: packed, ...(e0 === undefined ? {} : { e0 }), ...(edgeStep === undefined ? {} : { edgeStep }) };
    names = cols.map((c) => `${basename(series!)}:${spec.labels[c - 1] ?? `c${c}`}`);
  } else {
    // A file that cannot be read is that spectrum's error; the others still run.
    const spectra: { energy: Float64Array; mu: Float64Array; e0?: number; edgeStep?: number }[] = [];
    names = [];
    for (const f of files) {
      try {
        const s = readSpectrum(readTextFile(f), { fileName: basename(f), ...(mu === undefined ? {} : { mu: colOf(mu)! }), ...(energy === undefined ? {} : { energy: colOf(energy)! }) });
        spectra.push({ energy: s.energy, mu: s.mu, ...(e0 === undefined ? {} : { e0 }), ...(edgeStep === undefined ? {} : { edgeStep }) });
        names.push(basename(f));
      } catch (e) {
        unreadable.push(`${basename(f)}: error: ${errorLine(e)}`);
      }
    }
    input = spectra;
  }
  const t0 = performance.now();
  const results = await autobkBatch(input, fitOptions, { device, ...(workers === undefined ? {} : { workers }) });
  const ms = performance.now() - t0;
  for (const line of unreadable) console.log(line);
  report(results, names, ms);
  if (out !== undefined) writeCsv(out, results, names);
  return unreadable.length > 0 || results.countStatus('error') > 0 ? 1 : 0;
}

function report(results: AutobkBatchResults, names: string[], ms: number): void {
  for (let i = 0; i < Math.min(SHOWN, results.count); i++) {
    const r = results.at(i)!;
    const name = names[r.index]!;
    if (r.status === 'error') console.log(`${name}: error: ${r.error}`);
    else console.log(`${name}: ${r.status}, e0 ${r.e0} eV, edge step ${r.edgeStep.toPrecision(6)}, ${r.details.nspl} knots, chisqr ${r.details.chisqr.toPrecision(6)}`);
  }
  if (results.count > SHOWN) console.log(`… ${results.count - SHOWN} more`);
  console.log(
    `${results.count} spectra on the ${results.device.toUpperCase()}: ${results.countStatus('converged')} converged, ${results.countStatus('max-iterations')} at the iteration limit, ${results.countStatus('error')} errors; ` +
      `${ms.toFixed(0)} ms (${Math.round(results.count / (ms / 1000))} spectra/s)`,
  );
}

function writeCsv(prefix: string, results: AutobkBatchResults, names: string[]): void {
  const summary = ['name,status,e0,edge_step,nknots,chisqr,error'];
  const records = results.toRecords();
  for (const r of records) {
    const name = JSON.stringify(names[r.index]);
    summary.push(r.status === 'error' ? `${name},error,,,,,${JSON.stringify(r.error)}` : `${name},${r.status},${r.e0},${r.edgeStep},${r.details.nspl},${r.details.chisqr},`);
  }
  writeFileSync(`${prefix}.summary.csv`, `${summary.join('\n')}\n`);
  const fitted = records.filter((r) => r.status !== 'error');
  const nk = fitted.reduce((m, r) => Math.max(m, r.k.length), 0);
  const lines = [['k', ...fitted.map((r) => JSON.stringify(names[r.index]))].join(',')];
  for (let i = 0; i < nk; i++) lines.push([results.k[i], ...fitted.map((r) => (i < r.chi.length ? r.chi[i] : ''))].join(','));
  writeFileSync(`${prefix}.chi.csv`, `${lines.join('\n')}\n`);
  console.log(`wrote ${prefix}.summary.csv and ${prefix}.chi.csv`);
}
