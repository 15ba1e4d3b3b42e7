/**
 * The PSF fit kernel's two builds (src/gpu/starsFit.ts): `stars_fit/subgroups` (sums in
 * registers, subgroupAdd) on a device with the `subgroups` feature and `stars_fit` (workgroup
 * memory, tree) on a context created with `subgroups: false`, run directly on the same
 * synthetic stamps (Gaussian, rotated Gaussian, Moffat with fixed and free β; noise; every fifth
 * star with a masked corner) for stamp radii 4 and 9; then a few stars against the float32 CPU
 * fitter (src/stars/psfFit32.ts).
 *
 * Tolerances. The builds add the same float32 terms in different orders, so JᵀWJ, JᵀWr and χ²
 * differ in their last bits, and so do the steps computed from them. Both runs stop by the same
 * rules: a step below the parameter tolerances, or a step whose promised χ² decrease is below
 * 1e-6·χ² (what float32 resolves); near the optimum "does the trial lower χ²" compares two
 * nearly equal numbers, so a build may take a step more or less. Two end points of one fit
 * therefore lie within those stopping distances of the optimum: per parameter k,
 * |Δp_k| ≤ 2·t_k + 2e-3·√χ²·σ_k, with t_k the kernel's step tolerance (1e-4 px for x0, y0; for
 * the others the larger of the start tolerance and 1 % of 1/√H_kk) and σ_k = √((JᵀWJ)⁻¹)_kk the
 * marginal σ: a step promising 1e-6·χ² moves p_k by up to √(2e-6·χ²)·σ_k along the parameters'
 * correlations (Moffat α and β, flux and width), which the conditional σ 1/√H_kk would miss.
 * χ² within 2e-5 relative: 2·N·ε32 for N ≤ 361 terms, which also covers the second-order change
 * of χ² between two such end points. Same status; iterations within 2 (the step or two above).
 * Measured on lavapipe: |Δp_k| ≤ 0.13 of its tolerance, χ² within 7e-7, iterations equal.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { createStorageBuffer, createUniformBuffer, ReadbackBuffer, upload } from '../../src/gpu/buffers.js';
import { dispatchGrid } from '../../src/gpu/chunks.js';
import { GpuContext } from '../../src/gpu/context.js';
import { starsFitPipeline, starsFitUsesSubgroups, starsFitWorkgroupBytes } from '../../src/gpu/starsFit.js';
import { wgslSources } from '../../src/gpu/wgsl.generated.js';
import { mulberry32 } from '../../src/math/random.js';
import { createPsfFitter, newFitOutcome, type PsfModel } from '../../src/stars/psfFit.js';
import { fitParams } from '../../src/stars/psfModel.js';
import { gpuLabel, testGpu } from '../util/gpu.js';

const ctx = await testGpu();
/** The same adapter without the `subgroups` feature: the workgroup build. */
const plainCtx = ctx ? await GpuContext.create({ subgroups: false }) : undefined;

const LM_WORDS = 80;
const LM_TOL = 18;
const LM_H = 27;
const LM_CHI2 = 73;
const LM_ITER = 74;
const LM_STATUS = 75;
const LM_PIXELS = 76;
const LM_NOISE = 79;
const FIT_PENDING = 100;
const FIT_CONVERGED = 0;
const NAN_BITS = 0x7fc00000;
const WG = 64;
const BETA = 2.5;
const ITERATIONS_PER_SUBMISSION = 8;
const STARS = 40;

/** Stamps (z, w) per pixel and LM words (start parameters, status pending) of `count` stars. */
interface Synthetic {
  model: PsfModel;
  /** The sky has a slope, and the fit has Bx, By after B (MeasureOptions.skySlope 'fit'). */
  slope: boolean;
  R: number;
  count: number;
  stamps: Float32Array;
  lm: Float32Array;
}

