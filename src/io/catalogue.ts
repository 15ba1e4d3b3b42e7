/**
 * A star catalogue as a table with units: CSV (unit comments), ECSV (astropy's enhanced CSV:
 * `Table.read(path, format='ascii.ecsv')` gives a Table with units) and Parquet. Column names
 * are the catalogue's fields; the descriptions give the photutils/SEP name where it differs.
 */
import { writeFileSync } from 'node:fs';
import { FIT_REASONS } from '../stars/psfModel.js';
import { MEASURE_METHODS, STAR_STATUS, type StarCatalogue } from '../stars/catalogue.js';
import { flagNames } from '../stars/types.js';
import { csvNumber, csvText, unitComments } from './csv.js';
import { openTable, type TableChunk, type TableColumn } from './batchTable.js';

const f = (name: string, unit: string, description: string): TableColumn => ({ name, kind: 'float64', unit, description });
const s = (name: string, description: string): TableColumn => ({ name, kind: 'string', unit: '', description });

/** The catalogue's columns, in the order written. Units in astropy's spelling (pix, adu, rad). */
export const CATALOGUE_COLUMNS: readonly TableColumn[] = [
  { name: 'id', kind: 'int32', unit: '', description: 'index of the input position' },
  f('xInput', 'pix', 'input x, zero-based, pixel centres at integers'),
  f('yInput', 'pix', 'input y'),
  f('x', 'pix', 'measured centre x (photutils xcentroid, SEP x minus 0)'),
  f('y', 'pix', 'measured centre y'),
  f('xErr', 'pix', '1σ uncertainty of x from the fit covariance (SEP errx2 = xErr²)'),
  f('yErr', 'pix', '1σ uncertainty of y'),
  f('flux', 'adu', 'total flux of the fit, or background-subtracted sum within R (moments)'),
  f('fwhm', 'pix', 'geometric-mean FWHM (photutils fwhm)'),
  f('eccentricity', '', 'sqrt(1 − (minor/major)²)'),
  f('ellipticity', '', '1 − minor/major (photutils ellipticity)'),
  f('semimajorSigma', 'pix', 'σ along the major axis (photutils semimajor_sigma, SEP a)'),
  f('semiminorSigma', 'pix', 'σ along the minor axis (photutils semiminor_sigma, SEP b)'),
  f('theta', 'rad', 'major-axis angle counter-clockwise from +x (photutils orientation, SEP theta)'),
  f('beta', '', 'Moffat β (NaN for other methods)'),
  f('background', 'adu', 'local sky level'),
  f('backgroundNoise', 'adu', 'local sky σ'),
  f('snr', '', 'CCD-equation S/N over an aperture of radius 1.5·FWHM'),
  f('peak', 'adu', 'highest sky-subtracted pixel of the 3×3 around the star'),
  f('sharpness', '', 'DAOFIND sharpness (photutils DAOStarFinder sharpness)'),
  f('roundness1', '', 'DAOFIND roundness1'),
  f('roundness2', '', 'DAOFIND roundness2'),
  f('peakCoreRatio', '', 'peak / 3×3 core sum'),
  f('marginalRoundness', '', '(Hx − Hy)/(Hx + Hy) of the marginal maxima'),
  f('marginalAsymmetry', '', 'marginal-half asymmetry'),
  f('laplacianSnr', '', '−Laplacian at the centre over the sky σ'),
  f('chi2Reduced', '', 'reduced χ² of the fit (NaN for moments)'),
  { name: 'iterations', kind: 'int32', unit: '', description: 'fit iterations' },
  s('method', 'what produced position and shape: moments, gaussian, gaussianRotated, moffat'),
  s('fitReason', "why the fit stopped ('' when none ran)"),
  s('status', 'ok, fallback or failed'),
  s('flags', 'flag names joined by |'),
  s('message', "why the status is not ok or the star carries flags ('' otherwise)"),
];

