/**
 * `batchfit autobk-batch`: AUTOBK over many spectra at once through autobkBatch, either several
 * files (one spectrum each) or one series file (energy plus one μ column per spectrum). Prints a
 * line per spectrum (the first 20) and the totals; --out writes PREFIX.summary.csv and
 * PREFIX.chi.csv (k, then one χ column per fitted spectrum).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { autobkBatch, readSpectrum, type AutobkBatchInput, type AutobkBatchOptions, type AutobkBatchResults } from '../xafs/index.js';
import { NUMERIC } from './autobk.js';

const USAGE = `usage: batchfit autobk-batch <file…> [--mu EXPR] [--energy COL] [options]
       batchfit autobk-batch --series FILE [--energy COL] [--columns A:B] [options]
  --series: one spectrum per column A..B (1-based, default: every column but the energy)
  --device auto|gpu|cpu (default auto)   --workers N (CPU threads, 0: this thread)
  --e0 E --edge-step S (for every spectrum; default: pre_edge of each)
  --rbkg --kweight --kmin --kmax --nknots --dk --win --nclamp --clamp-lo --clamp-hi --nfft --kstep: as batchfit autobk
  --out PREFIX: write PREFIX.summary.csv and PREFIX.chi.csv`;

const SHOWN = 20;

function columnRange(spec: string, ncols: number, energyCol: number): number[] {
  const m = /^(\d+):(\d+)$/.exec(spec);
  if (m === null) throw new RangeError(`--columns '${spec}' must be A:B (1-based column numbers)`);
  const a = Number(m[1]);
  const b = Number(m[2]);
  if (!(a >= 1 && b >= a && b <= ncols)) throw new RangeError(`--columns ${spec} is outside the file's columns 1..${ncols}`);
  return Array.from({ length: b - a + 1 }, (_, i) => a + i).filter((c) => c !== energyCol);
}

export async function autobkBatchCommand(argv: string[]): Promise<number> {
  const options: AutobkBatchOptions & { e0?: number; edgeStep?: number } = {};
  const files: string[] = [];
  let series: string | undefined;
  let columns: string | undefined;
  let mu: string | undefined;
  let energy: string | undefined;
  let out: string | undefined;
  let device: 'auto' | 'gpu' | 'cpu' = 'auto';
  let workers: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') {
      console.log(USAGE);
      return 0;
    }
    if (!a.startsWith('--')) {
      files.push(a);
      continue;
    }
    const v = argv[++i];
    if (v === undefined) {
      console.error(`batchfit autobk-batch: ${a} needs a value\n${USAGE}`);
      return 2;
    }
    if (a === '--series') series = v;
    else if (a === '--columns') columns = v;
    else if (a === '--mu') mu = v;
    else if (a === '--energy') energy = v;
    else if (a === '--out') out = v;
    else if (a === '--win') options.win = v;
    else if (a === '--device') {
      if (v !== 'auto' && v !== 'gpu' && v !== 'cpu') {
        console.error(`batchfit autobk-batch: --device '${v}' must be auto, gpu or cpu`);
        return 2;
      }
      device = v;
    } else if (a === '--workers' || NUMERIC[a] !== undefined) {
      const x = Number(v);
      if (!Number.isFinite(x)) {
        console.error(`batchfit autobk-batch: ${a} = '${v}' is not a number`);
        return 2;
      }
      if (a === '--workers') workers = x;
      else (options as Record<string, number>)[NUMERIC[a]!] = x;
    } else {
      console.error(`batchfit autobk-batch: unknown option ${a}\n${USAGE}`);
      return 2;
    }
  }
  if ((series === undefined) === (files.length === 0)) {
    console.error(`batchfit autobk-batch: give either spectrum files or --series FILE\n${USAGE}`);
    return 2;
  }
  const colOf = (s: string | undefined): number | string | undefined => (s === undefined ? undefined : /^\d+$/.test(s) ? Number(s) : s);
  try {
    const { e0, edgeStep, ...fitOptions } = options;
    let input: AutobkBatchInput;
    let names: string[];
    const unreadable: string[] = [];
    if (series !== undefined) {
      const energyCol = colOf(energy) ?? 1;
      const spec = readSpectrum(readFileSync(series, 'utf8'), { fileName: basename(series), energy: energyCol });
      const eIndex = typeof energyCol === 'number' ? energyCol : spec.labels.indexOf(energyCol) + 1;
      const cols = columns === undefined ? spec.columns.map((_, i) => i + 1).filter((c) => c !== eIndex) : columnRange(columns, spec.columns.length, eIndex);
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
          const s = readSpectrum(readFileSync(f, 'utf8'), { fileName: basename(f), ...(mu === undefined ? {} : { mu: colOf(mu)! }), ...(energy === undefined ? {} : { energy: colOf(energy)! }) });
          spectra.push({ energy: s.energy, mu: s.mu, ...(e0 === undefined ? {} : { e0 }), ...(edgeStep === undefined ? {} : { edgeStep }) });
          names.push(basename(f));
        } catch (e) {
          unreadable.push(`${basename(f)}: error: ${(e as Error).message}`);
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
  } catch (e) {
    console.error(`batchfit autobk-batch: ${(e as Error).message}`);
    return 1;
  }
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
