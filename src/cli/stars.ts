/**
 * `batchfit stars <image> [--positions file.csv | --detect] [options]`: detect and measure every
 * star of a frame (FITS, .fits.gz, TIFF, raw .f32 with its .json companion), one catalogue row per
 * star with every metric and its status, as CSV, ECSV or Parquet with units; --plot adds stamps
 * with the fitted centres and FWHM/ellipticity across the frame as SVG.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Command } from 'commander';
// From the modules themselves, not the stars index, whose batch modules start worker threads'
// handlers on import: this file also runs inside a worker (the fuzz suite's). The batch path
// (--device gpu|auto or --workers > 0) is imported when asked for.
import { backgroundMap, type BackgroundOptions } from '../stars/background.js';
import type { StarCatalogue } from '../stars/catalogue.js';
import { STATUS_OK } from '../stars/catalogue.js';
import { detectStars, type DetectOptions } from '../stars/detect.js';
import type { Image } from '../stars/image.js';
import { measureStars, stampRadius, type StarPosition } from '../stars/measure.js';
import { readImage } from '../stars/readImage.js';
import { FWHM_MAX, FWHM_MIN, type MeasureMethod, type MeasureOptions } from '../stars/types.js';
import { catalogueCsv, writeCatalogue } from '../io/catalogue.js';
import { renderSvg } from '../plot/render.js';
import { shapeMapPlot, stampsPlot } from '../plot/stars.js';
import { clipForMessage, parseDecimal } from '../xafs/readSpectrum.js';
import { checkInputFile, checkOutputs, choiceArg, EXIT_CODES, type NumberRange, numberArg, parseCommand, readTextFile, reportError, UsageError } from './args.js';

/** The numeric options and their ranges (measureStars', detectStars' and backgroundMap's own), checked before any file is read. */
export const NUMERIC: Record<string, NumberRange> = {
  '--fwhm': { min: FWHM_MIN, max: FWHM_MAX },
  '--gain': { min: 0, minOpen: true },
  '--read-noise': { min: 0 },
  '--saturation': {},
  '--beta': { min: 1.05, max: 30, minOpen: true, maxOpen: true },
  '--threshold': { min: 0, minOpen: true },
  '--min-separation': { min: 1, max: 4 * FWHM_MAX },
  '--sharplo': {},
  '--sharphi': {},
  '--roundlo': {},
  '--roundhi': {},
  '--min-fwhm-ratio': { min: 0, max: 1 },
  '--back-size': { min: 8, max: 65536, integer: true },
  '--back-filter-size': { min: 1, max: 15, integer: true },
  '--back-kappa': { min: 0, max: 1000, minOpen: true },
  '--back-iterations': { min: 0, max: 100, integer: true },
  '--workers': { min: 0, max: 1024, integer: true },
};

const FORMATS = ['csv', 'ecsv', 'parquet'] as const;
type CatalogueFormat = (typeof FORMATS)[number];
/** Stamps shown by --plot: the brightest measured stars. */
const PLOTTED_STAMPS = 6;

const HELP_AFTER = `
Positions CSV: a header with columns x and y (zero-based, pixel centres at integers), or two
numeric columns. Output: --out FILE, its format from the extension (.csv with unit comments,
.ecsv for astropy's Table.read(format='ascii.ecsv') with units, .parquet) or --format; without
--out, CSV on stdout. Existing files need --force.
--plot (needs --out): FILE-without-extension.stamps.svg (the ${PLOTTED_STAMPS} brightest measured stars,
stamps with their fitted centres) and .shape.svg (FWHM and ellipticity across the frame).
Device: cpu with --workers 0 (default) measures in this thread; --device auto|gpu or --workers N
use the batch path (GPU when a hardware adapter exists for auto, else N worker threads).
${EXIT_CODES}`;

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

