/**
 * The SExtractor-style background map: agreement with SEP's sep.Background (references made once
 * by bench/sep/sep_background_reference.py, test/fixtures/stars/sep_background.json), the mesh
 * statistics, SExtractor's median filter, the bicubic spline, and the GPU's per-pixel sky
 * (gridSky of shaders/stars_common.wgsl) against the CPU's.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { BufferUsage } from '../../src/gpu/buffers.js';
import { skyAt, skyRow, skyRows, skySplineCoefficients, skySplines } from '../../src/stars/background.js';
import { backgroundGrid, backgroundGridBatch, backgroundMap, mapFromGrid, readF32, readFits, type Image } from '../../src/stars/index.js';
import { gaussian, mulberry32 } from '../util/random.js';
import { gpuLabel, testGpu } from '../util/gpu.js';
import { fixtureDir } from './fields.js';

interface SepCase {
  frame: string;
  tileSize: number;
  filterSize: number;
  globalBack: number;
  globalRms: number;
  start: number;
  step: number;
  rows: number;
  cols: number;
  back: number[];
  rms: number[];
}

const ref = JSON.parse(readFileSync(join(fixtureDir, 'sep_background.json'), 'utf8')) as { width: number; height: number; cases: SepCase[] };

function frame(name: string): Image {
  const bytes = readFileSync(join(fixtureDir, name));
  return name.endsWith('.fits') ? readFits(bytes) : readF32(bytes, { width: ref.width, height: ref.height });
}

/** A frame of nx × ny constant meshes of `size` px with the given values (row-major). */
function meshFrame(values: number[], nx: number, ny: number, size: number): Image {
  const W = nx * size;
  const data = new Float32Array(W * ny * size);
  for (let y = 0; y < ny * size; y++) for (let x = 0; x < W; x++) data[y * W + x] = values[Math.floor(y / size) * nx + Math.floor(x / size)]!;
  return { data, width: W, height: ny * size };
}

describe('backgroundMap against SEP 1.2.1 sep.Background', () => {
  // Tolerances in units of SEP's global rms. The remaining differences: the median within a
  // histogram level is interpolated differently, SEP's clipping leaves out its top level, and
  // SEP places mesh centres half a pixel off along y (measured on a gradient: −0.4 ± 0.1 px).
  for (const c of ref.cases) {
    test(`${c.frame}, mesh ${c.tileSize}, filter ${c.filterSize}: level within 0.03σ rms (0.1σ max), σ within 0.05σ rms (0.2σ max)`, () => {
      const image = frame(c.frame);
      const m = backgroundMap(image, { tileSize: c.tileSize, filterSize: c.filterSize });
      let db = 0;
      let dn = 0;
      let maxB = 0;
      let maxN = 0;
      for (let r = 0; r < c.rows; r++) {
        for (let q = 0; q < c.cols; q++) {
          const k = (c.start + r * c.step) * image.width + c.start + q * c.step;
          const b = m.background[k]! - c.back[r * c.cols + q]!;
          const n = m.noise[k]! - c.rms[r * c.cols + q]!;
          db += b * b;
          dn += n * n;
          maxB = Math.max(maxB, Math.abs(b));
          maxN = Math.max(maxN, Math.abs(n));
        }
      }
      const count = c.rows * c.cols;
      expect(Math.sqrt(db / count)).toBeLessThan(0.03 * c.globalRms);
      expect(maxB).toBeLessThan(0.1 * c.globalRms);
      expect(Math.sqrt(dn / count)).toBeLessThan(0.05 * c.globalRms);
      expect(maxN).toBeLessThan(0.2 * c.globalRms);
    });
  }
});

