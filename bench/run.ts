/**
 * Runs the benchmarks: every bench/*.bench.ts (compiled to build/bench/*.bench.js) exports a
 * default async function. `npm run bench -- fft` runs only the files whose name contains "fft".
 * `stars-sep` also runs SEP through /usr/bin/python3 (bench/sep/sep_bench.py) for its side-by-side
 * column, and skips that column with a notice where sep cannot be imported.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const filter = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => filter.length === 0 || filter.some((w) => f.includes(w)))
  .sort();
if (files.length === 0) {
  console.error(`no benchmark matches ${filter.join(' ')}`);
  process.exit(1);
}
for (const f of files) {
  console.log(`\n=== ${f.replace(/\.js$/, '')}`);
  const mod = (await import(pathToFileURL(join(here, f)).href)) as { default: () => Promise<void> };
  await mod.default();
}
