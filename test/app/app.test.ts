/**
 * The web app in a real browser: built with Vite's JS API into a temporary folder, served by
 * `vite preview` on 127.0.0.1 (cross-origin isolated, as `npm run app` serves it), driven in
 * headless Debian Chromium through its file inputs. The numbers the page shows must be the
 * library's in Node: e0 and edge step, χ(k) (from the page's CSV download) within 1e-6
 * relative on the CPU path that device 'auto' takes on SwiftShader, the star count, star
 * positions within 0.002 px on the GPU path, a clicked star's FWHM; the "batch file" download
 * has the schema and metadata of `batchfit autobk-batch --out`'s Arrow file (run here on the same
 * files) and the χ(k) of the CSV and of the CLI's file within 1e-12. Screenshots go to
 * test-output/; with BATCHFIT_UPDATE_SCREENSHOTS=1 also to docs/images/ (the README's), which
 * a plain test run leaves alone so it does not touch tracked files.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC, type Table } from 'apache-arrow';
import type { Page } from 'playwright-core';
import type { PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { autobkBatchCommand } from '../../src/cli/autobkBatch.js';
import { AUTOBK_BATCH_COLUMNS } from '../../src/io/autobkTable.js';
import { detectStars, measureStars, measureStarsBatch, readFits } from '../../src/stars/index.js';
import { autobkBatch, readSpectrum } from '../../src/xafs/index.js';
import { requireGpu, testGpu } from '../util/gpu.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  if (requireGpu) throw new Error(`BATCHFIT_REQUIRE_GPU=1 but ${CHROMIUM} is missing (apt-get install chromium)`);
  console.warn(`[batchfit] app tests SKIPPED: ${CHROMIUM} not installed`);
}

const root = join(import.meta.dirname, '..', '..');
const fixtures = join(root, 'test', 'fixtures');
const outDir = join(root, 'test-output');

/** Copies a screenshot to docs/images/ when BATCHFIT_UPDATE_SCREENSHOTS=1. */
function updateReadmeScreenshot(name: string): void {
  if (process.env.BATCHFIT_UPDATE_SCREENSHOTS !== '1') return;
  mkdirSync(join(root, 'docs', 'images'), { recursive: true });
  copyFileSync(join(outDir, name), join(root, 'docs', 'images', name));
}
const XMU = join(fixtures, 'xafs', 'cu_rt01.xmu');
const XMU2 = join(fixtures, 'xafs', 'fe2o3_rt1.xmu');
const FITS = join(fixtures, 'stars', 'sep_image.fits');

/** A CSV written by the page: the header row after the '#' comments, then numbers by column. */
function parseCsv(text: string): Map<string, number[]> {
  const lines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const names = lines[0]!.split(',');
  const cols = new Map(names.map((n) => [n, [] as number[]]));
  for (const l of lines.slice(1)) l.split(',').forEach((v, j) => cols.get(names[j]!)!.push(v === '' ? NaN : v === 'nan' ? NaN : Number(v)));
  return cols;
}

/** A fixture as the file input's payload (paths and buffers cannot be mixed in one call). */
function filePayload(path: string): { name: string; mimeType: string; buffer: Buffer } {
  return { name: path.split('/').pop()!, mimeType: 'application/octet-stream', buffer: readFileSync(path) };
}

