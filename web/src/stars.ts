// The stars panel: a frame in, detectStars + measureStarsBatch (WebGPU or CPU), the frame with
// its stars, a clicked star's stamp/model/residual, FWHM histogram and maps, the catalogue CSV.
import { columnsCsv } from '../../src/io/csv.js';
import { STAR_FLOAT_FIELDS, detectStars, measureStarsBatch, stampRadius, type ImageFile, type MeasureMethod, type StarCatalogue } from '../../src/stars/index.js';
import { readFrameFile } from './files.js';
import { frameMapSpec, heatSpec, histogramSpec, plot } from './plots.js';
import { byId, download, fmt, formNumbers, showError, fileDrop } from './ui.js';
import type { GpuHandle } from './main.js';

let frame: { name: string; image: ImageFile } | null = null;
let catalogue: StarCatalogue | null = null;
/** Screen pixels per frame pixel on the canvas. */
let scale = 1;
let limits: [number, number] = [0, 1];

const errors = () => byId<HTMLUListElement>('stars-errors');

/**
 * zscale display limits (IRAF's algorithm): a line fitted to the sorted sample with iterative
 * rejection; its slope over the contrast gives the range around the median.
 */
export function zscale(data: Float32Array, contrast = 0.25, samples = 10000): [number, number] {
  const stride = Math.max(1, Math.floor(data.length / samples));
  const s: number[] = [];
  for (let i = 0; i < data.length; i += stride) if (Number.isFinite(data[i]!)) s.push(data[i]!);
  if (s.length === 0) return [0, 1];
  s.sort((a, b) => a - b);
  const n = s.length;
  const median = s[Math.floor(n / 2)]!;
  let keep = s.map((_, i) => i);
  let slope = 0;
  for (let iter = 0; iter < 5 && keep.length > n / 2; iter++) {
    // Least-squares line through (index, value) of the kept points.
    let sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (const i of keep) {
      sx += i; sy += s[i]!; sxx += i * i; sxy += i * s[i]!;
    }
    const m = keep.length;
    slope = (m * sxy - sx * sy) / (m * sxx - sx * sx || 1);
    const icpt = (sy - slope * sx) / m;
    let ss = 0;
    for (const i of keep) ss += (s[i]! - (icpt + slope * i)) ** 2;
    const sigma = Math.sqrt(ss / m);
    const next = keep.filter((i) => Math.abs(s[i]! - (icpt + slope * i)) <= 2.5 * sigma);
    if (next.length === keep.length) break;
    keep = next;
  }
  const z1 = Math.max(s[0]!, median - (n / 2) * (slope / contrast));
  const z2 = Math.min(s[n - 1]!, median + (n / 2) * (slope / contrast));
  return z2 > z1 ? [z1, z2] : [s[0]!, s[n - 1]! > s[0]! ? s[n - 1]! : s[0]! + 1];
}

/** Grey level 0…255 of a value between the limits, asinh-stretched or linear. */
function grey(v: number, [z1, z2]: [number, number], asinh: boolean): number {
  const t = Math.min(1, Math.max(0, (v - z1) / (z2 - z1)));
  const a = 0.1;
  return Math.round(255 * (asinh ? Math.asinh(t / a) / Math.asinh(1 / a) : t));
}