describe('mesh statistics', () => {
  test('Gaussian noise: the level within 0.05σ of the truth, σ the 3σ-clipped one (0.987σ) within 3 %', () => {
    const rnd = gaussian(mulberry32(5));
    const data = new Float32Array(256 * 256);
    for (let i = 0; i < data.length; i++) data[i] = 1000 + 20 * rnd();
    const g = backgroundGrid({ data, width: 256, height: 256 }, { filterSize: 1 });
    for (let k = 0; k < 16; k++) {
      expect(Math.abs(g.background[k]! - 1000)).toBeLessThan(0.05 * 20 * 16 / 4);
      expect(g.noise[k]! / (0.9866 * 20)).toBeCloseTo(1, 1);
    }
    const mean = g.background.reduce((a, b) => a + b, 0) / 16;
    expect(Math.abs(mean - 1000)).toBeLessThan(0.05 * 20 * 4);
  });

  test('a faint source in a mesh: the mode estimate sits below the clipped mean, towards the sky', () => {
    const rnd = gaussian(mulberry32(6));
    const data = new Float32Array(64 * 64);
    for (let y = 0; y < 64; y++) {
      for (let x = 0; x < 64; x++) data[y * 64 + x] = 1000 + 10 * rnd() + 15 * Math.exp(-((x - 32) ** 2 + (y - 32) ** 2) / (2 * 12 ** 2));
    }
    let sum = 0;
    for (const v of data) sum += v;
    const g = backgroundGrid({ data, width: 64, height: 64 });
    expect(g.background[0]!).toBeLessThan(sum / data.length);
    expect(g.background[0]!).toBeGreaterThan(1000);
  });

  test('constant meshes give their value and σ 0; meshes mostly NaN are filled from the nearest valid ones', () => {
    const image = meshFrame([10, 20, 30, 40, 50, 60, 70, 80, 90], 3, 3, 16);
    const g = backgroundGrid(image, { tileSize: 16, filterSize: 1 });
    expect(Array.from(g.background)).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90]);
    expect(Array.from(g.noise)).toEqual(new Array(9).fill(0));
    const data = image.data.slice();
    // Mesh (1, 1) more than half NaN: the mean of its four nearest meshes (20, 40, 60, 80).
    for (let y = 16; y < 32; y++) for (let x = 16; x < 29; x++) data[y * 48 + x] = NaN;
    expect(backgroundGrid({ ...image, data }, { tileSize: 16, filterSize: 1 }).background[4]).toBe(50);
    expect(Array.from(backgroundGrid({ ...image, data: new Float32Array(image.data.length).fill(NaN) }, { tileSize: 16 }).background).every(Number.isNaN)).toBe(true);
  });

  test("SExtractor's median filter: the box shrinks symmetrically at the edges (corners kept), as SEP 1.2.1 gives", () => {
    // The mesh levels, and SEP's filtered levels for this frame (read off sep.Background(fw=3)).
    const levels = [1190, 1040, 1100, 1110, 1240, 1020, 1230, 1060, 1160, 1220, 1030, 1210, 1080, 1000, 1200, 1120, 1180, 1130, 1070, 1050, 1170, 1140, 1090, 1010, 1150];
    const sep = [1190, 1100, 1100, 1110, 1240, 1030, 1080, 1100, 1110, 1220, 1030, 1120, 1130, 1080, 1200, 1120, 1130, 1090, 1080, 1150, 1170, 1140, 1090, 1090, 1150];
    const g = backgroundGrid(meshFrame(levels, 5, 5, 16), { tileSize: 16, filterSize: 3 });
    expect(Array.from(g.background)).toEqual(sep);
  });
});

