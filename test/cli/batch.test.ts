/**
 * Issue 15 acceptance for `batchfit autobk-batch`: a 2 000-spectrum series streams to Parquet
 * (and Arrow) with one row per spectrum; --mu/--columns are honoured or refused, never ignored;
 * the error count is right; progress shows with --progress; exit codes as documented.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { readParquet } from 'parquet-wasm';
import { afterEach, beforeAll, expect, test, vi } from 'vitest';
import { autobkBatchCommand } from '../../src/cli/autobkBatch.js';
import { autobk } from '../../src/xafs/autobk.js';
import { readSpectrum } from '../../src/xafs/readSpectrum.js';
import { fixtureDir } from '../xafs/fixtures.js';

afterEach(() => vi.restoreAllMocks());

async function batch(argv: string[]): Promise<{ code: number; out: string[]; err: string }> {
  const out: string[] = [];
  let err = '';
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void (err += `${a.join(' ')}\n`));
  vi.spyOn(console, 'warn').mockImplementation(() => undefined);
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  const code = await autobkBatchCommand(argv);
  vi.restoreAllMocks();
  return { code, out, err };
}

const N = 2000;
let dir: string;
let series: string;
let nk: number;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'batchfit-batch-'));
  const full = readSpectrum(readFileSync(join(fixtureDir, 'cu_rt01.xmu'), 'utf8'), { mu: 2 });
  // The Cu foil up to k ≈ 10 Å⁻¹ (fewer knots: a quicker test), 2 000 times, each scaled by up
  // to ±2 % and offset a little, one column each.
  const end = full.energy.findIndex((e) => e > 9360);
  const cu = { energy: full.energy.subarray(0, end), mu: full.mu.subarray(0, end) };
  nk = autobk(cu.energy, cu.mu).k.length;
  const rows: string[] = [`# energy ${Array.from({ length: N }, (_, s) => `s${s}`).join(' ')}`];
  const scale = Float64Array.from({ length: N }, (_, s) => 1 + 0.02 * Math.sin(s));
  const offset = Float64Array.from({ length: N }, (_, s) => 0.01 * Math.cos(0.7 * s));
  for (let i = 0; i < cu.energy.length; i++) {
    const cells = new Array<string>(N + 1);
    cells[0] = String(cu.energy[i]);
    for (let s = 0; s < N; s++) cells[s + 1] = (cu.mu[i]! * scale[s]! + offset[s]!).toPrecision(8);
    rows.push(cells.join(' '));
  }
  series = join(dir, 'series.dat');
  writeFileSync(series, `${rows.join('\n')}\n`);
});

test('a 2 000-spectrum series streams to Parquet: 2 000 rows, list lengths = nk, scalars and units', async () => {
  const out = join(dir, 'run');
  const r = await batch(['--series', series, '--device', 'cpu', '--format', 'parquet', '--out', out]);
  expect(r.code, r.err).toBe(0);
  expect(r.out.at(-2)).toMatch(/^2000 spectra on the CPU: 2000 converged, 0 at the iteration limit, 0 errors; /);
  const file = await asyncBufferFromFile(`${out}.parquet`);
  const meta = await parquetMetadataAsync(file);
  expect(Number(meta.num_rows)).toBe(N);
  expect(meta.row_groups.length).toBeGreaterThan(1); // written chunk by chunk
  const kv = Object.fromEntries((meta.key_value_metadata ?? []).map((e) => [e.key, e.value]));
  expect(kv.k_step).toBe('0.05');
  expect(JSON.parse(kv.units!)).toMatchObject({ e0: 'eV', energy: 'eV', chi: '' });
  const rows = await parquetReadObjects({ file, columns: ['name', 'index', 'status', 'e0', 'edge_step', 'chi', 'bkg', 'energy'] });
  expect(rows).toHaveLength(N);
  for (const [i, row] of rows.entries()) {
    expect(row.index).toBe(i);
    expect(row.status).toBe('converged');
    expect((row.chi as number[]).length).toBe(nk);
    expect((row.bkg as number[]).length).toBe((row.energy as number[]).length);
  }
  expect(rows[1999]!.name).toBe('series.dat:s1999');
  expect(rows[0]!.e0).toBeCloseTo(8980.5, 1);
  // A second, independent reader: arrow-rs's (Rust) Parquet reader through parquet-wasm, handing
  // the table over as Arrow IPC: the same rows, types, values and key-value metadata.
  const rs = tableFromIPC(readParquet(new Uint8Array(readFileSync(`${out}.parquet`))).intoIPCStream());
  expect(rs.numRows).toBe(N);
  expect(String(rs.schema.fields.find((f) => f.name === 'chi')!.type)).toBe('List<Float64>');
  expect(rs.schema.metadata.get('k_step')).toBe('0.05');
  for (const i of [0, 1234, N - 1]) {
    expect(rs.getChild('name')!.get(i)).toBe(rows[i]!.name);
    expect(rs.getChild('e0')!.get(i)).toBe(rows[i]!.e0);
    expect(Array.from(rs.getChild('chi')!.get(i)!)).toEqual(rows[i]!.chi);
  }
  const summary = readFileSync(`${out}.summary.csv`, 'utf8').trim().split('\n').filter((l) => !l.startsWith('#'));
  expect(summary).toHaveLength(N + 1);
  expect(summary[0]).toBe('name,status,e0,edge_step,nknots,chisqr,redchi,message');
});

test('Arrow IPC (the default format) holds the same rows; an existing output is refused without --force', async () => {
  const out = join(dir, 'arrow');
  const argv = ['--series', series, '--columns', '2:201', '--device', 'cpu', '--out', out];
  const r = await batch(argv);
  expect(r.code, r.err).toBe(0);
  const t = tableFromIPC(readFileSync(`${out}.arrow`));
  expect(t.numRows).toBe(200);
  expect(t.getChild('chi')!.get(0)!.length).toBe(nk);
  expect(t.schema.metadata.get('k_step')).toBe('0.05');
  const again = await batch(argv);
  expect(again.code).toBe(2);
  expect(again.err).toMatch(/arrow\.summary\.csv and 1 more exists: give --force/);
});

test('--mu with --series and --columns with files are refused (exit 2), never ignored', async () => {
  const a = await batch(['--series', series, '--mu', 'ln(c2)']);
  expect(a.code).toBe(2);
  expect(a.err).toMatch(/--mu applies to spectrum files; a --series takes its columns as μ: choose them with --columns/);
  const b = await batch([join(fixtureDir, 'cu_rt01.xmu'), '--columns', '2:3']);
  expect(b.code).toBe(2);
  expect(b.err).toMatch(/--columns needs --series FILE/);
});

test('file errors are counted: unreadable, ambiguous μ and a falling μ give exit 1 and "3 errors"', async () => {
  const flipped = join(dir, 'flipped.xmu');
  const cu = readSpectrum(readFileSync(join(fixtureDir, 'cu_rt01.xmu'), 'utf8'), { mu: 2 });
  writeFileSync(flipped, `# energy mu\n${Array.from(cu.energy, (e, i) => `${e} ${Math.exp(-cu.mu[i]!)}`).join('\n')}\n`);
  const out = join(dir, 'files');
  const r = await batch([join(fixtureDir, 'cu_rt01.xmu'), join(fixtureDir, 'znse_zn_xafs.001'), join(dir, 'missing.xmu'), flipped, '--device', 'cpu', '--workers', '0', '--format', 'parquet', '--out', out]);
  expect(r.code).toBe(1);
  const text = r.out.join('\n');
  expect(text).toMatch(/znse_zn_xafs\.001: error: znse_zn_xafs\.001: which column is μ\?/);
  expect(text).toMatch(/missing\.xmu: error: /);
  expect(text).toMatch(/flipped\.xmu: error: μ falls at the edge/);
  expect(text).toMatch(/^4 spectra on the CPU: 1 converged, 0 at the iteration limit, 3 errors \(2 unreadable files, 1 without a rising edge\)/m);
  // Every input has a row, the unreadable files after the batch (as in the summary).
  const rows = await parquetReadObjects({ file: await asyncBufferFromFile(`${out}.parquet`), columns: ['name', 'index', 'status', 'message', 'chi'] });
  expect(rows.map((row) => [row.name, row.index, row.status])).toEqual([
    ['cu_rt01.xmu', 0, 'converged'],
    ['flipped.xmu', 1, 'error'],
    ['znse_zn_xafs.001', 2, 'error'],
    ['missing.xmu', 3, 'error'],
  ]);
  expect(rows[1]!.chi).toBeNull();
  expect(rows[1]!.message).toMatch(/^μ falls at the edge/);
  expect(rows[2]!.message).toMatch(/which column is μ\?/);
  expect(rows[3]!.chi).toBeNull();
  const summary = readFileSync(`${out}.summary.csv`, 'utf8').trim().split('\n').filter((l) => !l.startsWith('#')).map((l) => l.split(',').slice(0, 2).join(','));
  expect(summary).toEqual(['name,status', 'cu_rt01.xmu,converged', 'flipped.xmu,error', 'znse_zn_xafs.001,error', 'missing.xmu,error']);
});

test('--progress draws the bar on a stream that is not a terminal; --help documents the exit codes', async () => {
  const r = await batch(['--series', series, '--columns', '2:41', '--device', 'cpu', '--workers', '0', '--progress']);
  expect(r.code).toBe(0);
  expect(r.err).toMatch(/autobk-batch \[[=-]+\] 100% \| 40\/40 spectra/);
  const quiet = await batch(['--series', series, '--columns', '2:41', '--device', 'cpu', '--workers', '0', '--no-progress']);
  expect(quiet.err).not.toMatch(/autobk-batch \[/);
  const help = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  expect(await autobkBatchCommand(['--help'])).toBe(0);
  const text = help.mock.calls.map((c) => String(c[0])).join('').replace(/\s+/g, ' ');
  help.mockRestore();
  for (const s of ['--series <file>', '--format <fmt>', '--progress', '--ft-kweight <w>', 'Larch xftf', 'Exit status:', '1 some items failed']) expect(text, s).toContain(s);
});
