/**
 * `batchfit autobk <file> [options]`: AUTOBK on one spectrum file; prints e0, edge step, knots and
 * chisqr, writes <prefix>.chi.csv (k, chi) and <prefix>.bkg.csv (energy, mu, bkg). With no
 * arguments it runs on the bundled Cu foil and only prints the summary.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
// From the modules themselves, not the xafs index, whose batch modules start worker threads'
// handlers on import: this file also runs inside a worker (the fuzz suite's).
import { autobk, MAX_CLAMP, MAX_RBKG, type AutobkOptions } from '../xafs/autobk.js';
import { clipForMessage, readSpectrum } from '../xafs/readSpectrum.js';
import { MAX_K, MAX_KSTEP, MAX_KWEIGHT, MAX_NFFT, MIN_KSTEP, MIN_NFFT } from '../xafs/validate.js';
import { type NumberRange, parseNumberOption, readTextFile, reportError, UsageError } from './args.js';

const USAGE = `usage: batchfit autobk <file> [--mu EXPR] [--energy COL] [--e0 E] [--edge-step S]
       [--rbkg 1] [--kweight 1] [--kmin 0] [--kmax K] [--nknots N] [--dk 0.1] [--win hanning]
       [--nclamp 3] [--clamp-lo 0] [--clamp-hi 1] [--out PREFIX]
  --mu: column number, label or expression, e.g. 'log(c3/c4)' or 'sum(c45:c57)/c4' (default column 2)
  --out: write PREFIX.chi.csv (k,chi) and PREFIX.bkg.csv (energy,mu,bkg); default: the file name
  Numbers are plain decimals (2, 0.5, 1e-3). Exit status: 0 done, 1 a file or fit failed, 2 a usage error
  (an unknown option, a value outside its range, a path that is not a regular file).`;

/**
 * The numeric AUTOBK options of the command line and their ranges, the library's own
 * (src/xafs/validate.ts), checked here so that a bad value is a usage error (exit 2) before the
 * file is read; the library checks the data-dependent limits (e0 inside the energy range, kmax
 * clipped to the data). The clamp weights' bound is autobk's (|clamp| ≤ 1000).
 */
export const NUMERIC: Record<string, { key: keyof AutobkOptions; range: NumberRange }> = {
  '--e0': { key: 'e0', range: {} },
  '--edge-step': { key: 'edgeStep', range: {} },
  '--rbkg': { key: 'rbkg', range: { min: 0, max: MAX_RBKG, minOpen: true } },
  '--kweight': { key: 'kweight', range: { min: 0, max: MAX_KWEIGHT } },
  '--kmin': { key: 'kmin', range: { min: 0, max: MAX_K } },
  '--kmax': { key: 'kmax', range: {} },
  '--nknots': { key: 'nknots', range: { min: 1, integer: true } },
  '--dk': { key: 'dk', range: { min: 0, max: MAX_K } },
  '--nclamp': { key: 'nclamp', range: { min: 0, max: 100, integer: true } },
  '--clamp-lo': { key: 'clampLo', range: { min: -MAX_CLAMP, max: MAX_CLAMP } },
  '--clamp-hi': { key: 'clampHi', range: { min: -MAX_CLAMP, max: MAX_CLAMP } },
  '--nfft': { key: 'nfft', range: { min: MIN_NFFT, max: MAX_NFFT, powerOfTwo: true } },
  '--kstep': { key: 'kstep', range: { min: MIN_KSTEP, max: MAX_KSTEP } },
};

const WINDOWS = ['hanning', 'parzen', 'welch', 'kaiser', 'gaussian', 'sine'];

/**
 * Sets the AUTOBK option `a` (a name of NUMERIC, or --win) from `v`; false when `a` is not one of
 * them. Throws a UsageError for a value out of range.
 */
