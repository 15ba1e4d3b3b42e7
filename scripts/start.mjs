// `npm start`: the demo of both sciences (dist/cli/demo.js), rebuilding dist/ first only when a
// source is newer than it, so a second run starts at once.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Newest modification time (ms) of any file under `dir`, 0 when it does not exist. */
function newest(dir) {
  if (!existsSync(dir)) return 0;
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

const stale = !existsSync('dist/cli/demo.js') || newest('dist') < Math.max(newest('src'), newest('shaders'), newest('scripts'));
if (stale) execSync('npm run -s build', { stdio: 'inherit' });
const { runDemo } = await import(new URL('../dist/cli/demo.js', import.meta.url).href);
process.exitCode = await runDemo();
