/**
 * Acceptance test of the published package: `npm pack` of a clean checkout (whose prepack builds dist/), installed
 * from the tarball into a fresh project offline, then used there as a scientist would: the
 * README's examples, `npx batchfit` (the demo), and a TypeScript consumer compiled with
 * `skipLibCheck: false`.
 *
 * Offline install: the npm cache here holds no registry metadata, so `npm install --offline` of
 * the tarball alone fails (ENOTCACHED). The production dependencies already installed in this
 * repository (`npm ls --omit=dev --all --parseable`) are linked into the new project first; npm
 * then accepts them as satisfying batchfit's dependencies and installs batchfit itself from the
 * tarball (`--offline --ignore-scripts`), bin link included. Dev dependencies stay invisible to
 * the package.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const work = mkdtempSync(join(tmpdir(), 'batchfit-pack-'));
const project = join(work, 'consumer');
let tarball = '';
let packed: string[] = [];

function run(cmd: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 240_000, env: { ...process.env, npm_config_update_notifier: 'false', NO_COLOR: '1' } });
  if (r.error) throw r.error;
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/**
 * The runnable examples of README.md: each ```js block right after a `<!-- example -->` line.
 * They run as ES modules in the consumer project's root, where the shipped demo data is at
 * `node_modules/batchfit/data/`; each `// prints: …` line of one is checked against its output.
 */
export function readmeExamples(readme: string): string[] {
  const out: string[] = [];
  const re = /<!--\s*example\s*-->\s*\n```(?:js|javascript|mjs)\n([\s\S]*?)\n```/g;
  for (let m = re.exec(readme); m !== null; m = re.exec(readme)) out.push(m[1]!);
  return out;
}

/**
 * Used while README.md marks no example of its own: the XAFS chain on the shipped spectrum, and
 * the HDF5 reader (its lazy import of h5wasm from the installed package) on a file written here.
 */
const FALLBACK_EXAMPLE = `
import { readFileSync } from 'node:fs';
import * as h5wasm from 'h5wasm';
import { readSpectrum, autobk, xftf } from 'batchfit/xafs';
import { readHdf5 } from 'batchfit';
const { energy, mu } = readSpectrum(readFileSync('node_modules/batchfit/data/xafs/cu_rt01.xmu', 'utf8'), { mu: 2 });
const bk = autobk(energy, mu, { rbkg: 1, kweight: 2 });
const ft = xftf(bk.k, bk.chi, { kmin: 3, kmax: 14, dk: 1, window: 'hanning', kweight: 2 });
await h5wasm.ready;
const f = new h5wasm.File('/scan.h5', 'w');
f.create_dataset({ name: 'energy', data: energy });
f.create_dataset({ name: 'mu', data: mu });
f.close();
const h5 = await readHdf5(h5wasm.FS.readFile('/scan.h5'), { energy: 'energy', mu: 'mu' });
console.log('e0', bk.e0.toFixed(2), 'points of chi(R)', ft.r.length, 'hdf5 e0', autobk(h5.energy, h5.mu).e0.toFixed(2));
`;

/**
 * A clean checkout of the working tree (tracked and new files, not the ignored dist/ or build/)
 * with the repository's node_modules linked in: what `npm pack` sees in a fresh clone after
 * `npm ci`. Packing there leaves this repository's dist/ alone (other tests may be reading it).
 */
function cleanCheckout(into: string): void {
  const files = ok(run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], root), 'git ls-files').split('\0');
  for (const f of files) {
    if (f === '' || !existsSync(join(root, f))) continue; // deleted in the working tree
    mkdirSync(dirname(join(into, f)), { recursive: true });
    copyFileSync(join(root, f), join(into, f));
  }
  symlinkSync(join(root, 'node_modules'), join(into, 'node_modules'), 'dir');
}

