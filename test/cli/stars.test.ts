/**
 * Issue 15 acceptance for `batchfit stars`: the catalogue as CSV with units, ECSV that astropy
 * reads with units, Parquet; --plot SVGs with their axes; --device/--workers reach the batch path
 * with a progress bar; options documented with SEP/photutils names; exit codes as documented.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { afterEach, expect, test, vi } from 'vitest';
import { starsCommand } from '../../src/cli/stars.js';
import { fixtureDir } from '../stars/fields.js';

afterEach(() => vi.restoreAllMocks());

const image = join(fixtureDir, 'stars_gauss_iso.f32');

async function stars(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void (err += `${a.join(' ')}\n`));
  vi.spyOn(console, 'warn').mockImplementation((...a: unknown[]) => void (err += `${a.join(' ')}\n`));
  const code = await starsCommand(argv);
  vi.restoreAllMocks();
  return { code, out, err };
}

const hasAstropy = spawnSync('/usr/bin/python3', ['-c', 'import astropy'], { stdio: 'ignore' }).status === 0;

test('ECSV with units (read by astropy where installed), CSV with unit comments, and --plot SVGs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'batchfit-stars-'));
  const ecsv = join(dir, 'cat.ecsv');
  const r = await stars([image, '--detect', '--fwhm', '3', '--gain', '1.5', '--out', ecsv, '--plot']);
  expect(r.code, r.err).toBe(0);
  const text = readFileSync(ecsv, 'utf8');
  expect(text.startsWith('# %ECSV 1.0\n')).toBe(true);
  expect(text).toContain('# - {name: x, unit: pix, datatype: float64,');
  const n = Number(/^(\d+) stars measured on the CPU: \1 ok/.exec(r.err)?.[1]);
  expect(n).toBeGreaterThan(10);
  if (hasAstropy) {
    const py = "import sys; from astropy.table import Table; t = Table.read(sys.argv[1], format='ascii.ecsv'); print(len(t), t['x'].unit, t['flux'].unit, t['theta'].unit, t['status'][0], t['fwhm'].dtype)";
    expect(execFileSync('/usr/bin/python3', ['-c', py, ecsv], { encoding: 'utf8' }).trim()).toBe(`${n} pix adu rad ok float64`);
  }
  const stamps = readFileSync(join(dir, 'cat.stamps.svg'), 'utf8');
  for (const a of ['x (pixel)', 'y (pixel)', 'Stamps with fitted centres', 'star 0']) expect(stamps, a).toContain(a);
  const shape = readFileSync(join(dir, 'cat.shape.svg'), 'utf8');
  for (const a of ['x (pixel)', 'FWHM (pixel)', 'ellipticity across the frame']) expect(shape, a).toContain(a);
  const csv = await stars([image, '--detect', '--fwhm', '3']);
  const lines = csv.out.trim().split('\n');
  expect(lines).toContain('# fwhm [pix]: geometric-mean FWHM (photutils fwhm)');
  expect(lines.filter((l) => !l.startsWith('#'))).toHaveLength(n + 1);
});

test('--device cpu --workers 1 runs the batch path with a forced progress bar; Parquet reads back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'batchfit-stars-'));
  const out = join(dir, 'cat.parquet');
  const r = await stars([image, '--detect', '--device', 'cpu', '--workers', '1', '--progress', '--back-size', '32', '--back-filter-size', '5', '--out', out]);
  expect(r.code, r.err).toBe(0);
  expect(r.err).toMatch(/stars \[[=-]+\] 100% \| (\d+)\/\1 stars/);
  const rows = await parquetReadObjects({ file: await asyncBufferFromFile(out), columns: ['id', 'x', 'fwhm', 'status'] });
  expect(rows.length).toBe(Number(/^(\d+) stars measured/m.exec(r.err)?.[1]));
  expect(rows[0]!.status).toBe('ok');
});

test('--help names every option with units and the SEP/photutils names; exit codes', async () => {
  const r = await stars(['--help']);
  expect(r.code).toBe(0);
  for (const s of ['--threshold <σ>', 'SEP thresh', '--back-size <px>', 'SExtractor BACK_SIZE', '--back-filter-size <n>', '--sharplo <s>', 'photutils sharplo', '--device <d>', '--workers <n>', '--gain <e/ADU>', 'Exit status:']) {
    expect(r.out.replace(/\s+/g, ' '), s).toContain(s);
  }
  const dir = mkdtempSync(join(tmpdir(), 'batchfit-stars-'));
  for (const [argv, want] of [
    [[image, '--detect', '--out', join(dir, 'c.txt')], /give a \.csv, \.ecsv or \.parquet name/],
    [[image, '--detect', '--plot'], /--plot needs --out FILE/],
    [[image, '--detect', '--device', 'tpu'], /--device = 'tpu' must be one of cpu, gpu, auto/],
    [[join(dir, 'missing.fits'), '--detect'], /missing\.fits does not exist/],
  ] as const) {
    const u = await stars([...argv]);
    expect(u.code, argv.join(' ')).toBe(2);
    expect(u.err.trim().split('\n')).toHaveLength(1);
    expect(u.err).toMatch(want);
  }
});
