/**
 * Star measurement on the CPU, one thread: 10 000 stars on a 6144×6144 synthetic frame (Gaussian
 * stars, FWHM 3.5 → 15×15 stamps, sky 1000 ADU, gain 1.5, read noise 5 e⁻). Per method: µs per
 * star (median of per-star times of FrameMeasurer.measure, and batch mean), stars/s, GC events
 * (and their kinds) in the 10 000-star loop with one reused record and with fresh records, the
 * load average before and after. Also the specialised PSF LM against the general MINPACK-style
 * LM of src/math on the same stamps. `npm run bench -- stars.bench` runs this file alone.
 */
import { loadavg } from 'node:os';
import { constants as perfConstants, PerformanceObserver } from 'node:perf_hooks';
import { Bench } from 'tinybench';
import { LevenbergMarquardt, type LeastSquaresProblem } from '../src/math/levenbergMarquardt.js';
import {
  backgroundMap,
  createPsfFitter,
  FrameMeasurer,
  measureStars,
  newFitOutcome,
  newStarMeasurement,
  PSF_GAUSSIAN,
  type FitStamp,
  type Image,
  type MeasureOptions,
} from '../src/stars/index.js';
import { erf } from '../src/math/studentT.js';
import { FWHM, GAIN, READ_NOISE, SKY, syntheticStarField } from './starField.js';
import { machineInfo, summarize, writeResult } from './util.js';

const SIZE = 6144;
const STARS = 10_000;

