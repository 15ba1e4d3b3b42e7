/**
 * `batchfit stars <image.fits|.f32> [--positions file.csv | --detect] [--method gaussian] [--fwhm 3]
 *  [--gain …] [--read-noise …] [--saturation …] [--background map|annulus] [--beta …] [--threshold 5]
 *  [--out file.csv]`: one CSV row per star with every metric and its status.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import {
  backgroundMap,
  detectStars,
  flagNames,
  measureStars,
  readF32,
  readFits,
  type Image,
  type MeasureMethod,
  type MeasureOptions,
  type StarMeasurement,
  type StarPosition,
} from '../stars/index.js';

const USAGE = `usage: batchfit stars <image.fits|.f32> [--positions file.csv | --detect] [--method moments|gaussian|gaussianRotated|moffat]
       [--fwhm 3] [--gain e/ADU] [--read-noise e] [--saturation ADU] [--background map|annulus] [--beta β]
       [--threshold σ] [--out file.csv]
  A .f32 image needs its .json companion (width, height) next to it. Positions CSV: a header with
  columns x and y (zero-based, pixel centres at integers), or two numeric columns.`;

const COLUMNS: (keyof StarMeasurement)[] = [
  'id', 'xInput', 'yInput', 'x', 'y', 'xErr', 'yErr', 'flux', 'fwhm', 'eccentricity', 'theta', 'beta',
  'background', 'backgroundNoise', 'snr', 'peak', 'sharpness', 'roundness1', 'roundness2',
  'peakCoreRatio', 'marginalRoundness', 'marginalAsymmetry', 'laplacianSnr', 'chi2Reduced',
  'iterations', 'method', 'fitReason', 'status', 'flags', 'message',
];

class UsageError extends Error {}

function numberArg(name: string, v: string | undefined): number {
  const x = Number(v);
  if (v === undefined || v.trim() === '' || !Number.isFinite(x)) throw new UsageError(`--${name} needs a number, got ${v === undefined ? 'nothing' : `'${v}'`}`);
  return x;
}

function loadImage(path: string): Image {
  const bytes = new Uint8Array(readFileSync(path));
  if (path.toLowerCase().endsWith('.f32')) {
    const metaPath = path.replace(/\.f32$/i, '.json');
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as { width: number; height: number };
    return readF32(bytes, meta);
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
  if (head.some((c) => c !== '' && !Number.isFinite(Number(c)))) {
    xi = head.indexOf('x');
    yi = head.indexOf('y');
    if (xi < 0 || yi < 0) throw new UsageError(`${source}: the header has no columns named x and y (${head.join(', ')})`);
    start = 1;
  }
  // Unparsable values become NaN positions: measureStars reports them per star instead of the run failing.
  return lines.slice(start).map((l) => {
    const c = split(l);
    return { x: Number(c[xi] ?? NaN), y: Number(c[yi] ?? NaN) };
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
        if (v === undefined) throw new UsageError(`${a} needs a value`);
        return v;
      };
      switch (a) {
        case '--positions': positionsPath = next(); break;
        case '--detect': detect = true; break;
        case '--method': {
          const m = next();
          if (!['moments', 'gaussian', 'gaussianRotated', 'moffat'].includes(m)) throw new UsageError(`--method must be moments, gaussian, gaussianRotated or moffat, got '${m}'`);
          options.method = m as MeasureMethod;
          break;
        }
        case '--fwhm': options.fwhm = numberArg('fwhm', next()); break;
        case '--gain': options.gain = numberArg('gain', next()); break;
        case '--read-noise': options.readNoise = numberArg('read-noise', next()); break;
        case '--saturation': options.saturation = numberArg('saturation', next()); break;
        case '--beta': options.beta = numberArg('beta', next()); break;
        case '--threshold': threshold = numberArg('threshold', next()); break;
        case '--background': {
          const b = next();
          if (b !== 'map' && b !== 'annulus') throw new UsageError(`--background must be map or annulus, got '${b}'`);
          options.background = b;
          break;
        }
        case '--precision': {
          const p = next();
          if (p !== 'f64' && p !== 'f32') throw new UsageError(`--precision must be f64 or f32, got '${p}'`);
          options.precision = p;
          break;
        }
        case '--out': outPath = next(); break;
        case '-h':
        case '--help':
          process.stdout.write(`${USAGE}\n`);
          return 0;
        default:
          if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
          if (imagePath !== undefined) throw new UsageError(`more than one image given: ${imagePath}, ${a}`);
          imagePath = a;
      }
    }
    if (imagePath === undefined) throw new UsageError('no image given');
    if (detect === (positionsPath !== undefined)) throw new UsageError('give exactly one of --positions file.csv and --detect');
    const image = loadImage(imagePath);
    const map = backgroundMap(image);
    const positions = positionsPath !== undefined
      ? parsePositions(readFileSync(positionsPath, 'utf8'), positionsPath)
      : detectStars(image, { threshold, fwhm: options.fwhm ?? 3, background: map });
    const rows = measureStars(image, positions, options, map);
    const csv = toCsv(rows);
    if (outPath !== undefined) writeFileSync(outPath, csv);
    else process.stdout.write(csv);
    const failed = rows.countStatus()[2];
    process.stderr.write(`${rows.length} stars measured (${rows.length - failed} with a position, ${failed} failed)\n`);
    return 0;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`batchfit stars: ${msg}\n`);
    if (e instanceof UsageError) process.stderr.write(`${USAGE}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
}