/** The frame (y up, as ds9 shows it) with the measured stars circled. */
function drawFrame(): void {
  if (frame === null) return;
  const { width: W, height: H, data } = frame.image;
  const asinh = (formNumbers(byId('stars-params')).stretch ?? 'asinh') === 'asinh';
  const native = document.createElement('canvas');
  native.width = W;
  native.height = H;
  const g = native.getContext('2d')!;
  const img = g.createImageData(W, H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const v = data[y * W + x]!;
      const c = Number.isFinite(v) ? grey(v, limits, asinh) : 0;
      const o = ((H - 1 - y) * W + x) * 4;
      img.data[o] = c;
      img.data[o + 1] = c;
      img.data[o + 2] = Number.isFinite(v) ? c : 90;
      img.data[o + 3] = 255;
    }
  }
  g.putImageData(img, 0, 0);
  scale = Math.max(1, Math.floor(768 / Math.max(W, H)));
  const canvas = byId<HTMLCanvasElement>('stars-canvas');
  canvas.width = W * scale;
  canvas.height = H * scale;
  const ctx = canvas.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(native, 0, 0, W * scale, H * scale);
  if (catalogue === null) return;
  const r = Math.max(4, 1.5 * Number(formNumbers(byId('stars-params')).fwhm ?? 3) * scale);
  ctx.lineWidth = Math.max(1, scale / 2);
  for (let i = 0; i < catalogue.length; i++) {
    const [cx, cy] = toCanvas(catalogue.x[i]!, catalogue.y[i]!);
    if (!Number.isFinite(cx)) continue;
    ctx.strokeStyle = catalogue.status[i] === 0 ? '#34d399' : catalogue.status[i] === 1 ? '#fbbf24' : '#f87171';
    ctx.beginPath();
    ctx.arc(cx, cy, r, 0, 2 * Math.PI);
    ctx.stroke();
  }
}

/** Canvas pixel of a frame coordinate (pixel centres at integers, y up). */
function toCanvas(x: number, y: number): [number, number] {
  return [(x + 0.5) * scale, (frame!.image.height - 0.5 - y) * scale];
}

async function loadFrame(files: File[]): Promise<void> {
  const file = files[0];
  if (file === undefined) return;
  if (files.length > 1) showError(errors(), files.slice(1).map((f) => f.name).join(', '), 'one frame at a time: only the first file was read');
  try {
    const image = await readFrameFile(file);
    frame = { name: file.name, image };
    catalogue = null;
    limits = zscale(image.data);
    byId('stars-results').hidden = true;
    byId('star-detail').hidden = true;
    byId<HTMLButtonElement>('stars-run').disabled = false;
    byId('stars-status').textContent = `${file.name}: ${image.width}×${image.height} ${image.format}${image.notes.length ? ` (${image.notes.join('; ')})` : ''}`;
    drawFrame();
  } catch (e) {
    showError(errors(), file.name, e);
  }
}

async function measure(gpu: GpuHandle): Promise<void> {
  if (frame === null) return;
  const button = byId<HTMLButtonElement>('stars-run');
  const status = byId('stars-status');
  const p = formNumbers(byId('stars-params'));
  const device = byId<HTMLSelectElement>('stars-device').value as 'auto' | 'gpu' | 'cpu';
  button.disabled = true;
  errors().replaceChildren();
  status.textContent = 'detecting …';
  const t0 = performance.now();
  try {
    const image = frame.image;
    const fwhm = Number(p.fwhm ?? 3);
    const found = detectStars(image, { threshold: Number(p.threshold ?? 5), fwhm });
    status.textContent = `measuring ${found.length} stars …`;
    const ctx = device === 'gpu' ? await gpu.context() : undefined;
    catalogue = await measureStarsBatch(
      image,
      { x: Float64Array.from(found, (s) => s.x), y: Float64Array.from(found, (s) => s.y) },
      { method: (p.method ?? 'gaussian') as MeasureMethod, fwhm, ...(image.saturation === undefined ? {} : { saturation: image.saturation }) },
      { device, ...(ctx ? { gpu: ctx } : {}) },
    );
    const [ok, fallback, failed] = catalogue.countStatus();
    // Where it ran, as the catalogue says ('auto' falls back to the CPU on a software adapter).
    const where = catalogue.meta.device === 'cpu' ? `the CPU${device === 'auto' ? " (device 'auto')" : ''}` : device === 'gpu' ? `WebGPU (${gpu.adapter})` : "WebGPU (device 'auto')";
    status.textContent = `${catalogue.length} stars measured on ${where} in ${fmt((performance.now() - t0) / 1000, 3)} s: ${ok} ok, ${fallback} fallback, ${failed} failed`;
    const count = byId('stars-count');
    count.textContent = String(catalogue.length);
    count.dataset.count = String(catalogue.length);
    byId('stars-results').hidden = false;
    drawFrame();
    await summaryPlots();
  } catch (e) {
    showError(errors(), frame.name, e);
    status.textContent = 'measuring failed (see the message above)';
  } finally {
    button.disabled = false;
  }
}