export function setAutobkOption(options: AutobkOptions, a: string, v: string): boolean {
  if (a === '--win') {
    // The library matches window names on their first three letters.
    if (!WINDOWS.some((w) => w.slice(0, 3) === v.trim().toLowerCase().slice(0, 3))) {
      throw new UsageError(`--win = '${clipForMessage(v)}' is not one of ${WINDOWS.join(', ')}`);
    }
    options.win = v;
    return true;
  }
  const spec = NUMERIC[a];
  if (spec === undefined) return false;
  (options as Record<string, number>)[spec.key] = parseNumberOption(a, v, spec.range);
  return true;
}

/** The directory holding package.json, from src/cli (vitest) or dist/cli (built). */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the batchfit package root (package.json)');
    dir = up;
  }
  return dir;
}

export async function autobkCommand(argv: string[]): Promise<number> {
  try {
    const options: AutobkOptions = {};
    let file: string | undefined;
    let mu: string | undefined;
    let energy: string | undefined;
    let out: string | undefined;
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === '-h' || a === '--help') {
        console.log(USAGE);
        return 0;
      }
      if (a.startsWith('--')) {
        const v = argv[++i];
        if (v === undefined) throw new UsageError(`${clipForMessage(a)} needs a value`);
        if (a === '--mu') mu = v;
        else if (a === '--energy') energy = v;
        else if (a === '--out') out = v;
        else if (!setAutobkOption(options, a, v)) throw new UsageError(`unknown option ${clipForMessage(a)}`);
      } else if (file === undefined) {
        file = a;
      } else {
        throw new UsageError(`unexpected argument '${clipForMessage(a)}'`);
      }
    }
    const demo = file === undefined;
    const path = file ?? join(projectRoot(), 'test', 'fixtures', 'xafs', 'cu_rt01.xmu');
    const text = readTextFile(path);
    const spec = readSpectrum(text, {
      fileName: basename(path),
      ...(mu === undefined ? {} : { mu: /^\d+$/.test(mu) ? Number(mu) : mu }),
      ...(energy === undefined ? {} : { energy: /^\d+$/.test(energy) ? Number(energy) : energy }),
    });
    const t0 = performance.now();
    const r = autobk(spec.energy, spec.mu, options);
    const ms = performance.now() - t0;
    const d = r.details;
    console.log(`${basename(path)}${demo ? ' (bundled Cu foil)' : ''}: ${r.energy.length} points`);
    console.log(`  e0         ${r.e0} eV`);
    console.log(`  edge step  ${r.edgeStep.toPrecision(8)}`);
    console.log(`  knots      ${d.nspl} (irbkg ${d.irbkg}, k ${d.kmin}..${d.kmax.toFixed(3)} 1/Å, rbkg ${d.rbkg})`);
    console.log(`  chisqr     ${d.chisqr.toPrecision(8)} (redchi ${d.redchi.toPrecision(6)}, ${d.nfev} evaluations, ${ms.toFixed(2)} ms)`);
    for (const w of d.warnings) console.log(`  note: ${w}`);
    if (r.droppedNonFinite > 0) console.log(`  note: ${r.droppedNonFinite} rows with non-finite values dropped`);
    if (!demo) {
      const prefix = out ?? path.replace(/\.[^./\\]*$/, '');
      const chiLines = ['k,chi', ...Array.from(r.k, (k, i) => `${k},${r.chi[i]}`)];
      const bkgLines = ['energy,mu,bkg', ...Array.from(r.energy, (e, i) => `${e},${r.mu[i]},${r.bkg[i]}`)];
      writeFileSync(`${prefix}.chi.csv`, `${chiLines.join('\n')}\n`);
      writeFileSync(`${prefix}.bkg.csv`, `${bkgLines.join('\n')}\n`);
      console.log(`  wrote ${prefix}.chi.csv and ${prefix}.bkg.csv`);
    }
    return 0;
  } catch (e) {
    return reportError('batchfit autobk', e);
  }
}
