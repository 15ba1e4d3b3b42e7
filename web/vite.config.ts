/**
 * The web app's build: static files in web/dist (or the outDir a caller gives), addressed
 * relative to the page so that they can be served from any path. Served with COOP/COEP, the page
 * is cross-origin isolated: SharedArrayBuffer exists and the CPU star workers share the frame.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/** The headers that make the page cross-origin isolated (everything it loads is same-origin). */
export const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  // The library's worker modules (new Worker(new URL(…), { type: 'module' })) as ES modules.
  worker: { format: 'es' },
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    // vega and h5wasm are large; one chunk each is expected.
    chunkSizeWarningLimit: 6000,
  },
  server: { host: '127.0.0.1', headers: isolationHeaders },
  preview: { host: '127.0.0.1', headers: isolationHeaders },
});
