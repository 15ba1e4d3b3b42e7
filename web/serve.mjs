#!/usr/bin/env node
// `npm run app`: builds the web app into web/dist when it is missing or older than its sources
// (web/, src/, shaders/), then serves it on 127.0.0.1 and prints the address.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, preview } from 'vite';
import { newest } from '../scripts/newest.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const config = join(root, 'web', 'vite.config.ts');
const dist = join(root, 'web', 'dist', 'index.html');

const port = Number(process.env.PORT ?? 5173);
const stale = !existsSync(dist) || ['web', 'src', 'shaders'].some((d) => newest(join(root, d), ['dist', 'node_modules']) > statSync(dist).mtimeMs);
if (stale) {
  console.log('building the app into web/dist …');
  await build({ configFile: config });
}
const server = await preview({ configFile: config, preview: { host: '127.0.0.1', port, strictPort: false } });
const url = server.resolvedUrls?.local[0] ?? `http://127.0.0.1:${port}/`;
console.log(`batchfit app: ${url}  (Ctrl+C to stop)`);