/** The frame: through readImage (the reader chosen by the first bytes), a .f32 with its .json companion. */
async function loadImage(path: string): Promise<{ image: Image; notes: string[] }> {
  checkInputFile(path);
  const bytes = new Uint8Array(readFileSync(path));
  let meta: { width: number; height: number } | undefined;
  if (path.toLowerCase().endsWith('.f32')) {
    const metaPath = path.replace(/\.f32$/i, '.json');
    let parsed: unknown;
    try {
      parsed = JSON.parse(readTextFile(metaPath));
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError(`${clipForMessage(metaPath, 200)}: the companion of a .f32 image must be JSON {"width": W, "height": H}: ${(e as Error).message}`);
    }
    const { width, height } = (parsed ?? {}) as { width?: unknown; height?: unknown };
    if (!(Number.isInteger(width) && Number.isInteger(height) && (width as number) > 0 && (height as number) > 0)) {
      throw new UsageError(`${clipForMessage(metaPath, 200)}: width and height must be positive integers, got ${clipForMessage(JSON.stringify(parsed) ?? String(parsed))}`);
    }
    meta = { width: width as number, height: height as number };
  }
  const file = await readImage(bytes, basename(path), meta);
  return { image: file, notes: file.notes };
}

interface StarsArgs {
  positions?: string;
  detect?: boolean;
  out?: string;
  format?: CatalogueFormat;
  plot?: boolean;
  force?: boolean;
  device?: 'cpu' | 'gpu' | 'auto';
  workers?: number;
  progress?: boolean;
}

