/**
 * The library in a real browser: bundled with Vite (its worker modules as separate module
 * workers), and with esbuild as the README tells esbuild users to (the three worker modules as
 * entry points beside the bundle), served on 127.0.0.1, run in headless Debian Chromium (WebGPU
 * on SwiftShader there) through navigator.gpu: the batch APIs on both page kinds, the file
 * readers (gzip FITS, TIFF, Athena, HDF5 through h5wasm) and the one-spectrum and one-frame APIs
 * on files the page fetches, and the GPU FFT — each against Node's results.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as h5wasm from 'h5wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireGpu } from '../util/gpu.js';
import { backgroundGrid, backgroundMap, detectStars, measureStars, readFits, readImage } from '../../src/stars/index.js';
import { autobk, autobkBatch, listAthenaGroups, preEdge, readAthena, readHdf5, readSpectrum, xftf, xftr } from '../../src/xafs/index.js';
import { loadField } from '../stars/fields.js';
import { loadReference, loadSpectrum } from '../xafs/fixtures.js';

interface LibraryCheck {
  autobkCpu: number[][];
  autobkInline: number[][];
  autobkGpu: number[][];
  autobkAuto: number[][];
  /** Web Workers the pool started for the first CPU autobkBatch (2 asked for) and for measureStarsBatch. */
  autobkWorkers: number;
  starsWorkers: number;
  starsCpu: { x: number[]; y: number[]; status: number[] };
  starsGpu: { x: number[]; y: number[]; status: number[] };
  detected: number;
  spectrum: { n: number; first: number; last: number };
  fits: { width: number; height: number; sum: number };
  sharedArrayBuffer: boolean;
}

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  if (requireGpu) throw new Error(`BATCHFIT_REQUIRE_GPU=1 but ${CHROMIUM} is missing (apt-get install chromium)`);
  console.warn(`[batchfit] browser tests SKIPPED: ${CHROMIUM} not installed`);
}

/** An HDF5 file of one spectrum as I0 and It signals (μ = ln(i0/it)) on an energy dataset. */
async function hdf5Fixture(s: { energy: Float64Array; mu: Float64Array }): Promise<Uint8Array> {
  await h5wasm.ready;
  const name = '/browser-scan.h5';
  const f = new h5wasm.File(name, 'w');
  f.create_dataset({ name: 'energy', data: s.energy });
  f.create_dataset({ name: 'i0', data: new Float64Array(s.mu.length).fill(1e5) });
  f.create_dataset({ name: 'it', data: Float64Array.from(s.mu, (m) => 1e5 * Math.exp(-m)) });
  f.close();
  const bytes = (h5wasm.FS!.readFile(name) as Uint8Array).slice();
  h5wasm.FS!.unlink(name);
  return bytes;
}