describe('bicubic spline', () => {
  // A plane through the mesh centres is reproduced exactly by the natural spline, between the
  // centres and beyond them (the end cubics are extrapolated), and the shrinking median box
  // keeps a plane too.
  test('a sky plane is reproduced at every pixel, inside and beyond the mesh centres', () => {
    const nx = 5;
    const ny = 4;
    const size = 20;
    const plane = (x: number, y: number) => 1000 + 0.7 * x - 0.4 * y;
    const values: number[] = [];
    for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) values.push(plane((i + 0.5) * size - 0.5, (j + 0.5) * size - 0.5));
    for (const filterSize of [1, 3]) {
      const m = backgroundMap(meshFrame(values, nx, ny, size), { tileSize: size, filterSize });
      let worst = 0;
      for (let y = 0; y < m.height; y++) for (let x = 0; x < m.width; x++) worst = Math.max(worst, Math.abs(m.background[y * m.width + x]! - plane(x, y)));
      expect(worst).toBeLessThan(2e-3);
    }
  });

  test('the spline passes through the mesh values; skyAt equals the map planes', () => {
    const image = frame('sep_bkg_synthetic.f32');
    const grid = backgroundGrid(image, { tileSize: 32 });
    const m = mapFromGrid(grid);
    const s = skySplines(grid);
    // Mesh centres fall between pixels (32-px meshes): the mean of the four pixels around one
    // is the spline there to second order.
    const k = 2 * grid.nx + 3;
    const cx = 3.5 * 32 - 0.5;
    const cy = 2.5 * 32 - 0.5;
    expect(skyAt(s, 'background', cx, cy)).toBeCloseTo(grid.background[k]!, 9);
    expect(skyAt(s, 'noise', cx, cy)).toBeCloseTo(grid.noise[k]!, 9);
    for (let y = 0; y < image.height; y += 7) {
      for (let x = 0; x < image.width; x += 5) {
        expect(Math.abs(skyAt(s, 'background', x, y) - m.background[y * image.width + x]!)).toBeLessThan(1e-3);
        expect(Math.abs(skyAt(s, 'noise', x, y) - m.noise[y * image.width + x]!)).toBeLessThan(1e-4);
      }
    }
  });

  test('skyRow, skyRows: every row and any column range equal the map planes to the bit; bad arguments are refused', () => {
    // Mesh counts of 1 (no x-spline), a few, and tiles not dividing the frame.
    for (const [image, tileSize] of [[frame('sep_bkg_synthetic.f32'), 32], [frame('sep_bkg_synthetic.f32'), 64], [{ width: 50, height: 37, data: new Float32Array(50 * 37).map((_, i) => 100 + (i % 50) * 0.3 + Math.sin(i)) }, 64], [{ width: 203, height: 61, data: new Float32Array(203 * 61).map((_, i) => 10 + ((i * 7919) % 13)) }, 24]] as const) {
      const grid = backgroundGrid(image, { tileSize });
      const m = mapFromGrid(grid);
      const s = skySplines(grid);
      const W = image.width;
      const row = new Float32Array(W);
      const row2 = new Float32Array(W);
      const random = mulberry32(W + tileSize);
      let mismatches = 0;
      for (let y = 0; y < image.height; y++) {
        skyRows(s, y, row, row2);
        for (let x = 0; x < W; x++) if (!Object.is(row[x], m.background[y * W + x]) || !Object.is(row2[x], m.noise[y * W + x])) mismatches++;
        for (const plane of ['background', 'noise'] as const) {
          skyRow(s, plane, y, row);
          for (let x = 0; x < W; x++) if (!Object.is(row[x], m[plane][y * W + x])) mismatches++;
          const x0 = Math.floor(random() * W);
          const x1 = x0 + Math.floor(random() * (W - x0 + 1));
          skyRow(s, plane, y, row, x0, x1);
          for (let x = x0; x < x1; x++) if (!Object.is(row[x - x0], m[plane][y * W + x])) mismatches++;
        }
      }
      expect(mismatches).toBe(0);
    }
    const s = skySplines(backgroundGrid(frame('sep_bkg_synthetic.f32')));
    const out = new Float32Array(s.width);
    expect(() => skyRow(s, 'background', s.height, out)).toThrow(/y = \d+ must be an integer row/);
    expect(() => skyRow(s, 'background', 0, out, 5, 3)).toThrow(/columns \[5, 3\)/);
    expect(() => skyRow(s, 'background', 0, new Float32Array(3))).toThrow(/out must be a Float32Array/);
    expect(() => skyRow(s, 'level' as 'noise', 0, out)).toThrow(/plane = 'level'/);
    expect(() => skyRows(s, 0, out, new Float32Array(1))).toThrow(/skyRows: noise must be a Float32Array/);
  });

  test('into: the planes of a map of the same size are overwritten with the same numbers; others are refused', () => {
    const image = frame('sep_bkg_synthetic.f32');
    const fresh = backgroundMap(image);
    const old = backgroundMap(image, { tileSize: 32 });
    const reused = backgroundMap(image, {}, old);
    expect(reused.background).toBe(old.background);
    expect(reused.background).toEqual(fresh.background);
    expect(reused.noise).toEqual(fresh.noise);
    expect(() => mapFromGrid(backgroundGrid(image), { ...old, width: 128 })).toThrow(/mapFromGrid: into must be a background map of a 256×256 frame/);
    expect(() => mapFromGrid(backgroundGrid(image), { ...old, noise: old.background })).toThrow(/not sharing memory/);
  });

  test('one mesh row or column: constant along that axis', () => {
    const m = backgroundMap(meshFrame([10, 20, 40], 3, 1, 16), { tileSize: 16, filterSize: 1 });
    for (let x = 0; x < 48; x++) expect(m.background[5 * 48 + x]).toBe(m.background[11 * 48 + x]);
    const single = backgroundMap(meshFrame([7], 1, 1, 16), { tileSize: 16 });
    expect(single.background.every((v) => v === 7)).toBe(true);
  });
});

describe('options and the worker path', () => {
  test('filterSize: odd integers in [1, 15], errors name it', () => {
    const image = frame('sep_bkg_synthetic.f32');
    expect(() => backgroundMap(image, { filterSize: 4 })).toThrow(/backgroundMap: filterSize = 4 must be an odd integer in \[1, 15\]/);
    expect(() => backgroundGrid(image, { filterSize: 17 })).toThrow(/filterSize = 17 must be an integer in \[1, 15\]/);
  });

  test('backgroundGridBatch on two workers gives the one-thread grid exactly (mesh 16, filter 5)', async () => {
    const image = frame('sep_bkg_synthetic.f32');
    const options = { tileSize: 16, filterSize: 5 };
    const one = backgroundGrid(image, options);
    expect(await backgroundGridBatch(image, options, { workers: 2 })).toEqual(one);
    expect(await backgroundGridBatch(image, options, { workers: 0 })).toEqual(one);
  });
});

