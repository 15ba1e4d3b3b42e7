/**
 * batchfit's star pipeline against SEP (Debian's python3-sep), side by side in one run, one thread
 * each, on one synthetic 4096² frame with ≈ 9 650 Gaussian stars (bench/starField.ts). Each stage
 * compares like with like:
 *   1. background: backgroundGrid + skySplines (mesh statistics, median filter, the spline's
 *      coefficients) vs sep.Background (mesh statistics, filter, the spline's coefficients): in
 *      both, the background map IS the grid and its bicubic spline; back() and rms() only
 *      evaluate it to planes;
 *   2. detection: detectStars from that grid (the sky and its σ evaluated row by row as the
 *      frame is smoothed; no full-frame plane) vs sep.extract on data − back(), with back() and
 *      the subtraction NOT charged to SEP (conservative), same threshold in σ;
 *   3. measurement: measureStars 'moments' with the map planes at our detections vs sep.winpos +
 *      sep.flux_radius + sep.sum_circle on data − back() at SEP's detections (per-star figures
 *      compare), and our Gaussian fit (no SEP counterpart: reported, no ratio);
 *   4. the whole pipeline from the raw frame: backgroundGrid → detectStars (grid) → mapFromGrid
 *      (the planes measureStars' per-pixel map sky reads: SEP's winpos runs on data − back(), a
 *      per-pixel map sky too, not an annulus) → measureStars 'moments', vs sep.Background →
 *      back() → subtraction → sep.extract → winpos + flux_radius + sum_circle.
 * Optional planes, reported as extra rows: backgroundMap (grid + full level and σ planes) vs
 * Background + back() + rms(), with fresh planes and with the previous map's planes reused
 * (`into`; numpy's large arrays get transparent huge pages, V8's do not, so fresh planes cost us
 * ~60 ms of page faults at 4096² that SEP does not pay); detection from the planes; the pipeline
 * with the planes reused.
 * Our side runs in tinybench (REPEATS iterations after one warm-up); SEP's in bench/sep/sep_bench.py
 * with time.perf_counter medians over the same count, reading the frame as raw float32 before
 * any timer starts. Both sides also record the process CPU time of every call (cpuUsage /
 * process_time): on a shared machine the wall-clock ratio moves with the load of the moment,
 * the CPU-time ratio much less. Ratios are ours / SEP's (≤ 1: we are faster). The SEP column is skipped with
 * a notice when /usr/bin/python3 cannot import sep. Writes bench/results/stars-sep.json with the
 * load average before and after: the machine is shared, so read the figures with it.
 *
 * Run: `npx tsc -p tsconfig.bench.json && node build/bench/run.js stars-sep`
 * (or `npm run bench -- stars-sep`). About a minute and a half on 2 cores. BENCH_REPEATS=n changes the count (default 7).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import { backgroundGrid, backgroundMap, detectStars, mapFromGrid, measureStars, skySplines, type BackgroundMap, type DetectedStar, type SkyGrid } from '../src/stars/index.js';
import { FWHM, GAIN, READ_NOISE, syntheticStarField } from './starField.js';
import { machineInfo, projectRoot, summarize, writeResult } from './util.js';

const SIZE = 4096;
const STARS = 9650;
const SEED = 4096;
const THRESHOLD = 5;
const REPEATS = Math.max(1, Number(process.env.BENCH_REPEATS ?? 7));
const PYTHON = '/usr/bin/python3';

interface SepTiming {
  medianMs: number;
  cpuMedianMs: number;
  samples: number;
}
interface SepResult {
  sep: string;
  backgroundGrid: SepTiming;
  backgroundMap: SepTiming;
  detection: SepTiming;
  detected: number;
  measurement: SepTiming;
  pipeline: SepTiming;
}

/** SEP's timings, or the reason there are none. */
function runSep(image: { data: Float32Array; width: number; height: number }): SepResult | string {
  const probe = spawnSync(PYTHON, ['-c', 'import sep'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return `${PYTHON} cannot import sep (${probe.error?.message ?? probe.stderr.trim().split('\n').pop()}): SEP column skipped`;
  const dir = mkdtempSync(join(tmpdir(), 'batchfit-sep-'));
  try {
    const frame = join(dir, 'frame.f32');
    writeFileSync(frame, new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength));
    const script = join(projectRoot, 'bench', 'sep', 'sep_bench.py');
    const args = [script, frame, String(image.width), String(image.height), String(REPEATS), String(THRESHOLD), String(FWHM)];
    // One thread: numpy's BLAS is not used here, but pin it anyway.
    const env = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
    const r = spawnSync(PYTHON, args, { encoding: 'utf8', env, maxBuffer: 1 << 24 });
    if (r.error || r.status !== 0) return `bench/sep/sep_bench.py failed: ${r.error?.message ?? r.stderr.trim()}`;
    return JSON.parse(r.stdout) as SepResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export default async function (): Promise<void> {
  const loadStart = loadavg().map((v) => +v.toFixed(2));
  const { image } = syntheticStarField(SIZE, STARS, SEED);
  const options = { fwhm: FWHM, gain: GAIN, readNoise: READ_NOISE };
  const detectOptions = { threshold: THRESHOLD, fwhm: FWHM };
  let grid: SkyGrid = backgroundGrid(image);
  let map: BackgroundMap = mapFromGrid(grid);
  let detected: DetectedStar[] = detectStars(image, { ...detectOptions, background: grid });
  const positions = { x: Float64Array.from(detected, (d) => d.x), y: Float64Array.from(detected, (d) => d.y) };
  let pipelineStars = 0;
  /** The whole pipeline; `reuse`: the planes of the previous map are overwritten (a stream of frames). */
  const pipeline = (reuse: boolean): void => {
    const g = backgroundGrid(image);
    const found = detectStars(image, { ...detectOptions, background: g });
    const m = mapFromGrid(g, reuse ? map : undefined);
    if (reuse) map = m;
    const xy = { x: Float64Array.from(found, (d) => d.x), y: Float64Array.from(found, (d) => d.y) };
    pipelineStars = measureStars(image, xy, { ...options, method: 'moments' }, m).length;
  };

  // Besides tinybench's wall-clock figures, the process CPU time of every call: the machine is
  // shared, and CPU time is the steadier measure there (SEP's side records the same).
  const cpuMs = new Map<string, number[]>();
  const task = (name: string, fn: () => void) => () => {
    const c = process.cpuUsage();
    fn();
    const d = process.cpuUsage(c);
    let list = cpuMs.get(name);
    if (!list) cpuMs.set(name, (list = []));
    list.push((d.user + d.system) / 1000);
  };
  const bench = new Bench({ name: 'stars-sep', iterations: REPEATS, time: 0, warmupIterations: 1, warmupTime: 0 });
  bench
    .add('backgroundGrid', task('backgroundGrid', () => skySplines((grid = backgroundGrid(image)))))
    .add('backgroundMap', task('backgroundMap', () => (map = backgroundMap(image))))
    .add('backgroundMap into', task('backgroundMap into', () => (map = backgroundMap(image, {}, map))))
    .add('detectStars', task('detectStars', () => (detected = detectStars(image, { ...detectOptions, background: grid }))))
    .add('detectStars planes', task('detectStars planes', () => detectStars(image, { ...detectOptions, background: map })))
    .add('measureStars moments', task('measureStars moments', () => measureStars(image, positions, { ...options, method: 'moments' }, map)))
    .add('measureStars gaussian', task('measureStars gaussian', () => measureStars(image, positions, { ...options, method: 'gaussian' }, map)))
    .add('pipeline', task('pipeline', () => pipeline(false)))
    .add('pipeline into', task('pipeline into', () => pipeline(true)));
  await bench.run();
  // The median over the timed calls (the first call of each task is tinybench's warm-up).
  const cpuMedian = (name: string): number => {
    const v = (cpuMs.get(name) ?? []).slice(1).sort((a, b) => a - b);
    return v.length === 0 ? NaN : v.length % 2 ? v[v.length >> 1]! : 0.5 * (v[v.length / 2 - 1]! + v[v.length / 2]!);
  };
  const ours = Object.fromEntries(summarize(bench).map((t) => [t.name, t]));
  const sep = runSep(image);
  const loadEnd = loadavg().map((v) => +v.toFixed(2));

  const ms = (name: string) => ours[name]!.medianMs;
  const rows: Record<string, unknown>[] = [];
  const row = (stage: string, name: string, sepT: SepTiming | undefined, perStar?: { ours: number; sep: number }) => {
    const sepMs = sepT?.medianMs;
    const r: Record<string, unknown> = { stage, oursMs: +ms(name).toFixed(1) };
    if (sepT && sepMs !== undefined) {
      r.sepMs = +sepMs.toFixed(1);
      r.ratio = +(ms(name) / sepMs).toFixed(3);
      r.oursCpuMs = +cpuMedian(name).toFixed(1);
      r.sepCpuMs = +sepT.cpuMedianMs.toFixed(1);
      r.cpuRatio = +(cpuMedian(name) / sepT.cpuMedianMs).toFixed(3);
    }
    if (perStar) {
      r.oursUsPerStar = +((ms(name) * 1000) / perStar.ours).toFixed(3);
      r.sepUsPerStar = +(((sepMs ?? NaN) * 1000) / perStar.sep).toFixed(3);
      r.perStarRatio = +((r.oursUsPerStar as number) / (r.sepUsPerStar as number)).toFixed(3);
    }
    rows.push(r);
  };
  const s = typeof sep === 'string' ? undefined : sep;
  if (!s) console.log(`notice: ${sep as string}`);
  row('background (backgroundGrid+skySplines / sep.Background)', 'backgroundGrid', s?.backgroundGrid);
  row('detection, sky from the grid on the fly (detectStars / sep.extract, back() and subtraction not charged)', 'detectStars', s?.detection);
  row('measurement moments (measureStars / winpos+flux_radius+sum_circle)', 'measureStars moments', s?.measurement, s ? { ours: detected.length, sep: s.detected } : undefined);
  row('whole pipeline (grid→detect→planes→moments / Background→back→subtract→extract→winpos+flux_radius+sum_circle)', 'pipeline', s?.pipeline);
  row('optional planes: background map (backgroundMap / Background+back+rms)', 'backgroundMap', s?.backgroundMap);
  row('optional planes: background map, planes reused (backgroundMap into / Background+back+rms)', 'backgroundMap into', s?.backgroundMap);
  row('optional planes: detection from the map planes (detectStars / sep.extract)', 'detectStars planes', s?.detection);
  row('optional planes: whole pipeline, planes reused (pipeline into / SEP pipeline)', 'pipeline into', s?.pipeline);
  rows.push({ stage: 'measurement gaussian fit (no SEP counterpart)', oursMs: +ms('measureStars gaussian').toFixed(1), oursUsPerStar: +((ms('measureStars gaussian') * 1000) / detected.length).toFixed(3) });
  console.table(rows);
  console.log(`detections: ours ${detected.length} (pipeline measured ${pipelineStars})${s ? `, SEP ${s.detected}` : ''}; load average ${loadStart.join(' ')} → ${loadEnd.join(' ')}`);
  const path = writeResult('stars-sep', {
    machine: machineInfo(),
    date: new Date().toISOString(),
    loadAverage1m5m15m: { start: loadStart, end: loadEnd },
    frame: { size: SIZE, stars: STARS, seed: SEED, fwhm: FWHM, gain: GAIN, readNoise: READ_NOISE },
    threshold: THRESHOLD,
    repeats: REPEATS,
    detected: { ours: detected.length, sep: s?.detected ?? null },
    sep: s ? { version: s.sep, python: PYTHON, raw: s } : { skipped: sep },
    ours: summarize(bench).map((t) => ({ ...t, cpuMedianMs: +cpuMedian(t.name).toFixed(1) })),
    stages: rows,
  });
  console.log(`wrote ${path}`);
}
