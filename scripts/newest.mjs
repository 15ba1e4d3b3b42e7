// When a built artefact is stale: the newest modification time of the sources it comes from.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Newest modification time (ms) of any file under `dir` (0 when it does not exist), not looking
 * into folders named in `skip` (build outputs and node_modules kept beside the sources).
 */
export function newest(dir, skip = []) {
  if (!existsSync(dir)) return 0;
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory() && skip.includes(e.name)) continue;
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p, skip) : statSync(p).mtimeMs);
  }
  return t;
}