describe('the GPU per-pixel sky (gridSky)', async () => {
  const ctx = await testGpu();
  test.skipIf(!ctx)(`gridSky equals skyAt within float32 rounding ${gpuLabel(ctx)}`, async () => {
    const device = ctx!.device;
    const image = frame('sep_bkg_synthetic.f32');
    const grid = backgroundGrid(image, { tileSize: 32 });
    const s = skySplines(grid);
    // A kernel of its own around stars_common.wgsl: the include declares the grid binding and
    // needs a `params` uniform with nanBits and the override R.
    const common = readFileSync(join(fixtureDir, '..', '..', '..', 'shaders', 'stars_common.wgsl'), 'utf8');
    const code = `${common}
override R: i32 = 7;
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> points: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> result: array<vec2<f32>>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x >= arrayLength(&points)) { return; }
  let p = points[id.x];
  result[id.x] = gridSky(p.x, p.y, params.gridNx, params.gridNy, params.cellW, params.cellH);
}`;
    const rnd = mulberry32(9);
    const N = 1024;
    const pts = new Float32Array(2 * N);
    for (let i = 0; i < N; i++) {
      // Beyond the frame's edges too: the extrapolated end cubics.
      pts[2 * i] = -10 + rnd() * (image.width + 20);
      pts[2 * i + 1] = -10 + rnd() * (image.height + 20);
    }
    // Params is all 4-byte scalars: a field's word is its place in the struct.
    const fields = [...(/struct Params \{([^}]*)\}/.exec(common)![1]!.matchAll(/^\s*(\w+):/gm))].map((m) => m[1]!);
    const word = (name: string) => fields.indexOf(name);
    const u = new ArrayBuffer(16 * Math.ceil((4 * fields.length) / 16));
    const uu = new Uint32Array(u);
    const uf = new Float32Array(u);
    uu[word('nanBits')] = 0x7fc00000;
    uu[word('gridNx')] = grid.nx;
    uu[word('gridNy')] = grid.ny;
    uf[word('cellW')] = s.cellW;
    uf[word('cellH')] = s.cellH;
    const coef = new Float32Array(8 * grid.nx * grid.ny);
    coef.set(skySplineCoefficients(grid.background, grid.nx, grid.ny));
    coef.set(skySplineCoefficients(grid.noise, grid.nx, grid.ny), 4 * grid.nx * grid.ny);
    const buffer = (data: ArrayBufferView | number, usage: number) => {
      const size = typeof data === 'number' ? data : data.byteLength;
      const b = device.createBuffer({ size, usage: usage | BufferUsage.COPY_DST });
      if (typeof data !== 'number') device.queue.writeBuffer(b, 0, data as ArrayBufferView<ArrayBuffer>);
      return b;
    };
    const ub = buffer(new Uint8Array(u), BufferUsage.UNIFORM);
    const gb = buffer(coef, BufferUsage.STORAGE);
    const pb = buffer(pts, BufferUsage.STORAGE);
    const rb = buffer(8 * N, BufferUsage.STORAGE | BufferUsage.COPY_SRC);
    const read = device.createBuffer({ size: 8 * N, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
    const bind = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: ub } },
        { binding: 1, resource: { buffer: pb } },
        { binding: 2, resource: { buffer: rb } },
        { binding: 7, resource: { buffer: gb } },
      ],
    });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(N / 64);
    pass.end();
    enc.copyBufferToBuffer(rb, 0, read, 0, 8 * N);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(1);
    const out = new Float32Array(read.getMappedRange().slice(0));
    read.unmap();
    for (const b of [ub, gb, pb, rb, read]) b.destroy();
    for (let i = 0; i < N; i++) {
      const x = pts[2 * i]!;
      const y = pts[2 * i + 1]!;
      const bg = skyAt(s, 'background', x, y);
      const sd = skyAt(s, 'noise', x, y);
      // float32: coefficients and weights rounded (≈ 6e-8 relative) over sums of O(1000) ADU.
      expect(Math.abs(out[2 * i]! - bg)).toBeLessThan(2e-3 + 1e-6 * Math.abs(bg));
      expect(Math.abs(out[2 * i + 1]! - sd)).toBeLessThan(2e-3 + 1e-6 * Math.abs(sd));
    }
  });
});
