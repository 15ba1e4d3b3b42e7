import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test, vi } from 'vitest';
import { autobkCommand } from '../../src/cli/autobk.js';
import { autobkBatchCommand } from '../../src/cli/autobkBatch.js';
import { fixtureDir, loadReference, maxAbs } from './fixtures.js';

afterEach(() => vi.restoreAllMocks());

function capture(): { lines: string[] } {
  const out = { lines: [] as string[] };
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.lines.push(a.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void out.lines.push(a.join(' ')));
  return out;
}

test('the Cu foil: the summary printed (issue 15: a file is required; --no-write writes nothing)', async () => {
  const out = capture();
  expect(await autobkCommand([join(fixtureDir, 'cu_rt01.xmu'), '--no-write'])).toBe(0);
  const text = out.lines.join('\n');
  expect(text).toMatch(/e0 +8980\.5 eV/);
  expect(text).toMatch(/knots +12 /);
  expect(text).toMatch(/chisqr +0\.0470729/);
});

test('a file with a mu expression writes k,chi,chik and energy,mu,bkg,… CSVs (unit comments first)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'batchfit-cli-'));
  const prefix = join(dir, 'znse');
  capture();
  const code = await autobkCommand([join(fixtureDir, 'znse_zn_xafs.001'), '--mu', 'log(c3/c4)', '--rbkg', '1', '--kweight', '1', '--out', prefix]);
  expect(code).toBe(0);
  const chi = readFileSync(`${prefix}.chi.csv`, 'utf8').trim().split('\n').filter((l) => !l.startsWith('#'));
  expect(chi[0]).toBe('k,chi,chik');
  const ref = loadReference('znse_zn_xafs');
  expect(chi.length - 1).toBe(ref.k.length);
  const got = chi.slice(1).map((l) => Number(l.split(',')[1]));
  let err = 0;
  for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i]! - ref.chi[i]!));
  expect(err).toBeLessThanOrEqual(2e-4 * maxAbs(ref.chi));
  const bkg = readFileSync(`${prefix}.mu.csv`, 'utf8').trim().split('\n').filter((l) => !l.startsWith('#'));
  expect(bkg[0]).toBe('energy,mu,bkg,pre_edge,post_edge,norm,flat');
  expect(bkg.length - 1).toBe(ref.energy.length);
});

test('bad options and files give a message and a non-zero exit code', async () => {
  const out = capture();
  expect(await autobkCommand(['--rbkg'])).toBe(2);
  expect(await autobkCommand([join(fixtureDir, 'cu_rt01.xmu'), '--kweight', 'two'])).toBe(2);
  expect(await autobkCommand([join(fixtureDir, 'cu_rt01.xmu'), '--e0', '12345'])).toBe(1);
  // Issue 15: a missing input file is an input error, exit 2.
  expect(await autobkCommand([join(fixtureDir, 'nope.xmu')])).toBe(2);
  expect(out.lines.join('\n')).toMatch(/e0 = 12345 is outside the energy range/);
});

/** Runs a CLI command with stdout/stderr captured: its exit code, stderr lines and time taken. */
async function runCli(f: () => Promise<number>): Promise<{ code: number; lines: string[]; ms: number }> {
  const out = capture();
  const t0 = performance.now();
  const code = await f();
  const ms = performance.now() - t0;
  vi.restoreAllMocks();
  return { code, lines: out.lines, ms };
}

test('issue 13: numeric options are plain decimal numbers inside their range; else exit 2 naming the option', async () => {
  const file = join(fixtureDir, 'cu_rt01.xmu');
  for (const [option, value, want] of [
    ['--kweight', '', /--kweight = '' is not a number/],
    ['--kweight', '0x10', /--kweight = '0x10' is not a number/],
    ['--kweight', '2x', /--kweight = '2x' is not a number/],
    ['--kweight', 'Infinity', /--kweight = 'Infinity' is not a number/],
    ['--kweight', '-1', /--kweight = '-1' is outside the allowed range: a number in \[0, \d+\]/],
    ['--dk', '1e300', /--dk = '1e300' is outside the allowed range/],
    ['--nknots', '7.5', /--nknots = '7.5' is outside the allowed range: an integer ≥ 1/],
    ['--nfft', '1000', /--nfft = '1000' is outside the allowed range: a power of two in \[256, 65536\]/],
    ['--kstep', '1e-7', /--kstep = '1e-7' is outside the allowed range/],
    ['--rbkg', '0', /--rbkg = '0' is outside the allowed range: a number in \(0, 10\]/],
    ['--win', 'boxcar', /--win = 'boxcar' is not one of hanning/],
    ['--e0', 'x'.repeat(1_000_000), /--e0 = 'x{60}… \(1000000 characters\)' is not a number/],
  ] as const) {
    const r = await runCli(() => autobkCommand([file, option, value]));
    expect(r.code, `${option} ${value.slice(0, 20)}`).toBe(2);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(want);
    expect(r.lines[0]!.length).toBeLessThan(300);
    expect(r.ms).toBeLessThan(1000);
  }
});

test('issue 13: a FIFO or a directory is refused at once, exit 2 naming the path', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'batchfit-cli-'));
  const fifo = join(dir, 'pipe.xmu');
  execFileSync('mkfifo', [fifo]);
  // Reading the FIFO would block until a writer came: forever.
  const f = await runCli(() => autobkCommand([fifo]));
  expect(f.code).toBe(2);
  expect(f.lines).toEqual([`batchfit autobk: ${fifo} is a FIFO (named pipe), not a regular file (batchfit autobk --help)`]);
  expect(f.ms).toBeLessThan(1000);
  const d = await runCli(() => autobkCommand([dir]));
  expect(d.code).toBe(2);
  expect(d.lines[0]).toContain(`${dir} is a directory, not a regular file`);
  for (const argv of [[fifo, '--device', 'cpu'], ['--series', dir]]) {
    const b = await runCli(() => autobkBatchCommand(argv));
    expect(b.code).toBe(2);
    expect(b.lines).toHaveLength(1);
    expect(b.lines[0]).toMatch(/is a (FIFO|directory)/);
  }
});

test('issue 13: --columns that select no spectrum, or bad ranges, exit 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'batchfit-cli-'));
  const series = join(dir, 'series.dat');
  writeFileSync(series, '# e a b\n1 2 3\n2 3 4\n');
  for (const [columns, want] of [
    ['1:1', /--columns = 1:1 selects no spectrum: column 1 is the energy/],
    ['3:2', /--columns = 3:2 is outside the file's columns 1\.\.3/],
    ['1:9', /outside the file's columns 1\.\.3/],
    ['1-3', /--columns = '1-3' must be A:B/],
  ] as const) {
    const r = await runCli(() => autobkBatchCommand(['--series', series, '--columns', columns, '--device', 'cpu']));
    expect(r.code, columns).toBe(2);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(want);
  }
  const w = await runCli(() => autobkBatchCommand(['--series', series, '--workers', '0x2']));
  expect(w.code).toBe(2);
  expect(w.lines[0]).toMatch(/--workers = '0x2' is not a number/);
});
