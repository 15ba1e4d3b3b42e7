/**
 * `npm run docs` (typedoc, typedoc.json) builds the API reference without warnings: every type a
 * public signature mentions is itself public (members marked @internal are left out).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './docCoverage.js';

describe('typedoc', () => {
  it('builds the API reference with no warning', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--emit', 'none'], { cwd: ROOT, encoding: 'utf8', timeout: 280_000, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
    const lines = `${r.stdout}\n${r.stderr}`.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
    const problems = lines.filter((l) => /\[(warning|error)\]/.test(l) && !/Found \d+ errors? and \d+ warnings?/.test(l));
    expect(problems).toEqual([]);
    expect(r.status).toBe(0);
  });
});
