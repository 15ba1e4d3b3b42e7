/**
 * `batchfit stars <image.fits|.f32> [--positions file.csv | --detect] [--method gaussian] [--fwhm 3]
 *  [--gain …] [--read-noise …] [--saturation …] [--background map|annulus] [--beta …] [--threshold 5]
 *  [--out file.csv]`: one CSV row per star with every metric and its status.
 */
import { readFileSync, writeFileSync } from 'node:fs';
// From the modules themselves, not the stars index, whose batch modules start worker threads'
// handlers on import: this file also runs inside a worker (the fuzz suite's).
import { backgroundMap } from '../stars/background.js';
import { detectStars } from '../stars/detect.js';
import { readF32, readFits, type Image } from '../stars/image.js';
import { measureStars, type StarPosition } from '../stars/measure.js';
import { flagNames, FWHM_MAX, FWHM_MIN, type MeasureMethod, type MeasureOptions, type StarMeasurement } from '../stars/types.js';
import { clipForMessage, parseDecimal } from '../xafs/readSpectrum.js';
import { checkRegularFile, type NumberRange, parseNumberOption, readTextFile, reportError, UsageError } from './args.js';

const USAGE = `usage: batchfit stars <image.fits|.f32> [--positions file.csv | --detect] [--method moments|gaussian|gaussianRotated|moffat]
       [--fwhm 3] [--gain e/ADU] [--read-noise e] [--saturation ADU] [--background map|annulus] [--beta β]
       [--threshold σ] [--out file.csv]
  A .f32 image needs its .json companion (width, height) next to it. Positions CSV: a header with
  columns x and y (zero-based, pixel centres at integers), or two numeric columns.
  Numbers are plain decimals (2, 0.5, 1e-3). Exit status: 0 done, 1 a file could not be read, 2 a usage error
  (an unknown option, a value outside its range, a path that is not a regular file, a bad .json companion).`;

const COLUMNS: (keyof StarMeasurement)[] = [
  'id', 'xInput', 'yInput', 'x', 'y', 'xErr', 'yErr', 'flux', 'fwhm', 'eccentricity', 'theta', 'beta',
  'background', 'backgroundNoise', 'snr', 'peak', 'sharpness', 'roundness1', 'roundness2',
  'peakCoreRatio', 'marginalRoundness', 'marginalAsymmetry', 'laplacianSnr', 'chi2Reduced',
  'iterations', 'method', 'fitReason', 'status', 'flags', 'message',
];

/** The numeric options and their ranges (measureStars' and detectStars' own), checked before any file is read. */
export const NUMERIC: Record<string, NumberRange> = {
  '--fwhm': { min: FWHM_MIN, max: FWHM_MAX },
  '--gain': { min: 0, minOpen: true },
  '--read-noise': { min: 0 },
  '--saturation': {},
  '--beta': { min: 1.05, max: 30, minOpen: true, maxOpen: true },
  '--threshold': { min: 0, minOpen: true },
};

/** An image: FITS, or raw float32 with a .json companion giving width and height. */
function loadImage(path: string): Image {
  checkRegularFile(path);
  const bytes = new Uint8Array(readFileSync(path));
  if (path.toLowerCase().endsWith('.f32')) {
    const metaPath = path.replace(/\.f32$/i, '.json');
    let meta: unknown;
    try {
      meta = JSON.parse(readTextFile(metaPath));
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError(`${clipForMessage(metaPath, 200)}: the companion of a .f32 image must be JSON {"width": W, "height": H}: ${(e as Error).message}`);
    }
    const { width, height } = (meta ?? {}) as { width?: unknown; height?: unknown };
    if (!(Number.isInteger(width) && Number.isInteger(height) && (width as number) > 0 && (height as number) > 0)) {
      throw new UsageError(`${clipForMessage(metaPath, 200)}: width and height must be positive integers, got ${clipForMessage(JSON.stringify(meta) ?? String(meta))}`);
    }
    return readF32(bytes, { width: width as number, height: height as number });
  }
  return readFits(bytes);
}

