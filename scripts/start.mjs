// `npm start`: the demo of both sciences (dist/cli/demo.js), rebuilding dist/ first only when a
// source is newer than it, so a second run starts at once.
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { newest } from './newest.mjs';

const stale = !existsSync('dist/cli/demo.js') || newest('dist') < Math.max(newest('src'), newest('shaders'), newest('scripts'));
if (stale) execSync('npm run -s build', { stdio: 'inherit' });
const { runDemo } = await import(new URL('../dist/cli/demo.js', import.meta.url).href);
process.exitCode = await runDemo();