/** Precision matrix [[a, b], [b, c]] of a Gaussian with axes s1, s2 at angle θ. */
function precision(s1: number, s2: number, theta: number): [number, number, number] {
  const co = Math.cos(theta);
  const si = Math.sin(theta);
  return [co * co / (s1 * s1) + si * si / (s2 * s2), co * si * (1 / (s1 * s1) - 1 / (s2 * s2)), si * si / (s1 * s1) + co * co / (s2 * s2)];
}

function moffatAlpha(fwhm: number, beta: number): number {
  return fwhm / (2 * Math.sqrt(2 ** (1 / beta) - 1));
}

function synthesize(model: PsfModel, R: number, count: number, seed: number, slope = false): Synthetic {
  const rand = mulberry32(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const side = 2 * R + 1;
  const npix = side * side;
  const np = fitParams(model, slope);
  const stamps = new Float32Array(2 * npix * count);
  const lm = new Float32Array(LM_WORDS * count);
  const SUB = 8;
  for (let s = 0; s < count; s++) {
    const x0 = rand() - 0.5;
    const y0 = rand() - 0.5;
    // Peak about 1 (the data are scaled by the stamp peak); sky σ 0.005…0.05: SNR ≈ 20…200 at the peak.
    const sky = 0.005 + 0.045 * rand();
    const B = 0.01 * (rand() - 0.5);
    // A tilt of up to ±0.004 of the peak per px (±3.6 % across the stamp at R = 9), which the fit starts from 0.
    const bx = slope ? 0.008 * (rand() - 0.5) : 0;
    const by = slope ? 0.008 * (rand() - 0.5) : 0;
    const sigma = (R / 4.1) * (0.8 + 0.4 * rand());
    const start = new Float64Array(9);
    let profile: (dx: number, dy: number) => number;
    if (model === 0) {
      const sx = sigma;
      const sy = sigma * (0.8 + 0.4 * rand());
      profile = (dx, dy) => Math.exp(-0.5 * ((dx / sx) ** 2 + (dy / sy) ** 2));
      start.set([x0 + 0.25, y0 - 0.2, 1.2 * 2 * Math.PI * sx * sy, 1.1 * sx, 0.92 * sy, 0]);
    } else if (model === 1) {
      const s1 = sigma;
      const s2 = sigma * (0.7 + 0.25 * rand());
      const theta = Math.PI * rand();
      const [a, b, c] = precision(s1, s2, theta);
      profile = (dx, dy) => Math.exp(-0.5 * (a * dx * dx + 2 * b * dx * dy + c * dy * dy));
      start.set([x0 + 0.25, y0 - 0.2, 1.2 * 2 * Math.PI * s1 * s2, ...precision(1.1 * s1, 0.95 * s2, theta + 0.15), 0]);
    } else {
      const beta = model === 2 ? BETA : 2 + 2 * rand();
      const alpha = moffatAlpha(2.3548 * sigma, beta);
      profile = (dx, dy) => (1 + (dx * dx + dy * dy) / (alpha * alpha)) ** -beta;
      start.set([x0 + 0.25, y0 - 0.2, 0.85, 1.1 * alpha, ...(model === 3 ? [BETA, 0] : [0])]);
    }
    // Every fifth star loses a corner of its stamp, as at the frame's edge.
    const masked = s % 5 === 4;
    let pixels = 0;
    for (let j = 0; j < side; j++) {
      for (let i = 0; i < side; i++) {
        let m = 0;
        for (let v = 0; v < SUB; v++) for (let u = 0; u < SUB; u++) m += profile(i - R - 0.5 + (u + 0.5) / SUB - x0, j - R - 0.5 + (v + 0.5) / SUB - y0);
        m = m / (SUB * SUB) + B + bx * (i - R) + by * (j - R);
        const variance = sky * sky + 0.005 * Math.max(m, 0);
        const k = 2 * (s * npix + j * side + i);
        if (masked && i < R && j < R / 2) continue;
        stamps[k] = m + Math.sqrt(variance) * normal();
        stamps[k + 1] = 1 / variance;
        pixels++;
      }
    }
    const l = s * LM_WORDS;
    for (let k = 0; k < np; k++) lm[l + k] = start[k]!;
    lm[l + LM_PIXELS] = pixels;
    lm[l + LM_NOISE] = sky;
    lm[l + LM_STATUS] = FIT_PENDING;
  }
  return { model, slope, R, count, stamps, lm };
}

/** Runs the fit loop of starsBatch.ts (8 iterations per submission until no star is active); the final LM words. */
async function runFit(c: GpuContext, data: Synthetic): Promise<{ lm: Float32Array; submissions: number }> {
  const { model, R, count, slope } = data;
  const pipeline = await starsFitPipeline(c, { model, slope, R, wg: WG });
  const grid = dispatchGrid(count, c.limits.maxComputeWorkgroupsPerDimension);
  const params = createUniformBuffer(c, 'fit params', 32);
  const words = new Uint32Array(8);
  new Float32Array(words.buffer)[2] = BETA;
  words.set([count, grid.x], 0);
  words.set([ITERATIONS_PER_SUBMISSION, NAN_BITS, WG / 2], 3);
  upload(c, params, words);
  const stamps = createStorageBuffer(c, 'fit stamps', data.stamps.byteLength);
  upload(c, stamps, data.stamps);
  const lm = createStorageBuffer(c, 'fit lm', data.lm.byteLength);
  upload(c, lm, data.lm);
  const active = createStorageBuffer(c, 'fit active count', 16);
  const group = c.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: params, size: 32 } },
      { binding: 1, resource: { buffer: stamps } },
      { binding: 2, resource: { buffer: lm } },
      { binding: 3, resource: { buffer: active } },
    ],
  });
  const activeBack = new ReadbackBuffer(c, 'fit active read-back', 16);
  const activeWord = new Uint32Array(1);
  let submissions = 0;
  const maxSubmissions = Math.ceil(100 / ITERATIONS_PER_SUBMISSION) + 1;
  while (submissions < maxSubmissions) {
    c.submit((enc) => {
      enc.clearBuffer(active);
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(grid.x, grid.y);
      pass.end();
      activeBack.copyFrom(enc, active, 4);
    });
    submissions++;
    await activeBack.read(activeWord);
    if (activeWord[0] === 0) break;
  }
  const back = new ReadbackBuffer(c, 'fit lm read-back', data.lm.byteLength);
  c.submit((enc) => back.copyFrom(enc, lm, data.lm.byteLength));
  const out = new Float32Array(data.lm.length);
  await back.read(out);
  for (const b of [params, stamps, lm, active]) b.destroy();
  activeBack.destroy();
  back.destroy();
  return { lm: out, submissions };
}