/** Positions from a CSV: columns named x and y, or the first two columns when there is no header. */
export function parsePositions(text: string, source: string): StarPosition[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.startsWith('#'));
  if (lines.length === 0) return [];
  const split = (l: string) => l.split(/[,;\t]/).map((c) => c.trim());
  const head = split(lines[0] as string).map((c) => c.toLowerCase());
  let xi = 0;
  let yi = 1;
  let start = 0;
  if (head.some((c) => c !== '' && parseDecimal(c) === undefined)) {
    xi = head.indexOf('x');
    yi = head.indexOf('y');
    if (xi < 0 || yi < 0) throw new UsageError(`${clipForMessage(source, 200)}: the header has no columns named x and y (${clipForMessage(head.join(', '), 200)})`);
    start = 1;
  }
  // Unparsable values (also '' and hex, which Number() reads as 0 and 16) become NaN positions:
  // measureStars reports them per star instead of the run failing.
  return lines.slice(start).map((l) => {
    const c = split(l);
    return { x: parseDecimal(c[xi] ?? '') ?? NaN, y: parseDecimal(c[yi] ?? '') ?? NaN };
  });
}

function csvCell(v: unknown): string {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : Number.isNaN(v) ? '' : String(v);
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(rows: Iterable<StarMeasurement>): string {
  const out = [COLUMNS.join(',')];
  for (const r of rows) out.push(COLUMNS.map((c) => (c === 'flags' ? flagNames(r.flags).join('|') : csvCell(r[c]))).join(','));
  return `${out.join('\n')}\n`;
}

export async function starsCommand(argv: string[]): Promise<number> {
  try {
    let imagePath: string | undefined;
    let positionsPath: string | undefined;
    let detect = false;
    let outPath: string | undefined;
    let threshold = 5;
    const options: MeasureOptions = {};
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i] as string;
      const next = () => {
        const v = argv[++i];
        if (v === undefined) throw new UsageError(`${clipForMessage(a)} needs a value`);
        return v;
      };
      switch (a) {
        case '--positions': positionsPath = next(); break;
        case '--detect': detect = true; break;
        case '--method': {
          const m = next();
          if (!['moments', 'gaussian', 'gaussianRotated', 'moffat'].includes(m)) throw new UsageError(`--method must be moments, gaussian, gaussianRotated or moffat, got '${clipForMessage(m)}'`);
          options.method = m as MeasureMethod;
          break;
        }
        case '--fwhm': options.fwhm = parseNumberOption(a, next(), NUMERIC[a]); break;
        case '--gain': options.gain = parseNumberOption(a, next(), NUMERIC[a]); break;
        case '--read-noise': options.readNoise = parseNumberOption(a, next(), NUMERIC[a]); break;
        case '--saturation': options.saturation = parseNumberOption(a, next(), NUMERIC[a]); break;
        case '--beta': options.beta = parseNumberOption(a, next(), NUMERIC[a]); break;
        case '--threshold': threshold = parseNumberOption(a, next(), NUMERIC[a]); break;
        case '--background': {
          const b = next();
          if (b !== 'map' && b !== 'annulus') throw new UsageError(`--background must be map or annulus, got '${clipForMessage(b)}'`);
          options.background = b;
          break;
        }
        case '--precision': {
          const p = next();
          if (p !== 'f64' && p !== 'f32') throw new UsageError(`--precision must be f64 or f32, got '${clipForMessage(p)}'`);
          options.precision = p;
          break;
        }
        case '--out': outPath = next(); break;
        case '-h':
        case '--help':
          process.stdout.write(`${USAGE}\n`);
          return 0;
        default:
          if (a.startsWith('-')) throw new UsageError(`unknown option ${clipForMessage(a)}`);
          if (imagePath !== undefined) throw new UsageError(`more than one image given: ${clipForMessage(imagePath)}, ${clipForMessage(a)}`);
          imagePath = a;
      }
    }
    if (imagePath === undefined) throw new UsageError('no image given');
    if (detect === (positionsPath !== undefined)) throw new UsageError('give exactly one of --positions file.csv and --detect');
    const image = loadImage(imagePath);
    const map = backgroundMap(image);
    const positions = positionsPath !== undefined
      ? parsePositions(readTextFile(positionsPath), positionsPath)
      : detectStars(image, { threshold, fwhm: options.fwhm ?? 3, background: map });
    const rows = measureStars(image, positions, options, map);
    const csv = toCsv(rows);
    if (outPath !== undefined) writeFileSync(outPath, csv);
    else process.stdout.write(csv);
    const failed = rows.countStatus()[2];
    process.stderr.write(`${rows.length} stars measured (${rows.length - failed} with a position, ${failed} failed)\n`);
    return 0;
  } catch (e) {
    return reportError('batchfit stars', e);
  }}
