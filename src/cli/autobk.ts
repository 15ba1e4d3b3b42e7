/**
 * `batchfit autobk <file> [options]`: AUTOBK on one spectrum file; prints e0, edge step, knots and
 * chisqr, writes <prefix>.chi.csv (k, chi) and <prefix>.bkg.csv (energy, mu, bkg). With no
 * arguments it runs on the bundled Cu foil and only prints the summary.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { autobk, readSpectrum, type AutobkOptions } from '../xafs/index.js';

const USAGE = `usage: batchfit autobk <file> [--mu EXPR] [--energy COL] [--e0 E] [--edge-step S]
       [--rbkg 1] [--kweight 1] [--kmin 0] [--kmax K] [--nknots N] [--dk 0.1] [--win hanning]
       [--nclamp 3] [--clamp-lo 0] [--clamp-hi 1] [--out PREFIX]
  --mu: column number, label or expression, e.g. 'log(c3/c4)' or 'sum(c45:c57)/c4' (default column 2)
  --out: write PREFIX.chi.csv (k,chi) and PREFIX.bkg.csv (energy,mu,bkg); default: the file name`;

export const NUMERIC: Record<string, keyof AutobkOptions> = {
  '--e0': 'e0',
  '--edge-step': 'edgeStep',
  '--rbkg': 'rbkg',
  '--kweight': 'kweight',
  '--kmin': 'kmin',
  '--kmax': 'kmax',
  '--nknots': 'nknots',
  '--dk': 'dk',
  '--nclamp': 'nclamp',
  '--clamp-lo': 'clampLo',
  '--clamp-hi': 'clampHi',
  '--nfft': 'nfft',
  '--kstep': 'kstep',
};

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
      if (v === undefined) {
        console.error(`batchfit autobk: ${a} needs a value\n${USAGE}`);
        return 2;
      }
      if (a === '--mu') mu = v;
      else if (a === '--energy') energy = v;
      else if (a === '--out') out = v;
      else if (a === '--win') options.win = v;
      else if (NUMERIC[a] !== undefined) {
        const x = Number(v);
        if (!Number.isFinite(x)) {
          console.error(`batchfit autobk: ${a} = '${v}' is not a number`);
          return 2;
        }
        (options as Record<string, number>)[NUMERIC[a]] = x;
      } else {
        console.error(`batchfit autobk: unknown option ${a}\n${USAGE}`);
        return 2;
      }
    } else if (file === undefined) {
      file = a;
    } else {
      console.error(`batchfit autobk: unexpected argument '${a}'\n${USAGE}`);
      return 2;
    }
  }
  const demo = file === undefined;
  const path = file ?? join(projectRoot(), 'test', 'fixtures', 'xafs', 'cu_rt01.xmu');
  try {
    const text = readFileSync(path, 'utf8');
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
    console.error(`batchfit autobk: ${(e as Error).message}`);
    return 1;
  }
}