/** σ_k = √((JᵀWJ)⁻¹)_kk of star s from its packed JᵀWJ (float64 Gauss–Jordan on [H | I]). */
function marginalSigmas(lm: Float32Array, s: number, np: number): Float64Array {
  const h = (i: number, j: number): number => lm[s * LM_WORDS + LM_H + (i >= j ? (i * (i + 1)) / 2 + j : (j * (j + 1)) / 2 + i)]!;
  const a = Array.from({ length: np }, (_, i) => Float64Array.from({ length: 2 * np }, (_, j) => (j < np ? h(i, j) : j - np === i ? 1 : 0)));
  for (let c = 0; c < np; c++) {
    const row = a[c]!;
    const pivot = row[c]!;
    for (let j = 0; j < 2 * np; j++) row[j] = row[j]! / pivot;
    for (let i = 0; i < np; i++) {
      if (i === c) continue;
      const f = a[i]![c]!;
      for (let j = 0; j < 2 * np; j++) a[i]![j] = a[i]![j]! - f * row[j]!;
    }
  }
  return Float64Array.from({ length: np }, (_, k) => Math.sqrt(a[k]![np + k]!));
}

/** Allowed |Δp_k| between two end points of one fit (see the header). */
function paramTolerances(lm: Float32Array, s: number, np: number): Float64Array {
  const l = s * LM_WORDS;
  const sigma = marginalSigmas(lm, s, np);
  const chi = Math.sqrt(lm[l + LM_CHI2]!);
  return Float64Array.from({ length: np }, (_, k) => {
    const t = k < 2 ? lm[l + LM_TOL + k]! : Math.max(lm[l + LM_TOL + k]!, 0.01 / Math.sqrt(lm[l + LM_H + (k * (k + 3)) / 2]!));
    return 2 * t + 2e-3 * chi * sigma[k]!;
  });
}

