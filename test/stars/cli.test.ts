import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
  expect(code).toBe(0);
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  expect(lines).toHaveLength(7);
  const head = lines[0]!.split(',');
  for (const c of ['x', 'y', 'xErr', 'flux', 'fwhm', 'snr', 'sharpness', 'roundness1', 'roundness2', 'status', 'flags']) expect(head).toContain(c);
  const row = lines[1]!.split(',');
  expect(Math.abs(Number(row[head.indexOf('x')]) - f.stars[0]!.x)).toBeLessThan(0.3);
  expect(row[head.indexOf('status')]).toBe('ok');
  expect(lines[6]).toMatch(/failed,invalidPosition,"position x = NaN, y = 3 is not finite"/);
  expect(await starsCommand(['--detect'])).toBe(2);
  expect(await starsCommand([join(fixtureDir, 'stars_gauss_iso.f32'), '--detect', '--method', 'psf'])).toBe(2);
  expect(await starsCommand([join(dir, 'missing.fits'), '--detect'])).toBe(1);
  err.mockRestore();
});

test('positions CSV without a header takes the first two columns', () => {
  expect(parsePositions('1,2\n3.5,4\n', 'p.csv')).toEqual([{ x: 1, y: 2 }, { x: 3.5, y: 4 }]);
  expect(() => parsePositions('a,b\n1,2\n', 'p.csv')).toThrow(/no columns named x and y/);
});