async function summaryPlots(): Promise<void> {
  const c = catalogue!;
  const { width, height } = frame!.image;
  const values: object[] = [];
  for (let i = 0; i < c.length; i++) {
    if (c.status[i] === 2) continue;
    values.push({ id: i, x: c.x[i], y: c.y[i], fwhm: c.fwhm[i], ellipticity: c.ellipticity[i] });
  }
  await Promise.all([
    plot(byId('stars-hist'), histogramSpec(values, 'fwhm', 'FWHM of the measured stars', 'FWHM (px)')),
    plot(byId('stars-map-fwhm'), frameMapSpec(values, width, height, 'fwhm', 'FWHM across the frame', 'FWHM (px)')),
    plot(byId('stars-map-ell'), frameMapSpec(values, width, height, 'ellipticity', 'Ellipticity across the frame', '1 − b/a')),
  ]);
}

/**
 * The fitted profile at a pixel centre, from the catalogue's shape: an elliptical Gaussian
 * (semimajor/semiminor σ, θ) or, for a Moffat fit, the circular Moffat of its FWHM and β.
 */
function modelAt(c: StarCatalogue, i: number, px: number, py: number): number {
  const dx = px - c.x[i]!;
  const dy = py - c.y[i]!;
  const flux = c.flux[i]!;
  const beta = c.beta[i]!;
  if (Number.isFinite(beta)) {
    const alpha = c.fwhm[i]! / (2 * Math.sqrt(2 ** (1 / beta) - 1));
    return c.background[i]! + (flux * (beta - 1)) / (Math.PI * alpha * alpha) * (1 + (dx * dx + dy * dy) / (alpha * alpha)) ** -beta;
  }
  const a = c.semimajorSigma[i]!;
  const b = c.semiminorSigma[i]!;
  const t = c.theta[i]!;
  const u = dx * Math.cos(t) + dy * Math.sin(t);
  const v = -dx * Math.sin(t) + dy * Math.cos(t);
  return c.background[i]! + (flux / (2 * Math.PI * a * b)) * Math.exp(-0.5 * ((u * u) / (a * a) + (v * v) / (b * b)));
}

async function showStar(i: number): Promise<void> {
  const c = catalogue!;
  const { width: W, height: H, data } = frame!.image;
  byId('star-detail').hidden = false;
  const id = byId('star-id');
  id.textContent = `#${i}`;
  id.dataset.id = String(i);
  const rows: [string, number | string, string][] = [
    ['x', c.x[i]!, 'px'], ['y', c.y[i]!, 'px'], ['fwhm', c.fwhm[i]!, 'px'], ['ellipticity', c.ellipticity[i]!, ''],
    ['theta', c.theta[i]!, 'rad'], ['flux', c.flux[i]!, 'ADU'], ['snr', c.snr[i]!, ''], ['background', c.background[i]!, 'ADU'],
    ['chi2Reduced', c.chi2Reduced[i]!, ''], ['status', c.at(i)!.status, ''], ['message', c.message(i), ''],
  ];
  byId('star-metrics').replaceChildren(
    ...rows.map(([name, v, unit]) => {
      const tr = document.createElement('tr');
      tr.dataset.field = name;
      tr.dataset.value = String(v);
      tr.innerHTML = '<td></td><td></td>';
      tr.children[0]!.textContent = unit ? `${name} (${unit})` : name;
      tr.children[1]!.textContent = typeof v === 'number' ? fmt(v, 6) : v;
      return tr;
    }),
  );
  const R = stampRadius(Number(formNumbers(byId('stars-params')).fwhm ?? 3));
  const x0 = Math.round(c.x[i]!);
  const y0 = Math.round(c.y[i]!);
  const stamp: object[] = [];
  const model: object[] = [];
  const resid: object[] = [];
  for (let y = y0 - R; y <= y0 + R; y++) {
    for (let x = x0 - R; x <= x0 + R; x++) {
      if (x < 0 || y < 0 || x >= W || y >= H) continue;
      const v = data[y * W + x]!;
      const m = modelAt(c, i, x, y);
      stamp.push({ x, y, v });
      model.push({ x, y, v: m });
      resid.push({ x, y, v: v - m });
    }
  }
  const ax = { field: 'x', title: 'x (px)', step: 1 };
  const ay = { field: 'y', title: 'y (px)', step: 1 };
  await Promise.all([
    plot(byId('star-stamp'), heatSpec(stamp, ax, ay, { field: 'v', title: 'ADU' }, 'stamp', 150)),
    plot(byId('star-model'), heatSpec(model, ax, ay, { field: 'v', title: 'ADU' }, 'fitted model', 150)),
    plot(byId('star-residual'), heatSpec(resid, ax, ay, { field: 'v', title: 'ADU', scheme: 'redblue', domainMid: 0 }, 'residual (stamp − model)', 150)),
  ]);
}

