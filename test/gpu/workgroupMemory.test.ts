/**
 * The workgroup-memory estimates that decide whether a shape fits a device (chunk planning,
 * AutobkSeriesGpu.capacityFor) against the declarations of the WGSL itself: every
 * `var<workgroup>` of the module, sized with the override constants a pipeline is made with.
 */
import { describe, expect, it } from 'vitest';
import { lmWorkgroupBytes } from '../../src/gpu/autobkLm.js';
import { seriesWorkgroupBytes, type AutobkSeriesMaps } from '../../src/gpu/autobkSeries.js';
import { wgslSources } from '../../src/gpu/wgsl.generated.js';

/** Bytes of every workgroup variable of a shader (4-byte elements), with `constants` substituted. */
function declaredBytes(source: string, constants: Record<string, number>): number {
  let total = 0;
  for (const m of source.matchAll(/^var<workgroup> \w+: ([^;]+);/gm)) {
    const type = m[1]!;
    const array = /^array<\w+, (.+)>$/.exec(type);
    if (array === null) {
      total += 4;
      continue;
    }
    const expr = array[1]!.replace(/[A-Z]+/g, (name) => {
      if (!(name in constants)) throw new Error(`no value for ${name}`);
      return String(constants[name]);
    });
    total += 4 * (Function(`return (${expr});`)() as number);
  }
  return total;
}

describe('workgroup memory estimates match the WGSL declarations', () => {
  it.each([
    [20, 30, 6],
    [7, 12, 0],
    [45, 90, 8],
  ])('autobk_lm with nspl %i, %i rows, nc %i', (vec, rows, nc) => {
    expect(lmWorkgroupBytes(vec, rows, nc)).toBe(declaredBytes(wgslSources.autobk_lm!, { WG: 64, MAXCOEF: vec, MAXROWS: rows, MAXNC: Math.max(1, nc) }));
  });

  it.each([
    [400, 30, 6, 20],
    [150, 12, 0, 7],
  ])('autobk_series with nIn %i, %i rows, nc %i, nspl %i', (nIn, rows, nc, nspl) => {
    const maps = { nIn, rows, nc, nspl } as AutobkSeriesMaps;
    expect(seriesWorkgroupBytes(maps)).toBe(declaredBytes(wgslSources.autobk_series!, { WG: 64, MAXIN: nIn, MAXROWS: rows, MAXCOEF: nspl, MAXNC: Math.max(1, nc) }));
  });
});
