/**
 * The library in a real browser: bundled with Vite, served on 127.0.0.1, run in headless
 * Debian Chromium (WebGPU on SwiftShader there) through navigator.gpu.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireGpu } from '../util/gpu.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  if (requireGpu) throw new Error(`BATCHFIT_REQUIRE_GPU=1 but ${CHROMIUM} is missing (apt-get install chromium)`);
  console.warn(`[batchfit] browser tests SKIPPED: ${CHROMIUM} not installed`);
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
      build: {
        outDir: dir,
        emptyOutDir: false,
        minify: false,
        lib: { entry: join(import.meta.dirname, 'entry.ts'), formats: ['es'], fileName: () => 'bundle.js' },
      },
    });
    const page = `<!doctype html><meta charset="utf-8"><script type="module">
      import { runFftCheck } from './bundle.js';
      window.runFftCheck = runFftCheck;
      document.title = 'ready';
    </script>`;
    server = createServer((req, res) => {
      if (req.url === '/bundle.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' });
        res.end(readFileSync(join(dir, 'bundle.js')));
      } else {
        res.writeHead(200, { 'content-type': 'text/html' });
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

  it('runs the bundled GPU FFT and matches the CPU FFT within 2e-6·max|X|', async () => {
    const { chromium } = await import('playwright-core');
    const profile = mkdtempSync(join(tmpdir(), 'batchfit-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--enable-unsafe-webgpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-quic',
      ],
    });
    try {
      const page = await context.newPage();
      await page.goto(url);
      await page.waitForFunction(() => document.title === 'ready');
      const result = await page.evaluate(async () => {
        const w = window as unknown as { runFftCheck: (n: number, c: number, k: number) => Promise<{ adapter: string; relativeError: number }> };
        return w.runFftCheck(2048, 8, 40);
      });
      console.info(`[batchfit] browser GPU tests run on: ${result.adapter}`);
      expect(result.relativeError).toBeLessThanOrEqual(2e-6);
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
