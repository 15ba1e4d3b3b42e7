/**
 * Issue 15 acceptance for `batchfit autobk`: μ is never guessed silently, outputs carry Larch's
 * column names and units, existing outputs survive without --force, --plot writes SVGs with
 * their axes, and the exit codes are the documented ones.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test, vi } from 'vitest';
import { autobkCommand } from '../../src/cli/autobk.js';
import { fixtureDir } from '../xafs/fixtures.js';

afterEach(() => vi.restoreAllMocks());

/** Runs `autobk` with console and stdout captured. */
async function autobk(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (out.push(String(s)), true));
  const code = await autobkCommand(argv);
  vi.restoreAllMocks();
  return { code, out, err };
}

const znse = join(fixtureDir, 'znse_zn_xafs.001');

test('znse without --mu: exit 2, one line listing its columns (the constant count time shown) and suggesting expressions', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'batchfit-cli-'));
  const r = await autobk([znse, '--out', join(dir, 'z')]);
  expect(r.code).toBe(2);
  expect(r.err).toHaveLength(1);
  const line = r.err[0]!;
  expect(line).toMatch(/^batchfit autobk: znse_zn_xafs\.001: which column is μ\?/);
  expect(line).toContain('2 p2 (constant 1)');
  expect(line).toMatch(/3 d1 \(1\.0\d+e\+5…/);
  expect(line).toMatch(/4 d2 \(/);
  expect(line).toContain("give --mu, e.g. --mu 'ln(d1/d2)' if d1 is I0 and d2 It (transmission, ln(I0/It)), or 'd2/d1' if d2 is If (fluorescence, If/I0)");
  expect(existsSync(join(dir, 'z.chi.csv'))).toBe(false);
});

test('a file whose only μ-labelled column is mu takes it and says so', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'batchfit-cli-'));
  const r = await autobk([join(fixtureDir, 'cu_rt01.xmu'), '--out', join(dir, 'cu')]);
  expect(r.code).toBe(0);
  expect(r.out[0]).toBe("note: cu_rt01.xmu: mu is column 2 'mu', the only column labelled as μ (give --mu to choose another)");
});

test('outputs: Larch column names with units in the header; no overwrite without --force; --plot SVGs with axis titles', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'batchfit-cli-'));
  const prefix = join(dir, 'znse');
  const argv = [znse, '--mu', 'ln(c3/c4)', '--ft-kmin', '3', '--ft-kmax', '12', '--ft-kweight', '2', '--window', 'hanning', '--rmax', '6', '--out', prefix, '--plot'];
  expect((await autobk(argv)).code).toBe(0);
  const table = (name: string) => {
    const lines = readFileSync(`${prefix}.${name}.csv`, 'utf8').trim().split('\n');
    return { comments: lines.filter((l) => l.startsWith('#')), header: lines.find((l) => !l.startsWith('#'))!, rows: lines.filter((l) => !l.startsWith('#')).slice(1) };
  };
  const chi = table('chi');
  expect(chi.header).toBe('k,chi,chik');
  expect(chi.comments).toContain('# k [Å⁻¹]: photoelectron wavenumber');
  expect(chi.comments).toContain('# chik [Å^-2]: k^2·χ(k)');
  const [k, c, ck] = chi.rows[100]!.split(',').map(Number) as [number, number, number];
  expect(ck).toBeCloseTo(c * k * k, 12);
  const mu = table('mu');
  expect(mu.header).toBe('energy,mu,bkg,pre_edge,post_edge,norm,flat');
  expect(mu.comments).toContain('# energy [eV]: incident energy (sorted, non-finite rows dropped)');
  // norm is 0 on the pre-edge line and 1 on the post-edge curve at e0 by construction; far above the edge it is near 1.
  const last = mu.rows.at(-1)!.split(',').map(Number);
  expect(last[5]).toBeGreaterThan(0.8);
  expect(last[6]).toBeCloseTo(1, 0);
  const chir = table('chir');
  expect(chir.header).toBe('r,chir_mag,chir_re,chir_im');
  expect(chir.comments.some((l) => l.includes('xftf: kmin = 3, kmax = 12, dk = 1, window = hanning, kweight = 2, rmax_out = 6'))).toBe(true);
  const rs = chir.rows.map((l) => Number(l.split(',')[0]));
  expect(rs.at(-1)).toBeLessThanOrEqual(6.1);
  for (const [svg, axes] of [
    ['mu', ['Energy (eV)', 'μ(E)', 'bkg', 'pre_edge', 'post_edge']],
    ['chik', ['k (Å⁻¹)', 'k^2·χ(k) (Å^-2)']],
    ['chir', ['R (Å)', '|χ(R)| (Å^-3)']],
  ] as const) {
    const text = readFileSync(`${prefix}.${svg}.svg`, 'utf8');
    expect(text.startsWith('<svg')).toBe(true);
    for (const a of axes) expect(text, `${svg}: ${a}`).toContain(a.replace(/&/g, '&amp;'));
  }
  const again = await autobk(argv);
  expect(again.code).toBe(2);
  expect(again.err).toHaveLength(1);
  expect(again.err[0]).toMatch(/znse\.chi\.csv and 5 more exists: give --force to overwrite, or another --out/);
  expect((await autobk([...argv, '--force'])).code).toBe(0);
});