describe('stars_fit builds (no GPU needed)', () => {
  test('one source, two builds: the subgroup build starts with its directives, the default one has no subgroup operation', () => {
    const plain = wgslSources['stars_fit'];
    const sub = wgslSources['stars_fit/subgroups'];
    expect(plain).toBeDefined();
    expect(sub).toBeDefined();
    expect(sub!.startsWith('enable subgroups;\nrequires subgroup_id;\n')).toBe(true);
    expect(plain).not.toMatch(/enable subgroups|\bsubgroup[A-Z]\w*\(/);
    // Everything but the spliced reduction is common: the entry point appears once in each.
    for (const src of [plain!, sub!]) expect(src.match(/fn iterate\(/g)).toHaveLength(1);
    expect(wgslSources['stars_fit_workgroup']).toBeUndefined();
    expect(wgslSources['stars_fit_subgroups']).toBeUndefined();
  });
});

describe.skipIf(!ctx)(`stars_fit kernel builds ${gpuLabel(ctx)}`, () => {
  afterAll(() => plainCtx?.destroy());
  const subgroups = ctx !== undefined && starsFitUsesSubgroups(ctx);
  if (ctx && !subgroups) console.warn(`[batchfit] ${ctx.describe()} lacks subgroups (or WGSL subgroup_id): only the workgroup build is tested`);

  test('a context created with subgroups: false has no subgroups and takes the workgroup build', () => {
    expect(plainCtx!.hasSubgroups).toBe(false);
    expect(starsFitUsesSubgroups(plainCtx!)).toBe(false);
  });

  for (const model of [0, 1, 2, 3] as const) {
    for (const R of [4, 9]) {
      test.skipIf(!subgroups)(`model ${model}, R = ${R}: the subgroup and workgroup builds agree`, async () => {
        const data = synthesize(model, R, STARS, 1000 * model + R);
        const sub = await runFit(ctx!, data);
        const plain = await runFit(plainCtx!, data);
        const np = fitParams(model, false);
        let worst = 0;
        let worstChi = 0;
        let worstIt = 0;
        let converged = 0;
        for (let s = 0; s < STARS; s++) {
          const l = s * LM_WORDS;
          const status = plain.lm[l + LM_STATUS]!;
          expect(sub.lm[l + LM_STATUS], `star ${s} status`).toBe(status);
          if (status === FIT_CONVERGED) converged++;
          worstIt = Math.max(worstIt, Math.abs(sub.lm[l + LM_ITER]! - plain.lm[l + LM_ITER]!));
          worstChi = Math.max(worstChi, Math.abs(sub.lm[l + LM_CHI2]! / plain.lm[l + LM_CHI2]! - 1));
          const tol = paramTolerances(plain.lm, s, np);
          for (let k = 0; k < np; k++) {
            const d = Math.abs(sub.lm[l + k]! - plain.lm[l + k]!);
            worst = Math.max(worst, d / tol[k]!);
            expect(d, `star ${s} parameter ${k}`).toBeLessThanOrEqual(tol[k]!);
          }
          expect(Math.abs(sub.lm[l + LM_CHI2]! / plain.lm[l + LM_CHI2]! - 1), `star ${s} χ²`).toBeLessThanOrEqual(2e-5);
          expect(Math.abs(sub.lm[l + LM_ITER]! - plain.lm[l + LM_ITER]!), `star ${s} iterations`).toBeLessThanOrEqual(2);
        }
        console.info(`model ${model} R ${R}: converged ${converged}/${STARS}, worst |Δp|/tol ${worst.toPrecision(3)}, χ² ${worstChi.toExponential(2)}, iterations ±${worstIt}`);
        expect(converged).toBeGreaterThanOrEqual(STARS - 2);
      });
    }
  }

  // The CPU fitter takes a sub-tolerance last step without evaluating it, so iterations are not compared.
  test.each([
    [0, false],
    [1, false],
    [2, false],
    [3, false],
    [0, true],
    [1, true],
    [3, true],
  ] as const)('model %i (sky slope fitted: %s), R = 9: the kernel (as the device builds it) agrees with the float32 CPU fitter', async (model, slope) => {
    const R = 9;
    const data = synthesize(model, R, 4, 77 + model, slope);
    const gpu = await runFit(ctx!, data);
    const fitter = createPsfFitter('f32');
    const side = 2 * R + 1;
    const npix = side * side;
    const np = fitParams(model, slope);
    let worst = 0;
    let worstChi = 0;
    for (let s = 0; s < data.count; s++) {
      const z = new Float32Array(npix);
      const w = new Float32Array(npix);
      for (let k = 0; k < npix; k++) {
        z[k] = data.stamps[2 * (s * npix + k)]!;
        w[k] = data.stamps[2 * (s * npix + k) + 1]!;
      }
      const l = s * LM_WORDS;
      const p = Float64Array.from(data.lm.subarray(l, l + 9));
      const out = newFitOutcome();
      fitter.fit(model, { side, radius: R, z, w, noise: data.lm[l + LM_NOISE]!, beta: BETA, slope }, p, out);
      expect(out.reason).toBe(FIT_CONVERGED);
      expect(gpu.lm[l + LM_STATUS]).toBe(FIT_CONVERGED);
      const tol = paramTolerances(gpu.lm, s, np);
      for (let k = 0; k < np; k++) {
        worst = Math.max(worst, Math.abs(gpu.lm[l + k]! - p[k]!) / tol[k]!);
        expect(Math.abs(gpu.lm[l + k]! - p[k]!), `star ${s} parameter ${k}`).toBeLessThanOrEqual(tol[k]!);
      }
      worstChi = Math.max(worstChi, Math.abs(gpu.lm[l + LM_CHI2]! / out.chi2 - 1));
      expect(Math.abs(gpu.lm[l + LM_CHI2]! / out.chi2 - 1)).toBeLessThanOrEqual(2e-5);
    }
    console.info(`model ${model}${slope ? ' with slope' : ''} vs CPU: worst |Δp|/tol ${worst.toPrecision(3)}, χ² ${worstChi.toExponential(2)}`);
  });
});

describe('workgroup memory of the fit kernel', () => {
  test('counted as the shader declares it; a device with too little is refused by name', async () => {
    // Rotated Gaussian with the slope (9 parameters) on 31×31 stamps, 64 invocations, each
    // variable rounded up to 16 bytes: zs, wz 3 856 each, red 14 080, gx, gy 496 each, trial 48, ctl 16.
    expect(starsFitWorkgroupBytes(9, 15, 64)).toBe(2 * 3856 + 14080 + 2 * 496 + 48 + 16);
    const small = { limits: { maxComputeWorkgroupStorageSize: 16384 } } as unknown as GpuContext;
    expect(() => starsFitPipeline(small, { model: 1, slope: true, R: 15, wg: 64 })).toThrow(
      /needs 22848 bytes of workgroup memory, more than this device's maxComputeWorkgroupStorageSize = 16384/,
    );
  });
});
