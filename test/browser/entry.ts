// Browser entry for the Chromium test: the GPU FFT through navigator.gpu, checked against the
// CPU FFT, both from the same bundle (shaders embedded, no file access); the batch APIs; and the
// file readers and single-spectrum/frame APIs on files the page fetches.
import { workerPoolStats } from '../../src/cpu/workerPool.js';
import { GpuContext } from '../../src/gpu/context.js';
import { BatchedFft } from '../../src/gpu/fft.js';
import { realFftPlan } from '../../src/math/fft.js';
import { backgroundGrid, backgroundGridBatch, backgroundMap, detectStars, measureStars, measureStarsBatch, readFits, readImage, type StarCatalogue } from '../../src/stars/index.js';
import { autobk, autobkBatch, listAthenaGroups, listHdf5Datasets, preEdge, readAthena, readHdf5, readSpectrum, xftf, xftr, type AutobkBatchResults } from '../../src/xafs/index.js';

export async function runFftCheck(n: number, columns: number, nOut: number) {
  const ctx = await GpuContext.create();
  const input = new Float32Array(n * columns);
  let s = 7;
  for (let i = 0; i < input.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    input[i] = s / 2 ** 32 - 0.5;
  }
  const fft = await BatchedFft.create(ctx, { n, nOut, capacity: columns });
  const { spectrum } = await fft.forward(input, columns);
  const plan = realFftPlan(n);
  const full = new Float64Array(n + 2);
  let err = 0;
  let max = 0;
  for (let c = 0; c < columns; c++) {
    plan.forward(input.subarray(c * n, (c + 1) * n), full);
    for (let k = 0; k < 2 * nOut; k++) {
      err = Math.max(err, Math.abs(spectrum[c * nOut * 2 + k]! - full[k]!));
      max = Math.max(max, Math.abs(full[k]!));
    }
  }
  fft.destroy();
  const adapter = ctx.describe();
  ctx.destroy();
  return { adapter, relativeError: err / max };
}

/**
 * The batch APIs on an ordinary page (no SharedArrayBuffer, no setImmediate) or a
 * cross-origin-isolated one: autobkBatch of several spectra and measureStarsBatch on the GPU and
 * the CPU (two Web Workers each, counted by the pool), device 'auto', detectStars, readSpectrum
 * and readFits, from data the test hands over. Numbers come back as plain arrays for the Node
 * side to compare with its own results.
 */
export async function runLibraryCheck(input: {
  spectra: { energy: number[]; mu: number[] }[];
  image: { width: number; height: number; data: number[] };
  positions: { x: number[]; y: number[] };
  xmuText: string;
  fitsBytes: number[];
}) {
  const ctx = await GpuContext.create();
  const spectra = input.spectra.map((s) => ({ energy: Float64Array.from(s.energy), mu: Float64Array.from(s.mu) }));
  const chiOf = (r: AutobkBatchResults) => r.toRecords().map((x) => (x.status === 'error' ? [] : Array.from(x.chi)));
  const started0 = workerPoolStats().started;
  const autobkCpu = chiOf(await autobkBatch(spectra, {}, { device: 'cpu', workers: 2 }));
  const autobkWorkers = workerPoolStats().started - started0;
  const autobkInline = chiOf(await autobkBatch(spectra, {}, { device: 'cpu', workers: 0 }));
  const autobkGpu = chiOf(await autobkBatch(spectra, {}, { device: 'gpu', gpu: ctx }));
  // 'auto' on SwiftShader (a software adapter): the CPU path, on the idle workers of the first run.
  const autobkAuto = chiOf(await autobkBatch(spectra, {}, { device: 'auto', workers: 2 }));
  const image = { width: input.image.width, height: input.image.height, data: Float32Array.from(input.image.data) };
  const positions = { x: Float64Array.from(input.positions.x), y: Float64Array.from(input.positions.y) };
  const o = { method: 'gaussian' as const, fwhm: 3 };
  const starsOf = (c: StarCatalogue) => ({ x: Array.from(c.x), y: Array.from(c.y), status: Array.from(c.status) });
  const started1 = workerPoolStats().started;
  const starsCpu = starsOf(await measureStarsBatch(image, positions, o, { device: 'cpu', workers: 2 }));
  const starsWorkers = workerPoolStats().started - started1;
  const starsGpu = starsOf(await measureStarsBatch(image, positions, o, { device: 'gpu', gpu: ctx }));
  const detected = detectStars(image, { threshold: 5, fwhm: 3 }).length;
  const spectrum = readSpectrum(input.xmuText, { energy: 1, mu: 2 });
  const fits = readFits(Uint8Array.from(input.fitsBytes));
  ctx.destroy();
  return {
    autobkCpu, autobkInline, autobkGpu, autobkAuto, autobkWorkers, starsCpu, starsWorkers, starsGpu, detected,
    spectrum: { n: spectrum.energy.length, first: spectrum.mu[0], last: spectrum.mu[spectrum.mu.length - 1] },
    fits: { width: fits.width, height: fits.height, sum: fits.data.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0) },
    sharedArrayBuffer: typeof SharedArrayBuffer !== 'undefined',
    hardwareConcurrency: navigator.hardwareConcurrency,
  };
}