function onCanvasClick(e: MouseEvent): void {
  if (frame === null || catalogue === null) return;
  const canvas = e.currentTarget as HTMLCanvasElement;
  const rect = canvas.getBoundingClientRect();
  const cx = ((e.clientX - rect.left) * canvas.width) / rect.width;
  const cy = ((e.clientY - rect.top) * canvas.height) / rect.height;
  let best = -1;
  let bestD = Infinity;
  for (let i = 0; i < catalogue.length; i++) {
    const [sx, sy] = toCanvas(catalogue.x[i]!, catalogue.y[i]!);
    const d = Math.hypot(sx - cx, sy - cy);
    if (d < bestD) {
      bestD = d;
      best = i;
    }
  }
  // Within 12 frame pixels (or 12 screen pixels on a magnified frame).
  if (best >= 0 && bestD <= 12 * Math.max(scale, 1)) void showStar(best).catch((err: unknown) => showError(errors(), `star ${best}`, err));
}

function catalogueCsvText(): string {
  const c = catalogue!;
  const units: Record<string, string> = { xErr: 'px', yErr: 'px', flux: 'ADU', fwhm: 'px', semimajorSigma: 'px', semiminorSigma: 'px', theta: 'rad', background: 'ADU', backgroundNoise: 'ADU', peak: 'ADU' };
  return columnsCsv(
    [`batchfit measureStarsBatch (browser): ${frame!.name}`, `method ${c.meta.method}; zero-based pixel coordinates, pixel centres at integers (FITS = ours + 1)`],
    [
      { name: 'id', unit: '', description: 'index of the detected position', values: Float64Array.from({ length: c.length }, (_, i) => i) },
      { name: 'x', unit: 'px', description: 'measured centre x', values: c.x },
      { name: 'y', unit: 'px', description: 'measured centre y', values: c.y },
      ...STAR_FLOAT_FIELDS.map((f) => ({ name: f, unit: units[f] ?? '', description: f, values: c[f] })),
      { name: 'status', unit: '', description: '0 ok, 1 fallback (moments), 2 failed', values: c.status },
      { name: 'flags', unit: '', description: 'bit flags (see the library docs)', values: c.flags },
    ],
  );
}

export function setupStars(gpu: GpuHandle): void {
  fileDrop(byId('stars-drop'), byId<HTMLInputElement>('stars-file'), (list) => void loadFrame(list));
  byId('stars-run').addEventListener('click', () => void measure(gpu));
  byId('stars-canvas').addEventListener('click', onCanvasClick);
  byId('stars-params').addEventListener('change', (e) => {
    if ((e.target as HTMLSelectElement).name === 'stretch') drawFrame();
  });
  byId('stars-dl').addEventListener('click', () => {
    if (catalogue !== null) download(`${frame!.name.replace(/[^\w.-]+/g, '_')}.stars.csv`, catalogueCsvText());
  });
}