/** The Arrow file `batchfit autobk-batch FILES --out` writes (CPU, this thread), its console quiet. */
async function cliBatchFile(files: string[]): Promise<Table> {
  const dir = mkdtempSync(join(tmpdir(), 'batchfit-app-cli-'));
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    const code = await autobkBatchCommand([...files, '--device', 'cpu', '--workers', '0', '--out', join(dir, 'run')]);
    expect(code, 'batchfit autobk-batch exit status').toBe(0);
    return tableFromIPC(readFileSync(join(dir, 'run.arrow')));
  } finally {
    log.mockRestore();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function downloadBytes(page: Page, button: string): Promise<Buffer> {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
  return readFileSync((await dl.path())!);
}

async function downloadText(page: Page, button: string): Promise<string> {
  return (await downloadBytes(page, button)).toString('utf8');
}

describe.skipIf(!haveChromium)('the web app in Chromium', () => {
  let dist: string;
  let server: PreviewServer;
  let url: string;
  let close: () => Promise<void>;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    dist = mkdtempSync(join(tmpdir(), 'batchfit-app-'));
    const vite = await import('vite');
    const configFile = join(root, 'web', 'vite.config.ts');
    await vite.build({ configFile, logLevel: 'silent', build: { outDir: dist, emptyOutDir: true } });
    server = await vite.preview({ configFile, logLevel: 'silent', build: { outDir: dist }, preview: { host: '127.0.0.1', port: 0, open: false } });
    url = server.resolvedUrls!.local[0]!;
    const { chromium } = await import('playwright-core');
    const profile = mkdtempSync(join(tmpdir(), 'batchfit-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 1000 },
      acceptDownloads: true,
      args: ['--no-sandbox', '--enable-unsafe-webgpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
    });
    close = async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    };
    page = await context.newPage();
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
    });
    await page.goto(url);
    await page.waitForSelector('body[data-ready="true"]');
    mkdirSync(outDir, { recursive: true });
  });

  afterAll(async () => {
    await close?.();
    await new Promise<void>((resolve) => (server ? server.httpServer.close(() => resolve()) : resolve()));
    if (dist) rmSync(dist, { recursive: true, force: true });
  });

  it('XAFS: two spectra and a bad file through the file input; e0, edge step and χ(k) are Node’s', async () => {
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    await page.setInputFiles('#xafs-files', [filePayload(XMU), filePayload(XMU2), { name: 'broken.xmu', mimeType: 'text/plain', buffer: Buffer.from('# no numbers here\nhello world\n') }]);
    const bad = page.locator('#xafs-errors li[data-file="broken.xmu"]');
    await bad.waitFor();
    expect(await bad.textContent()).toMatch(/^broken\.xmu: .+/);
    // The μ preview of the first file, with the column the file labels 'mu'.
    expect(await page.inputValue('#xafs-mu')).toBe('mu');
    await page.waitForSelector('#xafs-preview svg .mark-line path');
    await page.click('#xafs-run');
    await page.waitForSelector('#xafs-table tbody tr[data-status] td[data-e0]');
    await page.waitForSelector('#xafs-chir-plot svg .mark-line path');
    const shown = await page.$$eval('#xafs-table tbody tr', (rows) =>
      rows.map((r) => ({ e0: Number(r.querySelector<HTMLElement>('td[data-e0]')?.dataset.e0), step: Number(r.querySelector<HTMLElement>('td[data-edge-step]')?.dataset.edgeStep) })),
    );
    const device = await page.getAttribute('#xafs-status', 'data-device');
    const chiCsv = parseCsv(await downloadText(page, '#xafs-dl-chi'));
    const batchFile = tableFromIPC(await downloadBytes(page, '#xafs-dl-arrow'));

    const spectra = [XMU, XMU2].map((f) => readSpectrum(readFileSync(f, 'utf8'), { energy: 1, mu: 2 }));
    // The app's FT settings (xftf's defaults as the form shows them) do not touch χ(k).
    const node = (await autobkBatch(spectra, {}, { device: 'cpu', workers: 0 })).toRecords();
    // device 'auto' on SwiftShader (a software adapter) runs on the CPU: the same float64 code.
    expect(device).toBe('cpu');
    expect(shown).toHaveLength(2);
    node.forEach((r, i) => {
      if (r.status === 'error') throw new Error(r.error);
      expect(Math.abs(shown[i]!.e0 - r.e0) / r.e0).toBeLessThanOrEqual(1e-12);
      expect(Math.abs(shown[i]!.step - r.edgeStep) / r.edgeStep).toBeLessThanOrEqual(1e-9);
      const col = chiCsv.get([...chiCsv.keys()][i + 1]!)!;
      const max = Math.max(...Array.from(r.chi, Math.abs));
      let d = 0;
      for (let j = 0; j < r.chi.length; j++) d = Math.max(d, Math.abs(col[j]! - r.chi[j]!));
      expect(d / max, `χ(k) of spectrum ${i}`).toBeLessThanOrEqual(1e-6);
    });
    // The batch file against `batchfit autobk-batch --out` on the same files: the same columns,
    // types and metadata (the app's FT form holds the CLI's defaults), χ as in the CSV and the CLI's.
    const cliFile = await cliBatchFile([XMU, XMU2]);
    const typed = (t: Table) => t.schema.fields.map((f) => `${f.name}: ${f.type}${f.nullable ? ' (nullable)' : ''}`);
    expect(cliFile.schema.fields.map((f) => f.name)).toEqual(AUTOBK_BATCH_COLUMNS.map((c) => c.name));
    expect(batchFile.numRows).toBe(2);
    expect(typed(batchFile)).toEqual(typed(cliFile));
    expect([...batchFile.schema.metadata.keys()].sort()).toEqual([...cliFile.schema.metadata.keys()].sort());
    for (const key of ['k_step', 'r_step', 'xftf', 'units', 'descriptions']) expect(batchFile.schema.metadata.get(key), `metadata ${key}`).toBe(cliFile.schema.metadata.get(key));
    expect(batchFile.getChild('name')!.toArray()).toEqual(cliFile.getChild('name')!.toArray());
    for (let i = 0; i < 2; i++) {
      const chi = batchFile.getChild('chi')!.get(i)!.toArray() as Float64Array;
      const cliChi = cliFile.getChild('chi')!.get(i)!.toArray() as Float64Array;
      const col = chiCsv.get([...chiCsv.keys()][i + 1]!)!;
      expect(chi.length, `batch file χ(k) points, row ${i}`).toBe(cliChi.length);
      let toCsv = 0;
      let toCli = 0;
      for (let j = 0; j < chi.length; j++) {
        toCsv = Math.max(toCsv, Math.abs(chi[j]! - col[j]!));
        toCli = Math.max(toCli, Math.abs(chi[j]! - cliChi[j]!));
      }
      expect(toCsv, `batch file χ(k) of row ${i} vs the page's CSV`).toBeLessThanOrEqual(1e-12);
      expect(toCli, `batch file χ(k) of row ${i} vs the CLI's file`).toBeLessThanOrEqual(1e-12);
      expect(batchFile.getChild('e0')!.get(i)).toBe(shown[i]!.e0);
    }
    // Plots drawn: μ with bkg, χ(k)·k^w, |χ(R)| (SVG paths) and the series heat map (canvas).
    for (const id of ['xafs-mu-plot', 'xafs-chik-plot', 'xafs-chir-plot']) {
      expect(await page.locator(`#${id} svg .mark-line path`).count(), id).toBeGreaterThan(0);
    }
    const heat = await page.$eval('#xafs-heatmap canvas', (c) => (c as HTMLCanvasElement).width);
    expect(heat).toBeGreaterThan(0);
    await page.screenshot({ path: join(outDir, 'app-xafs.png'), fullPage: true });
    updateReadmeScreenshot('app-xafs.png');
  });

  it('Stars: sep_image.fits on the CPU and the GPU; count, statuses and positions are Node’s, a clicked star shows its FWHM, a bad frame its error', async () => {
    // Node's side first, so that its GPU run (lavapipe compiling the star kernels, the slow part
    // on a cold cache) overlaps with the page's work in Chromium.
    const image = readFits(new Uint8Array(readFileSync(FITS)));
    const found = detectStars(image, { threshold: 5, fwhm: 3 });
    const positions = { x: Float64Array.from(found, (s) => s.x), y: Float64Array.from(found, (s) => s.y) };
    // The page measures with the saturation level the FITS header states, as the CLI does.
    const options = { method: 'gaussian' as const, fwhm: 3, ...(image.saturation === undefined ? {} : { saturation: image.saturation }) };
    const nodeGpu = testGpu().then(async (ctx) => {
      if (ctx === undefined) return undefined;
      try {
        return await measureStarsBatch(image, positions, options, { device: 'gpu', gpu: ctx });
      } finally {
        ctx.destroy();
      }
    });
    nodeGpu.catch(() => undefined);
    await page.click('#tab-stars');
    await page.setInputFiles('#stars-file', { name: 'junk.fits', mimeType: 'application/octet-stream', buffer: Buffer.from('SIMPLE  = nonsense') });
    expect(await page.locator('#stars-errors li[data-file="junk.fits"]').textContent()).toMatch(/^junk\.fits: .+/);
    await page.setInputFiles('#stars-file', FITS);
    const measure = async (device: 'cpu' | 'gpu'): Promise<Map<string, number[]>> => {
      await page.selectOption('#stars-device', device);
      await page.evaluate(() => document.getElementById('stars-count')!.removeAttribute('data-count'));
      await page.click('#stars-run');
      await page.waitForSelector('#stars-count[data-count]');
      await page.waitForSelector('#stars-map-ell svg .mark-symbol path');
      return parseCsv(await downloadText(page, '#stars-dl'));
    };
    const pageCpu = await measure('cpu');
    const pageGpu = await measure('gpu');
    const count = Number(await page.getAttribute('#stars-count', 'data-count'));

    const node = measureStars(image, positions, options);
    expect(count).toBe(node.length);
    expect(count).toBeGreaterThan(50);
    // The CPU path (Web Workers sharing the frame on this isolated page): Node's numbers.
    expect(pageCpu.get('status')).toEqual(Array.from(node.status));
    for (let i = 0; i < node.length; i++) {
      if (node.status[i] === 2) continue;
      expect(Math.abs(pageCpu.get('x')![i]! - node.x[i]!), `star ${i} x (CPU)`).toBeLessThanOrEqual(1e-9);
      expect(Math.abs(pageCpu.get('y')![i]! - node.y[i]!), `star ${i} y (CPU)`).toBeLessThanOrEqual(1e-9);
    }
    // The GPU path against Node's GPU path (lavapipe there, SwiftShader here). The float32 fit
    // differs from the float64 CPU fit by up to ~0.008 px on this real frame and converges on a
    // few stars the CPU fit gives up on, so the CPU is not the reference for it.
    const gpuCat = await nodeGpu;
    if (gpuCat === undefined) {
      console.warn('[batchfit] app test: no WebGPU adapter in Node, the page’s GPU positions are not compared');
    } else {
      expect(pageGpu.get('status')).toEqual(Array.from(gpuCat.status));
      let worst = 0;
      for (let i = 0; i < gpuCat.length; i++) {
        if (gpuCat.status[i] !== 0) continue;
        worst = Math.max(worst, Math.abs(pageGpu.get('x')![i]! - gpuCat.x[i]!), Math.abs(pageGpu.get('y')![i]! - gpuCat.y[i]!));
      }
      expect(worst, 'largest page − Node GPU position difference (px)').toBeLessThanOrEqual(0.002);
    }

    // Click the brightest well-measured star where the canvas draws it (pixel centres at integers, y up).
    let star = -1;
    for (let i = 0; i < node.length; i++) if (node.status[i] === 0 && (star < 0 || node.flux[i]! > node.flux[star]!)) star = i;
    const box = (await page.locator('#stars-canvas').boundingBox())!;
    const size = await page.$eval('#stars-canvas', (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height]);
    const k = size[0]! / image.width;
    const cx = ((node.x[star]! + 0.5) * k * box.width) / size[0]!;
    const cy = ((image.height - 0.5 - node.y[star]!) * k * box.height) / size[1]!;
    await page.locator('#stars-canvas').click({ position: { x: cx, y: cy } });
    await page.waitForSelector('#star-residual svg .mark-rect path');
    expect(Number(await page.getAttribute('#star-id', 'data-id'))).toBe(star);
    const fwhm = Number(await page.getAttribute('#star-metrics tr[data-field="fwhm"]', 'data-value'));
    expect(fwhm).toBe(pageGpu.get('fwhm')![star]);
    expect(Math.abs(fwhm - node.fwhm[star]!) / node.fwhm[star]!, 'clicked star FWHM, GPU vs Node CPU').toBeLessThanOrEqual(1e-3);
    for (const id of ['stars-hist', 'stars-map-fwhm', 'star-stamp', 'star-model']) {
      expect(await page.locator(`#${id} svg path`).count(), id).toBeGreaterThan(0);
    }
    await page.screenshot({ path: join(outDir, 'app-stars.png'), fullPage: true });
    updateReadmeScreenshot('app-stars.png');
    expect(errors).toEqual([]);
  });
});
