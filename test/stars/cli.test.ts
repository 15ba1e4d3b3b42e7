import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, vi } from 'vitest';
import { parsePositions, starsCommand } from '../../src/cli/stars.js';
import { fixtureDir, loadField } from './fields.js';

test('stars CLI: positions CSV in, one row per star out with metrics and status', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'batchfit-stars-'));
  const f = loadField('stars_gauss_iso');
  const pos = join(dir, 'pos.csv');
  writeFileSync(pos, `x,y\n${f.stars.slice(0, 5).map((s) => `${s.x_init},${s.y_init}`).join('\n')}\nNaN,3\n`);
  const out = join(dir, 'out.csv');
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const code = await starsCommand([join(fixtureDir, 'stars_gauss_iso.f32'), '--positions', pos, '--method', 'gaussian', '--fwhm', '3', '--gain', '1.5', '--read-noise', '5', '--out', out]);
  // Issue 15: one star failed (its NaN position), so the exit status is 1; the others are written.
  expect(code).toBe(1);
  const lines = readFileSync(out, 'utf8').trim().split('\n').filter((l) => !l.startsWith('#'));
  expect(lines).toHaveLength(7);
  const head = lines[0]!.split(',');
  for (const c of ['x', 'y', 'xErr', 'flux', 'fwhm', 'snr', 'sharpness', 'roundness1', 'roundness2', 'status', 'flags']) expect(head).toContain(c);
  const row = lines[1]!.split(',');
  expect(Math.abs(Number(row[head.indexOf('x')]) - f.stars[0]!.x)).toBeLessThan(0.3);
  expect(row[head.indexOf('status')]).toBe('ok');
  expect(lines[6]).toMatch(/failed,invalidPosition,"position x = NaN, y = 3 is not finite"/);
  expect(await starsCommand(['--detect'])).toBe(2);
  expect(await starsCommand([join(fixtureDir, 'stars_gauss_iso.f32'), '--detect', '--method', 'psf'])).toBe(2);
  expect(await starsCommand([join(dir, 'missing.fits'), '--detect'])).toBe(2);
  err.mockRestore();
});

test('positions CSV without a header takes the first two columns', () => {
  expect(parsePositions('1,2\n3.5,4\n', 'p.csv')).toEqual([{ x: 1, y: 2 }, { x: 3.5, y: 4 }]);
  expect(() => parsePositions('a,b\n1,2\n', 'p.csv')).toThrow(/no columns named x and y/);
});

test('issue 13: bad option values, a broken .json companion, a directory or FIFO: exit 2, one line naming it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'batchfit-stars-'));
  const image = join(fixtureDir, 'stars_gauss_iso.f32');
  const broken = join(dir, 'broken.f32');
  copyFileSync(image, broken);
  writeFileSync(join(dir, 'broken.json'), '{"width": 256,');
  const nullMeta = join(dir, 'null.f32');
  copyFileSync(image, nullMeta);
  writeFileSync(join(dir, 'null.json'), 'null');
  const fifo = join(dir, 'pos.csv');
  execFileSync('mkfifo', [fifo]);
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  const cases: [string[], RegExp][] = [
    [[image, '--detect', '--fwhm', ''], /--fwhm = '' is not a number/],
    [[image, '--detect', '--fwhm', '0x3'], /--fwhm = '0x3' is not a number/],
    [[image, '--detect', '--fwhm', '1e4'], /--fwhm = '1e4' is outside the allowed range/],
    [[image, '--detect', '--threshold', '-1'], /--threshold = '-1' is outside the allowed range: a number > 0/],
    [[image, '--detect', '--beta', '1'], /--beta = '1' is outside the allowed range/],
    [[broken, '--detect'], new RegExp(`${broken.replace(/\.f32$/, '.json').replace(/[/\\.]/g, '\\$&')}: the companion of a \\.f32 image must be JSON`)],
    [[nullMeta, '--detect'], /null\.json: width and height must be positive integers, got null/],
    [[dir, '--detect'], /is a directory, not a regular file/],
    [[image, '--positions', fifo], /pos\.csv is a FIFO \(named pipe\), not a regular file/],
  ];
  for (const [argv, want] of cases) {
    lines.length = 0;
    const t0 = performance.now();
    expect(await starsCommand(argv), argv.join(' ')).toBe(2);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(want);
  }
  spy.mockRestore();
});

test('positions: empty and hex cells are not positions 0 and 16', () => {
  const p = parsePositions('x,y\n,0x10\n1.5,2\n', 'p.csv');
  expect(p[0]!.x).toBeNaN();
  expect(p[0]!.y).toBeNaN();
  expect(p[1]).toEqual({ x: 1.5, y: 2 });
});