const GC_KINDS: Record<number, string> = {
  [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/**
 * Counts GC events and their kinds. A minor GC (scavenge) during a loop means the loop allocates;
 * a major one can also come from V8's memory reducer, which runs on a timer after the
 * allocation-heavy phases of the methods before.
 */
function gcCounter(): { count: () => number; kinds: () => string[]; stop: () => void } {
  const kinds: string[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = ((e as PerformanceEntry & { detail?: { kind?: number } }).detail)?.kind ?? 0;
      kinds.push(GC_KINDS[kind] ?? String(kind));
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  return { count: () => kinds.length, kinds: () => kinds.slice(), stop: () => obs.disconnect() };
}

/** GC entries are delivered asynchronously; wait for them before reading the count. */
const settle = () => new Promise((r) => setTimeout(r, 50));

function medianOf(v: Float64Array): number {
  const s = Float64Array.from(v).sort();
  return s[s.length >> 1] as number;
}

function p99Of(v: Float64Array): number {
  const s = Float64Array.from(v).sort();
  return s[Math.floor(0.99 * (s.length - 1))] as number;
}

export default async function (): Promise<void> {
  // The machine is shared: the load average before and after goes into the result with the times.
  const loadStart = loadavg().map((v) => +v.toFixed(2));
  const t0 = performance.now();
  const { image, truth } = syntheticStarField(SIZE, STARS, 6144);
  const tFrame = performance.now() - t0;
  const t1 = performance.now();
  const map = backgroundMap(image);
  const tMap = performance.now() - t1;
  console.log(`frame ${SIZE}² with ${STARS} stars drawn in ${(tFrame / 1000).toFixed(1)} s; background map ${(tMap / 1000).toFixed(2)} s`);
  const starts = truth.map((t) => ({ x: Math.round(t.x), y: Math.round(t.y) }));

  const methods: [string, MeasureOptions][] = [
    ['moments', { method: 'moments' }],
    ['gaussian', { method: 'gaussian' }],
    ['gaussianRotated', { method: 'gaussianRotated' }],
    ['moffat fixed beta 2.5', { method: 'moffat', beta: 2.5 }],
    ['moffat free beta', { method: 'moffat' }],
    ['gaussian f32', { method: 'gaussian', precision: 'f32' }],
  ];
  const results: Record<string, unknown>[] = [];
  const batches: Record<string, unknown>[] = [];
  // Two phases: first every method's per-star loops with one reused record (warm-up, timed loop,
  // GC-counted loop), then the loops that make fresh records. A GC-counted loop that ran after
  // another method's 50 000 fresh records could see V8 collect that garbage (its memory reducer
  // starts a major GC on a timer), which says nothing about the loop itself.
  for (const [name, opts] of methods) {
    const options: MeasureOptions = { ...opts, fwhm: FWHM, gain: GAIN, readNoise: READ_NOISE };
    const fm = new FrameMeasurer(image, options, map);
    const rec = newStarMeasurement();
    for (let k = 0; k < STARS; k++) fm.measure(starts[k]!.x, starts[k]!.y, k, rec);
    const per = new Float64Array(STARS);
    let converged = 0;
    for (let k = 0; k < STARS; k++) {
      const a = performance.now();
      fm.measure(starts[k]!.x, starts[k]!.y, k, rec);
      per[k] = (performance.now() - a) * 1000;
      if (rec.fitReason === 'converged') converged++;
    }
    // GC is counted on a loop of its own: the timer above is no part of the measurement.
    await settle();
    const gcReused = gcCounter();
    for (let k = 0; k < STARS; k++) fm.measure(starts[k]!.x, starts[k]!.y, k, rec);
    await settle();
    const row = {
      method: name,
      medianUsPerStar: +medianOf(per).toFixed(2),
      p99UsPerStar: +p99Of(per).toFixed(2),
      convergedFraction: opts.method === 'moments' ? null : +(converged / STARS).toFixed(4),
      gcEventsReusedRecord: gcReused.count(),
      gcKindsReusedRecord: gcReused.kinds(),
    };
    gcReused.stop();
    console.log(JSON.stringify(row));
    results.push(row);
  }
  for (const [k, [name, opts]] of methods.entries()) {
    const options: MeasureOptions = { ...opts, fwhm: FWHM, gain: GAIN, readNoise: READ_NOISE };
    const gcFresh = gcCounter();
    const tb = performance.now();
    const all = measureStars(image, starts, options, map);
    const batchMs = performance.now() - tb;
    await settle();
    const gcFreshCount = gcFresh.count();
    gcFresh.stop();
    let err2 = 0;
    for (let i = 0; i < STARS; i++) err2 += (all.x[i]! - truth[i]!.x) ** 2 + (all.y[i]! - truth[i]!.y) ** 2;
    const bench = new Bench({ name, iterations: 3, time: 0, warmupIterations: 1, warmupTime: 0 });
    bench.add(name, () => {
      measureStars(image, starts, options, map);
    });
    await bench.run();
    for (const t of summarize(bench)) batches.push({ ...t, usPerStar: +((t.medianMs * 1000) / STARS).toFixed(2) });
    Object.assign(results[k]!, {
      batchUsPerStar: +((batchMs * 1000) / STARS).toFixed(2),
      starsPerSecond: Math.round(STARS / (batchMs / 1000)),
      positionRmsPx: +Math.sqrt(err2 / STARS).toFixed(4),
      gcEventsFreshRecords: gcFreshCount,
    });
    console.log(JSON.stringify(results[k]));
  }
  const lmCompare = compareLm(image, truth);
  console.log(JSON.stringify(lmCompare));
  console.table(batches);
  writeResult('stars', {
    machine: machineInfo(),
    date: new Date().toISOString(),
    loadAverage1m5m15m: { start: loadStart, end: loadavg().map((v) => +v.toFixed(2)) },
    frame: { size: SIZE, stars: STARS, fwhm: FWHM, stamp: '15x15', gain: GAIN, readNoise: READ_NOISE, sky: SKY },
    frameSeconds: +(tFrame / 1000).toFixed(2),
    backgroundMapSeconds: +(tMap / 1000).toFixed(2),
    perMethod: results,
    batches,
    lmCompare,
  });
}

/**
 * The specialised LM of src/stars/psfFit.ts against the general MINPACK-style LM of src/math on
 * the same 2000 prepared stamps and the same pixel-integrated Gaussian (weighted residuals).
 */
function compareLm(image: Image, truth: { x: number; y: number }[]): Record<string, number> {
  const R = 7;
  const side = 15;
  const n = side * side;
  const N = 2000;
  const stamps: FitStamp[] = [];
  const starts: Float64Array[] = [];
  const sigmaSky = Math.sqrt(SKY / GAIN + (READ_NOISE / GAIN) ** 2);
  for (let k = 0; k < N; k++) {
    const ix = Math.round(truth[k]!.x);
    const iy = Math.round(truth[k]!.y);
    const z = new Float64Array(n);
    const w = new Float64Array(n);
    let peak = 0;
    for (let j = 0; j < side; j++) for (let i = 0; i < side; i++) {
      const v = (image.data[(iy - R + j) * SIZE + ix - R + i] as number) - SKY;
      z[j * side + i] = v;
      peak = Math.max(peak, v);
    }
    const S = Math.max(peak, 3 * sigmaSky);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      w[i] = (S * S) / (Math.max(z[i] as number, 0) / GAIN + sigmaSky * sigmaSky);
      z[i] = (z[i] as number) / S;
      sum += z[i] as number;
    }
    stamps.push({ side, radius: R, z, w, noise: sigmaSky / S, beta: NaN });
    const s0 = FWHM / 2.3548200450309493;
    starts.push(Float64Array.from([0, 0, Math.max(sum, 1), s0, s0, 0]));
  }
  const fitter = createPsfFitter('f64');
  const out = newFitOutcome();
  const p = new Float64Array(8);
  const run1 = (): number => {
    let ok = 0;
    for (let k = 0; k < N; k++) {
      p.set(starts[k]!);
      fitter.fit(PSF_GAUSSIAN, stamps[k]!, p, out);
      if (out.reason === 0) ok++;
    }
    return ok;
  };
  run1();
  const ta = performance.now();
  const okSpecial = run1();
  const special = ((performance.now() - ta) * 1000) / N;

  const lm = new LevenbergMarquardt(n, 6);
  const gx = new Float64Array(side), gxd = new Float64Array(side), gxs = new Float64Array(side);
  const gy = new Float64Array(side), gyd = new Float64Array(side), gys = new Float64Array(side);
  const table = (c: number, s: number, v: Float64Array, d: Float64Array, ds: Float64Array): void => {
    for (let i = 0; i < side; i++) {
      const u = i - R;
      const tp = (u + 0.5 - c) / s;
      const tm = (u - 0.5 - c) / s;
      const pp = Math.exp(-0.5 * tp * tp) / Math.sqrt(2 * Math.PI);
      const pm = Math.exp(-0.5 * tm * tm) / Math.sqrt(2 * Math.PI);
      v[i] = 0.5 * (erf(tp / Math.SQRT2) - erf(tm / Math.SQRT2));
      d[i] = -(pp - pm) / s;
      ds[i] = -(tp * pp - tm * pm) / s;
    }
  };
  let st = stamps[0]!;
  const problem: LeastSquaresProblem = {
    residuals(x, r) {
      table(x[0]!, x[3]!, gx, gxd, gxs);
      table(x[1]!, x[4]!, gy, gyd, gys);
      for (let j = 0; j < side; j++) for (let i = 0; i < side; i++) {
        const k = j * side + i;
        r[k] = Math.sqrt(st.w[k]!) * (st.z[k]! - x[2]! * gx[i]! * gy[j]! - x[5]!);
      }
    },
    jacobian(x, jac) {
      table(x[0]!, x[3]!, gx, gxd, gxs);
      table(x[1]!, x[4]!, gy, gyd, gys);
      for (let j = 0; j < side; j++) for (let i = 0; i < side; i++) {
        const k = j * side + i;
        const sw = -Math.sqrt(st.w[k]!);
        const F = x[2]!;
        jac[k] = sw * F * gxd[i]! * gy[j]!;
        jac[k + n] = sw * F * gx[i]! * gyd[j]!;
        jac[k + 2 * n] = sw * gx[i]! * gy[j]!;
        jac[k + 3 * n] = sw * F * gxs[i]! * gy[j]!;
        jac[k + 4 * n] = sw * F * gx[i]! * gys[j]!;
        jac[k + 5 * n] = sw;
      }
    },
  };
  const x = new Float64Array(6);
  const run2 = (): number => {
    let ok = 0;
    for (let k = 0; k < N; k++) {
      st = stamps[k]!;
      x.set(starts[k]!);
      const r = lm.solve(problem, x, { xtol: 1e-6, ftol: 1e-10 });
      if (r.info >= 1 && r.info <= 4) ok++;
    }
    return ok;
  };
  run2();
  const tb = performance.now();
  const okMinpack = run2();
  const minpack = ((performance.now() - tb) * 1000) / N;
  return {
    stamps: N,
    specialisedUsPerFit: +special.toFixed(2),
    specialisedConverged: okSpecial / N,
    minpackUsPerFit: +minpack.toFixed(2),
    minpackConverged: okMinpack / N,
  };
}
