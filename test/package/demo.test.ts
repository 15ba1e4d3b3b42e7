/** The demo (`npm start`, `npx batchfit`) on the shipped data: what it prints and that it succeeds. */
import { describe, expect, it } from 'vitest';
import { runDemo } from '../../src/cli/demo.js';

describe('runDemo', () => {
  it('runs both sciences on data/ and names the next commands', async () => {
    const lines: string[] = [];
    expect(await runDemo((l) => lines.push(l))).toBe(0);
    const text = lines.join('\n');
    expect(text).toMatch(/preEdge {2}e0 = 89\d\d\.\d\d eV/);
    expect(text).toMatch(/largest \|χ\(R\)\| = [\d.]+ at R = 2\.\d\d Å/);
    expect(text).toMatch(/detectStars .*: \d+ stars found/);
    expect(text).toMatch(/median FWHM = 3\.0\d\d px/);
    expect(text).toMatch(/npx batchfit autobk \S*data\/xafs\/cu_rt01\.xmu --mu 2/);
    expect(text).toMatch(/npx batchfit stars \S*data\/stars\/stars_gauss_iso\.f32 --detect/);
  });
});
