/**
 * The demo a scientist sees first (`npm start`, `npx batchfit`): both sciences on the data shipped
 * in the package's `data/` folder, on the CPU in float64 (no adapter start-up, the same numbers
 * everywhere), each step with what it did, then the commands to try next.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
// From the modules themselves, not the indexes, whose batch modules register worker handlers on import.
import { STATUS_OK } from '../stars/catalogue.js';
import { detectStars } from '../stars/detect.js';
import { readF32 } from '../stars/image.js';
import { measureStars } from '../stars/measure.js';
import { autobk } from '../xafs/autobk.js';
import { preEdge } from '../xafs/preEdge.js';
import { readSpectrum } from '../xafs/readSpectrum.js';
import { xftf } from '../xafs/xft.js';

/** The package's `data/` folder: two levels above this module in `src/cli/` and in `dist/cli/`. */
export const DEMO_DATA_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'data');

/** A path as a scientist would type it: relative to the working directory when that is shorter. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.length < path.length ? rel : path;
}

function median(values: number[]): number {
  const s = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Runs the demo: Larch's pre_edge, autobk and xftf on a Cu foil spectrum, then star detection and
 * Gaussian PSF fits on a synthetic frame whose truth ships beside it. Writes its report through
 * `print` (default: standard output) and returns the exit status (0).
 * @param dataDir the folder holding `xafs/cu_rt01.xmu` and `stars/stars_gauss_iso.{f32,json}` (default: the package's `data/`).
 */
export async function runDemo(print: (line: string) => void = console.log, dataDir: string = DEMO_DATA_DIR): Promise<number> {
  const xmu = join(dataDir, 'xafs', 'cu_rt01.xmu');
  const frame = join(dataDir, 'stars', 'stars_gauss_iso.f32');
  print('batchfit demo: both sciences on data shipped with the package (CPU, float64)');
  print('');

  let t0 = performance.now();
  const spectrum = readSpectrum(readFileSync(xmu, 'utf8'), { mu: 2, fileName: xmu });
  const pre = preEdge(spectrum.energy, spectrum.mu);
  const bk = autobk(spectrum.energy, spectrum.mu, { rbkg: 1, kweight: 2 });
  const ft = xftf(bk.k, bk.chi, { kmin: 3, kmax: 14, dk: 1, window: 'hanning', kweight: 2 });
  const xafsMs = performance.now() - t0;
  let peak = 0;
  for (let i = 1; i < ft.r.length; i++) if (ft.chirMag[i]! > ft.chirMag[peak]!) peak = i;
  print(`XAFS: Cu foil, Cu K edge, transmission (${shown(xmu)}, ${spectrum.energy.length} points, μ = column 2)`);
  print(`  preEdge  e0 = ${pre.e0.toFixed(2)} eV, edge step = ${pre.edgeStep.toFixed(3)}`);
  print(
    `  autobk   rbkg = 1 Å, kweight = 2: ${bk.details.nspl} spline knots, chi-square = ${bk.details.chisqr.toPrecision(4)}, ` +
      `χ(k) on k = 0…${bk.k[bk.k.length - 1]!.toFixed(2)} Å⁻¹`,
  );
  print(`  xftf     k = 3…14 Å⁻¹, k² weight, Hanning window (dk = 1): largest |χ(R)| = ${ft.chirMag[peak]!.toFixed(3)} at R = ${ft.r[peak]!.toFixed(2)} Å`);
  print(`           (the first Cu–Cu shell, 2.55 Å, without phase correction)   [${xafsMs.toFixed(0)} ms]`);
  print('');

  t0 = performance.now();
  const meta = JSON.parse(readFileSync(frame.replace(/\.f32$/, '.json'), 'utf8')) as {
    width: number;
    height: number;
    stars: { x: number; y: number; fwhm: number }[];
  };
  const image = readF32(new Uint8Array(readFileSync(frame)), meta);
  const found = detectStars(image, { fwhm: 3, threshold: 5 });
  const catalogue = measureStars(image, found, { method: 'gaussian', fwhm: 3, gain: 1.5, readNoise: 5 });
  const starsMs = performance.now() - t0;
  const fwhms: number[] = [];
  const offsets: number[] = [];
  let ok = 0;
  for (let i = 0; i < catalogue.length; i++) {
    if (catalogue.status[i] !== STATUS_OK) continue;
    ok++;
    fwhms.push(catalogue.fwhm[i]!);
    let best = Infinity;
    for (const s of meta.stars) best = Math.min(best, Math.hypot(s.x - catalogue.x[i]!, s.y - catalogue.y[i]!));
    if (best < 1.5) offsets.push(best);
  }
  print(`Stars: synthetic ${meta.width}×${meta.height} frame, ${meta.stars.length} stars of FWHM 3 px (${shown(frame)})`);
  print(`  detectStars   5σ threshold, FWHM 3 px: ${found.length} stars found`);
  print(`  measureStars  Gaussian PSF fits (gain 1.5 e⁻/ADU, read noise 5 e⁻): ${ok} ok, median FWHM = ${median(fwhms).toFixed(3)} px`);
  print(`                distance to the true positions: median ${median(offsets).toFixed(3)} px over ${offsets.length} matched stars   [${starsMs.toFixed(0)} ms]`);
  print('');
  print('Next, try:');
  print(`  npx batchfit autobk ${shown(xmu)} --mu 2 --kweight 2     # χ(k), bkg and χ(R) files for this spectrum`);
  print(`  npx batchfit stars ${shown(frame)} --detect --method gaussian   # the star catalogue as CSV`);
  print('  npx batchfit --help');
  return 0;
}

// `node dist/cli/demo.js` (npm start) runs the demo; importing the module does not.
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runDemo().then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      console.error(`batchfit demo: ${e instanceof Error ? e.message : String(e)}`);
      process.exitCode = 1;
    },
  );
}