const FLOATS = CATALOGUE_COLUMNS.filter((c) => c.kind === 'float64').map((c) => c.name);

/** The catalogue as one chunk of columns (floats as float64 whatever the path measured in). */
export function catalogueChunk(cat: StarCatalogue): TableChunk {
  const n = cat.length;
  const columns: TableChunk['columns'] = {};
  for (const name of FLOATS) columns[name] = Float64Array.from((cat as unknown as Record<string, ArrayLike<number>>)[name]!);
  columns.id = Int32Array.from({ length: n }, (_, i) => i);
  columns.iterations = Int32Array.from(cat.iterations);
  columns.method = Array.from(cat.method, (c) => MEASURE_METHODS[c] ?? '');
  columns.fitReason = Array.from(cat.fitReason, (c) => FIT_REASONS[c] ?? '');
  columns.status = Array.from(cat.status, (c) => STAR_STATUS[c] ?? '');
  columns.flags = Array.from(cat.flags, (c) => flagNames(c).join('|'));
  columns.message = Array.from({ length: n }, (_, i) => cat.message(i));
  return { count: n, columns };
}

function cell(chunk: TableChunk, c: TableColumn, i: number): string {
  const v = chunk.columns[c.name]!;
  if (c.kind === 'string') return csvText((v as readonly string[])[i]!);
  return csvNumber((v as Float64Array | Int32Array)[i]!);
}

function rows(chunk: TableChunk, columns: readonly TableColumn[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < chunk.count; i++) out.push(columns.map((c) => cell(chunk, c, i)).join(','));
  return out;
}

/** CSV: '# name [unit]: description' comment lines, a header row, one row per star. */
export function catalogueCsv(cat: StarCatalogue, title: readonly string[]): string {
  const chunk = catalogueChunk(cat);
  const head = [...title.map((t) => `# ${t}`), ...unitComments(CATALOGUE_COLUMNS)];
  return `${[...head, CATALOGUE_COLUMNS.map((c) => c.name).join(','), ...rows(chunk, CATALOGUE_COLUMNS)].join('\n')}\n`;
}

/** A YAML scalar in double quotes (ECSV's header is YAML). */
function yamlString(v: string): string {
  return JSON.stringify(v);
}

/** ECSV 1.0 (comma-delimited), readable by astropy's Table.read(format='ascii.ecsv') with units. */
export function catalogueEcsv(cat: StarCatalogue, meta: Record<string, string>): string {
  const chunk = catalogueChunk(cat);
  const datatype = (c: TableColumn) => (c.kind === 'string' ? 'string' : c.kind === 'int32' ? 'int32' : 'float64');
  const head = [
    '# %ECSV 1.0',
    '# ---',
    "# delimiter: ','",
    '# datatype:',
    ...CATALOGUE_COLUMNS.map((c) => `# - {name: ${c.name}${c.unit === '' ? '' : `, unit: ${c.unit}`}, datatype: ${datatype(c)}, description: ${yamlString(c.description)}}`),
    '# meta: !!omap',
    ...Object.entries(meta).map(([k, v]) => `# - {${k}: ${yamlString(v)}}`),
    '# schema: astropy-2.0',
  ];
  return `${[...head, CATALOGUE_COLUMNS.map((c) => c.name).join(','), ...rows(chunk, CATALOGUE_COLUMNS)].join('\n')}\n`;
}

/** Writes the catalogue to `path` in `format`. */
export async function writeCatalogue(cat: StarCatalogue, path: string, format: 'csv' | 'ecsv' | 'parquet', meta: Record<string, string>): Promise<void> {
  if (format === 'csv') writeFileSync(path, catalogueCsv(cat, Object.entries(meta).map(([k, v]) => `${k}: ${v}`)));
  else if (format === 'ecsv') writeFileSync(path, catalogueEcsv(cat, meta));
  else {
    const t = openTable(path, 'parquet', CATALOGUE_COLUMNS, meta);
    await t.write(catalogueChunk(cat));
    await t.close();
  }
}