/** Runs `batchfit stars` on `argv` (the words after the command); resolves to the exit status. */
export async function starsCommand(argv: string[]): Promise<number> {
  try {
    const options: MeasureOptions = {};
    const detect: DetectOptions = { threshold: 5 };
    const back: BackgroundOptions = {};
    const num = (name: string) => numberArg(name, NUMERIC[name]);
    const into = <T extends object>(o: T, key: keyof T, name: string) => (v: string) => void ((o as Record<string, number>)[key as string] = num(name)(v));
    const cmd = new Command('batchfit stars')
      .description('detect and measure every star of a frame: centre, flux, FWHM, shape, S/N and a status per star')
      .argument('<image>', 'FITS, .fits.gz, TIFF, or raw float32 .f32 with its .json companion {width, height}')
      .option('--positions <file.csv>', 'measure at these positions (columns x, y, zero-based pixels)')
      .option('--detect', 'find the stars first (matched filter, photutils DAOStarFinder-like)')
      .option('--method <m>', 'moments, gaussian (default), gaussianRotated or moffat (PSF model fitted)', (v: string) => void (options.method = choiceArg('--method', ['moments', 'gaussian', 'gaussianRotated', 'moffat'] as const)(v) as MeasureMethod))
      .option('--fwhm <px>', `expected FWHM in pixels, ${FWHM_MIN}…${FWHM_MAX.toFixed(3)} (photutils fwhm), default 3`, (v: string) => {
        options.fwhm = num('--fwhm')(v);
        detect.fwhm = options.fwhm;
      })
      .option('--gain <e/ADU>', 'detector gain in e⁻/ADU (SEP gain): adds source Poisson noise to weights and S/N', into(options, 'gain', '--gain'))
      .option('--read-noise <e>', 'read noise in e⁻: a floor on the sky variance', into(options, 'readNoise', '--read-noise'))
      .option('--saturation <ADU>', 'saturation level in ADU; default: from the file (FITS SATURATE/DATAMAX, integer type)', into(options, 'saturation', '--saturation'))
      .option('--background <how>', 'local sky: map (default, the mesh map at the star) or annulus (3σ-clipped R…1.5R)', (v: string) => void (options.background = choiceArg('--background', ['map', 'annulus'] as const)(v)))
      .option('--beta <β>', 'Moffat β held fixed, in (1.05, 30); default fitted', into(options, 'beta', '--beta'))
      .option('--sky-slope <how>', "PSF fit's sky: fit (B, Bx, By fitted with the star; default for the Gaussian fits) or fixed (the local plane subtracted, only B fitted; default for Moffat)", (v: string) => void (options.skySlope = choiceArg('--sky-slope', ['fixed', 'fit'] as const)(v)))
      .option('--precision <p>', 'PSF fit arithmetic: f64 (default) or f32', (v: string) => void (options.precision = choiceArg('--precision', ['f64', 'f32'] as const)(v)))
      .option('--threshold <σ>', 'detection threshold in σ of the smoothed image (SEP thresh, photutils threshold), default 5', into(detect, 'threshold', '--threshold'))
      .option('--min-separation <px>', 'a peak must be the highest within this radius (photutils min_separation), default fwhm', into(detect, 'minSeparation', '--min-separation'))
      .option('--daofind', "apply DAOFIND's sharpness and roundness cuts (photutils DAOStarFinder)")
      .option('--sharplo <s>', 'with --daofind: lowest sharpness kept (photutils sharplo), default 0.2', into(detect, 'sharplo', '--sharplo'))
      .option('--sharphi <s>', 'with --daofind: highest sharpness kept (photutils sharphi), default 1', into(detect, 'sharphi', '--sharphi'))
      .option('--roundlo <r>', 'with --daofind: lowest roundness1/2 kept (photutils roundlo), default −1', into(detect, 'roundlo', '--roundlo'))
      .option('--roundhi <r>', 'with --daofind: highest roundness1/2 kept (photutils roundhi), default 1', into(detect, 'roundhi', '--roundhi'))
      .option('--min-fwhm-ratio <f>', 'reject candidates narrower than this fraction of the median FWHM (hot pixels, cosmic rays), 0…1, default 0.5', into(detect, 'minFwhmRatio', '--min-fwhm-ratio'))
      .option('--back-size <px>', 'background mesh size in pixels (SExtractor BACK_SIZE, SEP bw=bh, photutils box_size), default 64', into(back, 'tileSize', '--back-size'))
      .option('--back-filter-size <n>', 'median filter over the meshes, odd (SExtractor BACK_FILTERSIZE, SEP fw=fh, photutils filter_size), default 3', into(back, 'filterSize', '--back-filter-size'))
      .option('--back-kappa <σ>', "clipping of each mesh's histogram in σ (photutils sigma_clip sigma), default 3", into(back, 'kappa', '--back-kappa'))
      .option('--back-iterations <n>', 'most clipping iterations (photutils maxiters), default 100', into(back, 'iterations', '--back-iterations'))
      .option('--device <d>', 'cpu (default), gpu, or auto (the GPU when a hardware adapter exists, else the CPU)', choiceArg('--device', ['cpu', 'gpu', 'auto'] as const))
      .option('--workers <n>', 'CPU worker threads for the batch path; default 0: this thread', numberArg('--workers', NUMERIC['--workers']))
      .option('--progress', 'progress bar on stderr (batch path) even when it is not a terminal')
      .option('--no-progress', 'never show the progress bar')
      .option('--out <file>', 'write the catalogue here (.csv, .ecsv or .parquet); default: CSV on stdout')
      .option('--format <fmt>', 'csv, ecsv or parquet (default: from the --out extension)', choiceArg('--format', FORMATS))
      .option('--plot', 'with --out: write stamps and FWHM/ellipticity maps as SVG')
      .option('--force', 'overwrite existing outputs');
    cmd.addHelpText('after', HELP_AFTER);
    if (!parseCommand(cmd, argv)) return 0;
    const imagePath = cmd.args[0]!;
    const o = cmd.opts<StarsArgs & { daofind?: boolean }>();
    if ((o.detect === true) === (o.positions !== undefined)) throw new UsageError('give exactly one of --positions file.csv and --detect');
    if (o.daofind) detect.daofind = true;
    let format: CatalogueFormat | undefined = o.format;
    if (o.out !== undefined && format === undefined) {
      const ext = /\.([a-z]+)$/i.exec(o.out)?.[1]?.toLowerCase();
      format = FORMATS.find((f) => f === ext);
      if (format === undefined) throw new UsageError(`--out ${clipForMessage(o.out, 200)}: give a .csv, .ecsv or .parquet name, or --format`);
    }
    if (o.plot && o.out === undefined) throw new UsageError('--plot needs --out FILE (the plots are written beside it)');
    const plotPrefix = o.out?.replace(/\.[^./\\]*$/, '');
    const outputs = o.out === undefined ? [] : [o.out, ...(o.plot ? [`${plotPrefix}.stamps.svg`, `${plotPrefix}.shape.svg`] : [])];
    checkOutputs(outputs, o.force === true);
    const { image, notes } = await loadImage(imagePath);
    for (const n of notes) process.stderr.write(`note: ${n}\n`);
    const map = backgroundMap(image, back);
    const positions = o.positions !== undefined
      ? parsePositions(readTextFile(o.positions), o.positions)
      : detectStars(image, { ...detect, background: map });
    const device = o.device ?? 'cpu';
    const workers = o.workers ?? 0;
    let rows: StarCatalogue;
    if (device === 'cpu' && workers === 0) rows = measureStars(image, positions, options, map);
    else {
      const { measureStarsBatch } = await import('../stars/measureBatch.js');
      const { SingleBar } = await import('cli-progress');
      const showBar = o.progress ?? process.stderr.isTTY === true;
      const bar = showBar ? new SingleBar({ format: 'stars [{bar}] {percentage}% | {value}/{total} stars', stream: process.stderr, noTTYOutput: o.progress === true, notTTYSchedule: 250 }) : null;
      bar?.start(positions.length, 0);
      try {
        rows = await measureStarsBatch(image, positions, options, { device, workers, background: map, ...(bar === null ? {} : { onProgress: (done: number) => bar.update(done) }) });
      } finally {
        bar?.stop();
      }
    }
    const meta = { image: basename(imagePath), width: String(image.width), height: String(image.height), method: options.method ?? 'gaussian', device: rows.meta.device, created_by: 'batchfit stars' };
    if (o.out === undefined) process.stdout.write(catalogueCsv(rows, []));
    else await writeCatalogue(rows, o.out, format!, meta);
    if (o.plot) {
      const order = Array.from({ length: rows.length }, (_, i) => i).filter((i) => rows.status[i] === STATUS_OK).sort((a, b) => rows.flux[b]! - rows.flux[a]!);
      const shown = order.slice(0, PLOTTED_STAMPS).map((i) => ({ id: i, x: rows.x[i]!, y: rows.y[i]! }));
      const ok = order.slice().sort((a, b) => a - b);
      const pick = (col: ArrayLike<number>) => ok.map((i) => col[i]!);
      writeFileSync(`${plotPrefix}.stamps.svg`, await renderSvg(stampsPlot(image, shown, stampRadius(options.fwhm ?? 3))));
      writeFileSync(`${plotPrefix}.shape.svg`, await renderSvg(shapeMapPlot(image.width, image.height, { x: pick(rows.x), y: pick(rows.y), fwhm: pick(rows.fwhm), ellipticity: pick(rows.ellipticity) })));
    }
    const [okCount, fallback, failed] = rows.countStatus();
    process.stderr.write(`${rows.length} stars measured on the ${rows.meta.device.toUpperCase()}: ${okCount} ok, ${fallback} fallback, ${failed} failed${o.out === undefined ? '' : `; wrote ${o.out}${o.plot ? `, ${plotPrefix}.stamps.svg and ${plotPrefix}.shape.svg` : ''}`}\n`);
    return failed > 0 ? 1 : 0;
  } catch (e) {
    return reportError('batchfit stars', e);
  }
}

