import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test, vi } from 'vitest';
import { autobkCommand } from '../../src/cli/autobk.js';
import { fixtureDir, loadReference, maxAbs } from './fixtures.js';

afterEach(() => vi.restoreAllMocks());

function capture(): { lines: string[] } {
  const out = { lines: [] as string[] };
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.lines.push(a.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void out.lines.push(a.join(' ')));
  return out;
}

test('no arguments: summary of the bundled Cu foil', async () => {
  const out = capture();
  expect(await autobkCommand([])).toBe(0);
  const text = out.lines.join('\n');
  expect(text).toMatch(/e0 +8980\.5 eV/);
  expect(text).toMatch(/knots +12 /);
  expect(text).toMatch(/chisqr +0\.0470729/);
});

test('a file with a mu expression writes k,chi and energy,mu,bkg CSVs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'batchfit-cli-'));
  const prefix = join(dir, 'znse');
  capture();
  const code = await autobkCommand([join(fixtureDir, 'znse_zn_xafs.001'), '--mu', 'log(c3/c4)', '--rbkg', '1', '--kweight', '1', '--out', prefix]);
  expect(code).toBe(0);
  const chi = readFileSync(`${prefix}.chi.csv`, 'utf8').trim().split('\n');
  expect(chi[0]).toBe('k,chi');
  const ref = loadReference('znse_zn_xafs');
  expect(chi.length - 1).toBe(ref.k.length);
  const got = chi.slice(1).map((l) => Number(l.split(',')[1]));
  let err = 0;
  for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i]! - ref.chi[i]!));
  expect(err).toBeLessThanOrEqual(2e-4 * maxAbs(ref.chi));
  const bkg = readFileSync(`${prefix}.bkg.csv`, 'utf8').trim().split('\n');
  expect(bkg[0]).toBe('energy,mu,bkg');
  expect(bkg.length - 1).toBe(ref.energy.length);
});

test('bad options and files give a message and a non-zero exit code', async () => {
  const out = capture();
  expect(await autobkCommand(['--rbkg'])).toBe(2);
  expect(await autobkCommand([join(fixtureDir, 'cu_rt01.xmu'), '--kweight', 'two'])).toBe(2);
  expect(await autobkCommand([join(fixtureDir, 'cu_rt01.xmu'), '--e0', '12345'])).toBe(1);
  expect(await autobkCommand([join(fixtureDir, 'nope.xmu')])).toBe(1);
  expect(out.lines.join('\n')).toMatch(/e0 = 12345 is outside the energy range/);
});