/** Sum of the finite values (a cheap fingerprint of a plane to compare with Node's). */
function finiteSum(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) if (Number.isFinite(v[i]!)) s += v[i]!;
  return s;
}

/**
 * The file readers and the one-spectrum / one-frame APIs, on files fetched from the test server
 * as a page would get them: readImage (gzip FITS, TIFF), listAthenaGroups/readAthena,
 * listHdf5Datasets/readHdf5 (h5wasm in the page), preEdge, autobk, xftf, xftr, backgroundMap,
 * backgroundGrid and backgroundGridBatch (two Web Workers), measureStars.
 */
export async function runFormatsCheck(urls: { fitsGz: string; tiff: string; prj: string; h5: string; xmu: string }) {
  const bytes = async (url: string) => new Uint8Array(await (await fetch(url)).arrayBuffer());
  const fits = await readImage(await bytes(urls.fitsGz), 'sep_image.fits.gz');
  const tiff = await readImage(await bytes(urls.tiff), 'frame.tiff');
  const prj = await bytes(urls.prj);
  const groups = listAthenaGroups(prj);
  const [cu] = readAthena(prj, { groups: groups[0]!.label }).groups;
  const h5bytes = await bytes(urls.h5);
  const datasets = (await listHdf5Datasets(h5bytes)).map((d) => d.path);
  const h5 = await readHdf5(h5bytes, { energy: '/energy', mu: 'ln(i0/it)', signals: { i0: '/i0', it: '/it' } });
  const { energy, mu } = readSpectrum(await (await fetch(urls.xmu)).text(), { mu: 2 });
  const pre = preEdge(energy, mu);
  const bk = autobk(energy, mu, { rbkg: 1, kweight: 2 });
  const ft = xftf(bk.k, bk.chi, { kmin: 2, kmax: 15, dk: 1, window: 'hanning', kweight: 2 });
  const back = xftr(ft.r, ft.chirRe, ft.chirIm, { rmin: 1, rmax: 3, dr: 0.1, window: 'hanning' });
  const map = backgroundMap(fits);
  const grid = backgroundGrid(fits, { tileSize: 32 });
  const started = workerPoolStats().started;
  const gridWorkers = await backgroundGridBatch(fits, { tileSize: 32 }, { workers: 2 });
  const workers = workerPoolStats().started - started;
  const found = detectStars(fits, { background: map });
  const cat = measureStars(fits, found, { method: 'moments' }, map);
  return {
    fits: { format: fits.format, width: fits.width, height: fits.height, sum: finiteSum(fits.data) },
    tiff: { format: tiff.format, width: tiff.width, height: tiff.height, sum: finiteSum(tiff.data), saturation: tiff.saturation },
    athena: { groups: groups.map((g) => g.label), points: cu!.energy.length, e0: autobk(cu!.energy, cu!.mu).e0 },
    hdf5: { datasets, count: h5.count, shape: h5.shape, sum: finiteSum(h5.mu) },
    xafs: { e0: pre.e0, edgeStep: pre.edgeStep, chi: Array.from(bk.chi), chirMag: Array.from(ft.chirMag), chiq: Array.from(back.chiqRe) },
    stars: { background: finiteSum(map.background), grid: Array.from(grid.background), gridWorkers: Array.from(gridWorkers.background), workers, found: found.length, x: Array.from(cat.x) },
  };
}