test('an edge step that is not positive is an error for the spectrum: exit 1; --edge-step ≤ 0 is a usage error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'batchfit-cli-'));
  // It/I0 instead of ln(I0/It): μ falls at the edge.
  const r = await autobk([znse, '--mu', 'c4/c3', '--out', join(dir, 'x')]);
  expect(r.code).toBe(1);
  expect(r.err[0]).toMatch(/znse_zn_xafs\.001: μ falls at the edge: its steepest change is a fall \(dμ\/dE = −[\d.]+ per eV at 96\d\d(\.\d+)? eV; steepest rise [\d.]+\)/);
  const u = await autobk([znse, '--mu', 'ln(c3/c4)', '--edge-step', '0', '--out', join(dir, 'y')]);
  expect(u.code).toBe(2);
  expect(u.err[0]).toMatch(/--edge-step: edge step = 0 is not positive/);
});

test('--help lists every option with units and Larch names, and the exit codes', async () => {
  const r = await autobk(['--help']);
  expect(r.code).toBe(0);
  const text = r.out.join('').replace(/\s+/g, ' ');
  for (const s of ['--mu <expr>', '--rbkg <Å>', 'Larch rbkg', '--norm1 <eV>', 'Larch norm1', '--nnorm <n>', '--ft-kmin <Å⁻¹>', 'Larch xftf kmin', '--window <name>', '--rmax <Å>', 'Larch xftf rmax_out', '--force', '--plot', 'Exit status:', '2 usage or input error']) {
    expect(text, s).toContain(s);
  }
});

test('pre_edge ranges reach the fit and the normalisation', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'batchfit-cli-'));
  const base = [znse, '--mu', 'ln(c3/c4)', '--force'];
  expect((await autobk([...base, '--out', join(dir, 'a')])).code).toBe(0);
  expect((await autobk([...base, '--pre1', '-150', '--pre2', '-60', '--norm1', '50', '--norm2', '300', '--nnorm', '1', '--out', join(dir, 'b')])).code).toBe(0);
  const norm = (p: string) => readFileSync(p, 'utf8').trim().split('\n').at(-1)!.split(',')[5];
  expect(norm(join(dir, 'a.mu.csv'))).not.toBe(norm(join(dir, 'b.mu.csv')));
  const bad = await autobk([...base, '--nnorm', '7', '--out', join(dir, 'c')]);
  expect(bad.code).toBe(2);
  expect(bad.err[0]).toMatch(/--nnorm = '7' is outside the allowed range: an integer in \[0, 5\]/);
});

test('usage errors exit 2 with one line: unknown option, missing file, extra argument', async () => {
  for (const argv of [[znse, '--nosuch', '1'], [join(fixtureDir, 'nope.xmu')], [znse, 'extra.dat'], []]) {
    const r = await autobk(argv);
    expect(r.code, argv.join(' ')).toBe(2);
    expect(r.err, argv.join(' ')).toHaveLength(1);
    expect(r.err[0]).toMatch(/^batchfit autobk: /);
  }
});