beforeAll(() => {
  const checkout = join(work, 'checkout');
  const packDir = join(work, 'pack');
  mkdirSync(packDir, { recursive: true });
  cleanCheckout(checkout);
  const json = ok(run('npm', ['pack', '--json', '--pack-destination', packDir], checkout), 'npm pack');
  const info = JSON.parse(json.slice(json.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  tarball = join(packDir, info[0]!.filename);
  packed = info[0]!.files.map((f) => f.path);

  mkdirSync(join(project, 'node_modules'), { recursive: true });
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }));
  const modules = join(root, 'node_modules') + sep;
  const production = ok(run('npm', ['ls', '--omit=dev', '--all', '--parseable'], root), 'npm ls')
    .split('\n')
    .filter((p) => p.startsWith(modules))
    .map((p) => relative(modules, p))
    .filter((p) => /^(@[^/\\]+[/\\])?[^@/\\][^/\\]*$/.test(p)); // top level only: nested ones live inside these
  for (const name of production) {
    mkdirSync(dirname(join(project, 'node_modules', name)), { recursive: true });
    symlinkSync(join(modules, name), join(project, 'node_modules', name), 'dir');
  }
  ok(run('npm', ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball], project), 'npm install --offline');
}, 600_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('ships the built library, its declarations, the demo data and the licence, not the tests', () => {
    for (const f of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/xafs/index.js', 'dist/stars/index.d.ts', 'dist/cli/index.js', 'dist/cli/demo.js', 'data/xafs/cu_rt01.xmu', 'data/xafs/Copper.prj', 'data/stars/stars_gauss_iso.f32']) {
      expect(packed).toContain(f);
    }
    expect(packed.filter((f) => f.startsWith('test/') || f.startsWith('src/') || f.endsWith('.map'))).toEqual([]);
    const license = readFileSync(join(project, 'node_modules', 'batchfit', 'LICENSE'), 'utf8');
    expect(license).toMatch(/^MIT License\n\nCopyright \(c\) 2026 batchfit contributors/);
    expect(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).license).toBe('MIT');
  });
});

describe('readmeExamples', () => {
  it('takes the js blocks marked <!-- example --> and only those', () => {
    const md = ['# t', '<!-- example -->', '```js', 'console.log(1);', '```', '', '```js', 'not marked', '```', '<!-- example -->', '```ts', 'typescript: not run', '```'].join('\n');
    expect(readmeExamples(md)).toEqual(['console.log(1);']);
  });
});

describe('the installed package', () => {
  it('runs the README examples', () => {
    const examples = readmeExamples(readFileSync(join(root, 'README.md'), 'utf8'));
    const all = examples.length > 0 ? examples : [FALLBACK_EXAMPLE];
    all.forEach((code, i) => {
      const file = join(project, `readme-example-${i + 1}.mjs`);
      writeFileSync(file, code);
      const out = ok(run(process.execPath, [file], project), `README example ${i + 1}`);
      if (examples.length === 0) expect(out).toMatch(/^e0 8980\.50 points of chi\(R\) \d+ hdf5 e0 8980\.50$/m);
      // A `// prints: LINE` comment is a line the example must print, as the README shows it.
      for (const [, line] of code.matchAll(/^\/\/ prints: (.*)$/gm)) expect(out.split('\n'), `README example ${i + 1}`).toContain(line);
    });
  });

  it('runs the demo: npx batchfit, exit status 0, both sciences and the next command', () => {
    const r = run('npx', ['--offline', '--no-install', 'batchfit'], project);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/preEdge {2}e0 = 8980\.50 eV/);
    expect(r.stdout).toMatch(/measureStars .* 80 ok/);
    expect(r.stdout).toMatch(/npx batchfit autobk node_modules\/batchfit\/data\/xafs\/cu_rt01\.xmu --mu 2/);
  });

  it('type-checks in a consumer with skipLibCheck: false and no WebGPU setting of its own', () => {
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, noEmit: true }, files: ['consumer.ts'] }),
    );
    writeFileSync(
      join(project, 'consumer.ts'),
      [
        "import { GpuContext, BatchedFft, readAthena, readHdf5, realFftPlan } from 'batchfit';",
        "import { autobk, autobkBatch, readSpectrum, type AutobkResult } from 'batchfit/xafs';",
        "import { measureStarsBatch, readFits, type StarCatalogue } from 'batchfit/stars';",
        'export const used = [GpuContext, BatchedFft, readAthena, readHdf5, realFftPlan(16), autobk, autobkBatch, readSpectrum, measureStarsBatch, readFits];',
        'export type Used = [AutobkResult, StarCatalogue];',
      ].join('\n'),
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = run(process.execPath, [tsc, '-p', project], project);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