describe.skipIf(!haveChromium)('in Chromium through navigator.gpu', () => {
  let dir: string;
  let server: Server;
  let url: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'batchfit-browser-'));
    const { build } = await import('vite');
    await build({
      configFile: false,
      logLevel: 'silent',
      // Worker bundles addressed relative to the bundle, so that the isolated page's workers
      // come from /isolated/ too, with its headers (a COEP page's workers need them).
      base: './',
      build: {
        outDir: dir,
        emptyOutDir: false,
        minify: false,
        lib: { entry: join(import.meta.dirname, 'entry.ts'), formats: ['es'], fileName: () => 'bundle.js' },
      },
    });
    // esbuild leaves `new Worker(new URL('./autobkWorker.js', import.meta.url))` as it is: the
    // workers are entry points of their own, named as the library asks for them, next to the bundle.
    const { build: esbuild } = await import('esbuild');
    const src = join(import.meta.dirname, '..', '..', 'src');
    await esbuild({
      entryPoints: {
        bundle: join(import.meta.dirname, 'entry.ts'),
        autobkWorker: join(src, 'xafs', 'autobkWorker.ts'),
        starsWorker: join(src, 'stars', 'starsWorker.ts'),
        backgroundWorker: join(src, 'stars', 'backgroundWorker.ts'),
      },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      outdir: join(dir, 'esbuild'),
      logLevel: 'silent',
    });
    // Files the formats check fetches, as a page gets a user's files: a gzip FITS, the camera
    // TIFF, an Athena project, an HDF5 file (energy, i0, it; written here with h5wasm) and a
    // column file.
    const fx = join(import.meta.dirname, '..', 'fixtures');
    mkdirSync(join(dir, 'fixtures'));
    writeFileSync(join(dir, 'fixtures', 'sep_image.fits.gz'), gzipSync(readFileSync(join(fx, 'stars', 'sep_image.fits'))));
    writeFileSync(join(dir, 'fixtures', 'frame.tiff'), readFileSync(join(fx, 'stars', 'tetra3_Alt40_Azi-45.tiff')));
    writeFileSync(join(dir, 'fixtures', 'Copper.prj'), readFileSync(join(fx, 'xafs', 'Copper.prj')));
    writeFileSync(join(dir, 'fixtures', 'cu_rt01.xmu'), readFileSync(join(fx, 'xafs', 'cu_rt01.xmu')));
    writeFileSync(join(dir, 'fixtures', 'scan.h5'), await hdf5Fixture(readSpectrum(readFileSync(join(fx, 'xafs', 'cu_rt01.xmu'), 'utf8'), { mu: 2 })));
    const page = `<!doctype html><meta charset="utf-8"><script type="module">
      import { runFftCheck, runFormatsCheck, runLibraryCheck } from './bundle.js';
      window.runFftCheck = runFftCheck;
      window.runFormatsCheck = runFormatsCheck;
      window.runLibraryCheck = runLibraryCheck;
      document.title = 'ready';
    </script>`;
    // Under /isolated/ the page and bundle come with COOP/COEP: a cross-origin-isolated page,
    // where SharedArrayBuffer exists; elsewhere an ordinary page, where it does not.
    server = createServer((req, res) => {
      const isolated = req.url?.startsWith('/isolated/') === true;
      const headers: Record<string, string> = isolated ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } : {};
      // The bundle and the worker bundles Vite emitted beside it (esbuild's under /esbuild/).
      const file = normalize((req.url ?? '/').replace(/^\/isolated\//, '/').split('?')[0]!).replace(/^(\.\.[/\\])+/, '');
      if (file.endsWith('.js') && existsSync(join(dir, file))) {
        res.writeHead(200, { 'content-type': 'text/javascript', ...headers });
        res.end(readFileSync(join(dir, file)));
      } else if (file.startsWith('/fixtures/') && existsSync(join(dir, file))) {
        res.writeHead(200, { 'content-type': 'application/octet-stream', ...headers });
        res.end(readFileSync(join(dir, file)));
      } else {
        res.writeHead(200, { 'content-type': 'text/html', ...headers });
        res.end(page);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`;
  });

  afterAll(() => {
    server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function withPage<T>(run: (page: import('playwright-core').Page) => Promise<T>, path = ''): Promise<T> {
    const { chromium } = await import('playwright-core');
    const profile = mkdtempSync(join(tmpdir(), 'batchfit-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--enable-unsafe-webgpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
    });
    try {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(url + path);
      await page.waitForFunction(() => document.title === 'ready');
      const out = await run(page);
      expect(errors).toEqual([]);
      return out;
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  }

  it.each([
    ['an ordinary page (no SharedArrayBuffer, no setImmediate)', '', false],
    ['a cross-origin-isolated page (SharedArrayBuffer)', 'isolated/', true],
    ['an ordinary page, the library bundled by esbuild', 'esbuild/', false],
  ] as const)('the batch APIs on %s give Node’s results', async (_kind, path, shared) => {
    const fx = join(import.meta.dirname, '..', 'fixtures');
    const names = ['cu_rt01', 'fe2o3_rt1', 'znse_zn_xafs'];
    const spectra = names.map((n) => loadSpectrum(loadReference(n)));
    const f = loadField('stars_gauss_iso');
    const xs = f.stars.map((s) => s.x_init);
    const ys = f.stars.map((s) => s.y_init);
    const xmuText = readFileSync(join(fx, 'xafs', 'cu_rt01.xmu'), 'utf8');
    const fitsBytes = readFileSync(join(fx, 'stars', 'sep_image.fits'));
    const input = {
      spectra: spectra.map((s) => ({ energy: Array.from(s.energy), mu: Array.from(s.mu) })),
      image: { width: f.image.width, height: f.image.height, data: Array.from(f.image.data) },
      positions: { x: xs, y: ys },
      xmuText,
      fitsBytes: Array.from(fitsBytes),
    };
    const got = await withPage(
      (page) => page.evaluate(async (arg) => (window as unknown as { runLibraryCheck: (a: typeof arg) => Promise<LibraryCheck> }).runLibraryCheck(arg), input),
      path,
    );
    expect(got.sharedArrayBuffer).toBe(shared);
    // Real Web Workers on both page kinds: two for the CPU AUTOBK batch and two each for the sky
    // grid and the stars (results written in place on an isolated page; on an ordinary one the
    // frame is copied to each worker and each job's rows are moved back).
    expect(got.autobkWorkers).toBe(2);
    expect(got.starsWorkers).toBe(4);
    const cpu = (await autobkBatch(spectra, {}, { device: 'cpu', workers: 0 })).toRecords();
    cpu.forEach((r, i) => {
      if (r.status === 'error') throw new Error(r.error);
      const max = Math.max(...Array.from(r.chi, Math.abs));
      const d = (a: number[]) => Math.max(...a.map((v, j) => Math.abs(v - r.chi[j]!))) / max;
      // Chromium's V8 and Node's may round exp/log differently in the last place.
      expect(d(got.autobkCpu[i]!), `${names[i]} CPU`).toBeLessThanOrEqual(1e-9);
      expect(got.autobkInline[i], `${names[i]} page thread = workers`).toEqual(got.autobkCpu[i]);
      expect(got.autobkAuto[i], `${names[i]} auto (software adapter: CPU)`).toEqual(got.autobkCpu[i]);
      expect(d(got.autobkGpu[i]!), `${names[i]} GPU (SwiftShader)`).toBeLessThanOrEqual(1e-4);
    });
    const stars = measureStars(f.image, { x: Float64Array.from(xs), y: Float64Array.from(ys) }, { method: 'gaussian', fwhm: 3 });
    expect(got.starsCpu.status).toEqual(Array.from(stars.status));
    expect(got.starsGpu.status).toEqual(Array.from(stars.status));
    for (let i = 0; i < stars.length; i++) {
      if (stars.status[i] !== 0) continue;
      expect(Math.abs(got.starsCpu.x[i]! - stars.x[i]!), `star ${i} CPU`).toBeLessThanOrEqual(1e-9);
      expect(Math.abs(got.starsGpu.x[i]! - stars.x[i]!), `star ${i} GPU`).toBeLessThanOrEqual(0.002);
      expect(Math.abs(got.starsGpu.y[i]! - stars.y[i]!), `star ${i} GPU`).toBeLessThanOrEqual(0.002);
    }
    expect(got.detected).toBe(detectStars(f.image, { threshold: 5, fwhm: 3 }).length);
    const sp = readSpectrum(xmuText, { energy: 1, mu: 2 });
    expect(got.spectrum).toEqual({ n: sp.energy.length, first: sp.mu[0], last: sp.mu[sp.mu.length - 1] });
    const fits = readFits(new Uint8Array(fitsBytes));
    expect(got.fits.width).toBe(fits.width);
    expect(got.fits.height).toBe(fits.height);
    expect(got.fits.sum).toBeCloseTo(fits.data.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0), 6);
  }, 300_000);

  it('the file readers and single-spectrum and frame APIs on fetched files give Node’s results', async () => {
    const base = `${url}fixtures/`;
    const urls = { fitsGz: `${base}sep_image.fits.gz`, tiff: `${base}frame.tiff`, prj: `${base}Copper.prj`, h5: `${base}scan.h5`, xmu: `${base}cu_rt01.xmu` };
    type Formats = Awaited<ReturnType<typeof import('./entry.js').runFormatsCheck>>;
    const got = await withPage((page) => page.evaluate(async (arg) => (window as unknown as { runFormatsCheck: (a: typeof arg) => Promise<Formats> }).runFormatsCheck(arg), urls));
    const file = (name: string) => readFileSync(join(dir, 'fixtures', name));
    const sum = (v: ArrayLike<number>) => Array.from(v).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    // Readers: the same pixels, groups and datasets (sums in float64 over the same values, so exact).
    const fits = await readImage(new Uint8Array(file('sep_image.fits.gz')), 'sep_image.fits.gz');
    expect(got.fits).toEqual({ format: fits.format, width: fits.width, height: fits.height, sum: sum(fits.data) });
    const tiff = await readImage(new Uint8Array(file('frame.tiff')), 'frame.tiff');
    expect(got.tiff).toEqual({ format: tiff.format, width: tiff.width, height: tiff.height, sum: sum(tiff.data), saturation: tiff.saturation });
    const prj = new Uint8Array(file('Copper.prj'));
    const groups = listAthenaGroups(prj).map((g) => g.label);
    const [cu] = readAthena(prj, { groups: groups[0]! }).groups;
    expect({ ...got.athena, e0: 0 }).toEqual({ groups, points: cu!.energy.length, e0: 0 });
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
    expect(rel(got.athena.e0, autobk(cu!.energy, cu!.mu).e0)).toBeLessThanOrEqual(1e-12);
    const h5 = await readHdf5(new Uint8Array(file('scan.h5')), { energy: '/energy', mu: 'ln(i0/it)', signals: { i0: '/i0', it: '/it' } });
    expect(got.hdf5).toEqual({ datasets: ['/energy', '/i0', '/it'], count: h5.count, shape: h5.shape, sum: sum(h5.mu) });
    // One spectrum: Larch's chain; Chromium's V8 and Node's may round exp/log differently in the last place.
    const { energy, mu } = readSpectrum(file('cu_rt01.xmu').toString('utf8'), { mu: 2 });
    const pre = preEdge(energy, mu);
    const bk = autobk(energy, mu, { rbkg: 1, kweight: 2 });
    const ft = xftf(bk.k, bk.chi, { kmin: 2, kmax: 15, dk: 1, window: 'hanning', kweight: 2 });
    const back = xftr(ft.r, ft.chirRe, ft.chirIm, { rmin: 1, rmax: 3, dr: 0.1, window: 'hanning' });
    expect(rel(got.xafs.e0, pre.e0)).toBeLessThanOrEqual(1e-12);
    expect(rel(got.xafs.edgeStep, pre.edgeStep)).toBeLessThanOrEqual(1e-12);
    const close = (a: number[], b: ArrayLike<number>, what: string) => {
      const max = Math.max(...Array.from(b, Math.abs));
      expect(a.length, what).toBe(b.length);
      expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]!))) / max, what).toBeLessThanOrEqual(1e-9);
    };
    close(got.xafs.chi, bk.chi, 'chi');
    close(got.xafs.chirMag, ft.chirMag, '|chi(R)|');
    close(got.xafs.chiq, back.chiqRe, 'Re chi(q)');
    // One frame: the sky map, its mesh grid in the page and in two Web Workers, detection, moments.
    const map = backgroundMap(fits);
    expect(got.stars.background).toBeCloseTo(sum(map.background), 6);
    const grid = Array.from(backgroundGrid(fits, { tileSize: 32 }).background);
    expect(got.stars.grid).toEqual(grid);
    expect(got.stars.gridWorkers).toEqual(grid);
    expect(got.stars.workers).toBe(2);
    const found = detectStars(fits, { background: map });
    expect(got.stars.found).toBe(found.length);
    close(got.stars.x, measureStars(fits, found, { method: 'moments' }, map).x, 'star x');
  }, 300_000);

  it('runs the bundled GPU FFT and matches the CPU FFT within 2e-6·max|X|', async () => {
    const result = await withPage((page) =>
      page.evaluate(async () => {
        const w = window as unknown as { runFftCheck: (n: number, c: number, k: number) => Promise<{ adapter: string; relativeError: number }> };
        return w.runFftCheck(2048, 8, 40);
      }),
    );
    console.info(`[batchfit] browser GPU tests run on: ${result.adapter}`);
    expect(result.relativeError).toBeLessThanOrEqual(2e-6);
  });
});
