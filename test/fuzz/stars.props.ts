/**
 * Fuzz properties of `batchfit/stars` (issue 13): whatever options, positions, images or FITS
 * bytes come in, the answer is a sound catalogue (one row per position, valid statuses, every
 * row that is not 'failed' with a finite position inside the frame, FWHM and flux) or an Error
 * naming what was wrong — never an engine TypeError/RangeError, a hang or a silent NaN.
 * The GPU is left out: a case on lavapipe takes seconds (its verdicts are tested in
 * test/stars/reliability.test.ts).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { serveWorker } from '../../src/cpu/workerPool.js';
import {
  backgroundGrid,
  backgroundMap,
  detectStars,
  flagNames,
  FLAG_INVALID_POSITION,
  FLAG_OUTSIDE,
  measureStars,
  measureStarsBatch,
  readF32,
  readFits,
  type Image,
  type StarCatalogue,
} from '../../src/stars/index.js';
import { fuzzProperty, fuzzWorker } from './harness.js';

/** A 64×64 cut of stars_gauss_iso (rows and columns 96…159), with a few stars in it. */
const SIDE = 64;
// The worker runs a transpiled copy of this module under node_modules/.cache/…: the fixtures
// are found from the package root, above that.
const here = fileURLToPath(import.meta.url);
const root = here.includes('/node_modules/') ? here.slice(0, here.indexOf('/node_modules/')) : fileURLToPath(new URL('../..', import.meta.url));
const fixture = `${root}/test/fixtures/stars/stars_gauss_iso`;
const meta = JSON.parse(readFileSync(`${fixture}.json`, 'utf8')) as { width: number; height: number; stars: { x: number; y: number; x_init: number; y_init: number }[] };
const full = { image: readF32(new Uint8Array(readFileSync(`${fixture}.f32`)), meta), stars: meta.stars };
const frame: Image = { width: SIDE, height: SIDE, data: new Float32Array(SIDE * SIDE) };
for (let y = 0; y < SIDE; y++) frame.data.set(full.image.data.subarray((96 + y) * 256 + 96, (96 + y) * 256 + 96 + SIDE), y * SIDE);
const frameMap = backgroundMap(frame);
const starsInFrame = full.stars.filter((s) => s.x >= 96 && s.x < 96 + SIDE && s.y >= 96 && s.y < 96 + SIDE).map((s) => ({ x: s.x_init - 96, y: s.y_init - 96 }));

/** Fails the case unless `e` is a plain Error (ours: no engine TypeError/RangeError) whose message matches. */
function expectNamedError(e: unknown, message: RegExp): void {
  if (!(e instanceof Error) || e.constructor !== Error) throw new Error(`an engine error, not a named one: ${String(e)}`, { cause: e });
  if (!message.test(e.message)) throw new Error(`an error that names no field: ${e.message}`, { cause: e });
}

/** The catalogue holds one row per position, valid statuses, and only sound rows that are not 'failed'. */
function expectSoundCatalogue(cat: StarCatalogue, n: number, W: number, H: number): void {
  if (cat.length !== n) throw new Error(`${cat.length} rows for ${n} positions`);
  for (let i = 0; i < n; i++) {
    const status = cat.status[i] as number;
    if (status > 2) throw new Error(`row ${i}: status code ${status}`);
    if (status === 2) continue;
    const x = cat.x[i] as number;
    const y = cat.y[i] as number;
    const fwhm = cat.fwhm[i] as number;
    const flux = cat.flux[i] as number;
    if (!(x >= -0.5 && x < W - 0.5 && y >= -0.5 && y < H - 0.5 && Number.isFinite(fwhm) && Number.isFinite(flux))) {
      throw new Error(`row ${i} is ${cat.at(i)!.status} with x = ${x}, y = ${y}, fwhm = ${fwhm}, flux = ${flux} (${flagNames(cat.flags[i] as number).join(',')})`);
    }
  }
}

const hostileNumber = fc.oneof(
  fc.constantFrom(0, -0, -1, NaN, Infinity, -Infinity, 1e300, -1e300, 1e-300, 2 ** 31, 2 ** 53, 0.5, 1e4, 1e6),
  fc.double(),
  fc.integer({ min: -100, max: 100 }),
);
const wrongType = fc.oneof(fc.string({ maxLength: 6 }), fc.constant(null), fc.boolean(), fc.constant([]), fc.constant({}), fc.bigInt({ min: -5n, max: 5n }));
/** An option value: usually sane, else hostile, of the wrong type or absent. */
const option = (sane: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 4, arbitrary: sane }, { weight: 2, arbitrary: hostileNumber }, { weight: 1, arbitrary: wrongType }, { weight: 2, arbitrary: fc.constant(undefined) });

/** Options by field: a sane value and a value that is anything. */
const optionFields = {
  method: [fc.constantFrom('moments', 'gaussian', 'gaussianRotated', 'moffat'), fc.oneof(fc.constantFrom('psf', 'Gaussian', ''), wrongType)],
  fwhm: [fc.double({ min: 0.5, max: 8.5, noNaN: true }), option(fc.constantFrom(0.49, 8.58, 30, 1e4))],
  gain: [fc.double({ min: 0.1, max: 10, noNaN: true }), option(fc.constant(0))],
  readNoise: [fc.double({ min: 0, max: 20, noNaN: true }), option(fc.constant(-1))],
  saturation: [fc.double({ min: 900, max: 70000, noNaN: true }), option(fc.constantFrom(-Infinity, Infinity))],
  background: [fc.constantFrom('map', 'annulus'), fc.oneof(fc.constant('local'), wrongType)],
  beta: [fc.double({ min: 1.1, max: 29, noNaN: true }), option(fc.constantFrom(1.05, 30, 1))],
  precision: [fc.constantFrom('f64', 'f32'), fc.oneof(fc.constant('f16'), wrongType)],
  skySlope: [fc.constantFrom('fixed', 'fit'), fc.oneof(fc.constant('tilted'), wrongType)],
} as const;
type Field = keyof typeof optionFields;
const saneOptions = fc.record(Object.fromEntries(Object.entries(optionFields).map(([k, [sane]]) => [k, sane])) as Record<Field, fc.Arbitrary<unknown>>, { requiredKeys: [] });
/** Sane options, one or two of them replaced by anything. */
const hostileOptions = fc
  .tuple(saneOptions, fc.subarray(Object.keys(optionFields) as Field[], { minLength: 1, maxLength: 2 }))
  .chain(([base, fields]) => fc.tuple(...fields.map((f) => optionFields[f][1])).map((values) => ({ ...base, ...Object.fromEntries(fields.map((f, i) => [f, values[i]])) })));
const measureOptions = fc.oneof({ weight: 3, arbitrary: saneOptions }, { weight: 2, arbitrary: hostileOptions });

/** A coordinate: inside the frame mostly, else outside, non-finite, huge or not a number. */
const coordinate = fc.oneof(
  { weight: 6, arbitrary: fc.double({ min: -2, max: SIDE + 1, noNaN: true }) },
  { weight: 2, arbitrary: hostileNumber },
  { weight: 1, arbitrary: wrongType },
);
const position = fc.oneof(
  { weight: 8, arbitrary: fc.record({ x: coordinate, y: coordinate }) },
  { weight: 2, arbitrary: fc.constantFrom(...starsInFrame) },
  { weight: 1, arbitrary: fc.constantFrom(null, undefined, {}, 'x', 5) },
);
const positions = fc.array(position, { maxLength: 8 });

/** Whether position p, as given, is a finite pair of numbers inside the frame. */
function validPosition(p: unknown, W: number, H: number): 'finite' | 'outside' | 'invalid' {
  if (typeof p !== 'object' || p === null) return 'invalid';
  const { x, y } = p as { x: unknown; y: unknown };
  if (typeof x !== 'number' || typeof y !== 'number' || !Number.isFinite(x) || !Number.isFinite(y)) return 'invalid';
  return x >= -0.5 && y >= -0.5 && x < W - 0.5 && y < H - 0.5 ? 'finite' : 'outside';
}

/** measureStars on `image`: a sound catalogue whose invalid and outside positions carry their flags, or a named error. */
function checkMeasure(image: Image, list: unknown[], options: unknown, background?: unknown): StarCatalogue | undefined {
  let cat: StarCatalogue;
  try {
    cat = measureStars(image, list as never, options as never, background as never);
  } catch (e) {
    expectNamedError(e, /^measureStars: [\w.]+( \(e⁻\/ADU\))? = |^measureStars: unknown method|^measureStars: background(\.\w+)? |^measureStars: image\.width × image\.height/);
    return undefined;
  }
  expectSoundCatalogue(cat, list.length, image.width, image.height);
  list.forEach((p, i) => {
    const v = validPosition(p, image.width, image.height);
    const flags = cat.flags[i] as number;
    if (v === 'invalid' && !(flags & FLAG_INVALID_POSITION)) throw new Error(`position ${i} ${fc.stringify(p)} is not flagged invalidPosition`);
    if (v === 'outside' && !(flags & FLAG_OUTSIDE)) throw new Error(`position ${i} ${fc.stringify(p)} is not flagged outside`);
  });
  return cat;
}

/** Pixels of a w×h image: star field, NaN regions, constant, infinities, zeros. */
function pixelsArb(n: number): fc.Arbitrary<Float32Array> {
  return fc
    .tuple(
      fc.constantFrom('field', 'constant', 'zero', 'nanBlock', 'infBlock', 'allNaN', 'noise'),
      fc.double({ min: -1e6, max: 1e6, noNaN: true }),
      fc.integer({ min: 0, max: Math.max(0, n - 1) }),
      fc.integer({ min: 0, max: n }),
    )
    .map(([kind, level, at, len]) => {
      const d = new Float32Array(n);
      if (kind === 'field' || kind === 'nanBlock' || kind === 'infBlock') d.set(frame.data.subarray(0, n));
      if (kind === 'constant') d.fill(level);
      if (kind === 'allNaN') d.fill(NaN);
      if (kind === 'noise') for (let i = 0; i < n; i++) d[i] = level * Math.sin(i * 12.9898) ** 2;
      if (kind === 'nanBlock') d.fill(NaN, at, at + len);
      if (kind === 'infBlock') d.fill(at % 2 ? Infinity : -Infinity, at, at + len);
      return d;
    });
}

/** An image with valid or bad dimensions and data. */
const imageArb: fc.Arbitrary<Image> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.tuple(fc.integer({ min: 1, max: SIDE }), fc.integer({ min: 1, max: SIDE })).chain(([w, h]) => pixelsArb(w * h).map((data) => ({ width: w, height: h, data }))),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      width: fc.oneof(fc.integer({ min: -5, max: SIDE }), hostileNumber, wrongType, fc.constantFrom(20000, 2 ** 31, 64.5)),
      height: fc.oneof(fc.integer({ min: -5, max: SIDE }), hostileNumber, wrongType, fc.constantFrom(20000, -256, 64.5)),
      data: fc.oneof(
        fc.constant(frame.data),
        fc.constant(frame.data.subarray(0, 100)),
        fc.constant(Array.from(frame.data.subarray(0, 16))),
        fc.constant(new Float64Array(64)),
        wrongType,
      ),
    }) as fc.Arbitrary<Image>,
  },
);
const imageError = /^(measureStars|detectStars|backgroundMap): image(\.\w+)?( × image\.height)? = /;

/** A small valid FITS file: header cards, then big-endian pixels; padded unless `unpadded`. */
function buildFits(spec: { bitpix: number; w: number; h: number; extra: string[]; unpadded: boolean; seed: number }): Uint8Array {
  const cards = [`SIMPLE  = ${'T'.padStart(20)}`, `BITPIX  = ${String(spec.bitpix).padStart(20)}`, `NAXIS   = ${'2'.padStart(20)}`, `NAXIS1  = ${String(spec.w).padStart(20)}`, `NAXIS2  = ${String(spec.h).padStart(20)}`, ...spec.extra, 'END'];
  const text = cards.map((c) => c.padEnd(80, ' ')).join('');
  const headerBytes = Math.ceil(text.length / 2880) * 2880;
  const bpp = Math.abs(spec.bitpix) / 8;
  const dataBytes = spec.w * spec.h * bpp;
  const total = headerBytes + (spec.unpadded ? dataBytes : Math.ceil(dataBytes / 2880) * 2880);
  const out = new Uint8Array(total).fill(32, 0, headerBytes);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  const view = new DataView(out.buffer, headerBytes, dataBytes);
  for (let i = 0; i < spec.w * spec.h; i++) {
    const v = ((i * 7919 + spec.seed) % 2001) - 1000;
    switch (spec.bitpix) {
      case 8: view.setUint8(i, v & 255); break;
      case 16: view.setInt16(2 * i, v, false); break;
      case 32: view.setInt32(4 * i, v, false); break;
      case 64: view.setBigInt64(8 * i, BigInt(v), false); break;
      case -32: view.setFloat32(4 * i, v / 3, false); break;
      default: view.setFloat64(8 * i, v / 3, false);
    }
  }
  return out;
}

const fitsSpec = fc.record({
  bitpix: fc.constantFrom(8, 16, 32, 64, -32, -64),
  w: fc.integer({ min: 1, max: 40 }),
  h: fc.integer({ min: 1, max: 40 }),
  extra: fc.subarray([`BSCALE  = ${'2.5'.padStart(20)}`, `BZERO   = ${'100'.padStart(20)}`, `BLANK   = ${'7'.padStart(20)}`, `NAXIS3  = ${'1'.padStart(20)}`, `PCOUNT  = ${'0'.padStart(20)}`, `GCOUNT  = ${'1'.padStart(20)}`]),
  unpadded: fc.boolean(),
  seed: fc.integer({ min: 0, max: 1000 }),
});
const keywordValue = fc.oneof(fc.constantFrom('0', '-1', '1e9', '1e300', 'NaN', "'abc'", '2.5', 'T', '', '99999999', '-32', '3'), fc.integer({ min: -100, max: 100 }).map(String));
const mutation = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), v: fc.constant(0) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat(), v: fc.constant(0) }),
  fc.record({ op: fc.constant('keyword' as const), at: fc.integer({ min: 1, max: 12 }), v: fc.nat() }),
);

function mutate(bytes: Uint8Array, ms: { op: string; at: number; v: number }[], values: string[]): Uint8Array {
  let b = bytes;
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    if (m.op === 'flip') {
      b = b.slice();
      b[at] = m.v;
    } else if (m.op === 'insert') {
      const c = new Uint8Array(b.length + 1);
      c.set(b.subarray(0, at));
      c[at] = m.v;
      c.set(b.subarray(at), at + 1);
      b = c;
    } else if (m.op === 'delete') {
      const c = new Uint8Array(Math.max(0, b.length - 1));
      c.set(b.subarray(0, at));
      c.set(b.subarray(at + 1), at);
      b = c;
    } else if (m.op === 'truncate') {
      b = b.slice(0, at);
    } else if (b.length >= 80 * (m.at + 1)) {
      // Card m.at's value field replaced by a hostile token.
      const value = (values[m.v % values.length] ?? '0').padStart(20).slice(0, 70);
      b = b.slice();
      for (let i = 0; i < 70; i++) b[80 * m.at + 10 + i] = i < value.length ? value.charCodeAt(i) : 32;
    }
  }
  return b;
}

/** Two catalogues with equal columns (NaN equal to NaN). */
function expectSameCatalogue(a: StarCatalogue, b: StarCatalogue): void {
  if (a.length !== b.length) throw new Error(`${a.length} rows against ${b.length}`);
  for (const f of ['xInput', 'yInput', 'x', 'y', 'flux', 'fwhm', 'snr', 'status', 'flags', 'method', 'fitReason', 'iterations'] as const) {
    for (let i = 0; i < a.length; i++) {
      if (!Object.is(a[f][i], b[f][i])) throw new Error(`row ${i}: ${f} = ${a[f][i]} against ${b[f][i]}`);
    }
  }
}

export const properties = {
  'measureStars: any options and positions give a sound catalogue or a named error': fuzzProperty(
    fc.record({ options: fc.oneof({ weight: 9, arbitrary: measureOptions }, { weight: 1, arbitrary: wrongType }), positions, map: fc.constantFrom('own', 'given', 'other') }),
    ({ options, positions: list, map }) => {
      const background = map === 'given' ? frameMap : map === 'other' ? { ...frameMap, width: 32 } : undefined;
      checkMeasure(frame, list, options, background);
    },
  ),
  'images with bad dimensions or bad pixels: named errors or sound results': fuzzProperty(
    fc.record({ image: imageArb, positions, method: fc.constantFrom('moments', 'gaussian', 'moffat') }),
    ({ image, positions: list, method }) => {
      checkMeasure(image, list, { method });
      try {
        const found = detectStars(image);
        for (const s of found) {
          if (!(s.x >= -0.5 && s.x < image.width - 0.5 && s.y >= -0.5 && s.y < image.height - 0.5 && Number.isFinite(s.significance))) {
            throw new Error(`detection at x = ${s.x}, y = ${s.y}, significance ${s.significance}`);
          }
        }
      } catch (e) {
        expectNamedError(e, imageError);
      }
    },
  ),
  'backgroundMap and backgroundGrid: any options give a finite map or a named error': fuzzProperty(
    fc.record({
      options: fc.oneof(
        { weight: 9, arbitrary: fc.record({ tileSize: option(fc.integer({ min: 8, max: 80 })), kappa: option(fc.double({ min: 0.5, max: 10, noNaN: true })), iterations: option(fc.integer({ min: 0, max: 10 })) }, { requiredKeys: [] }) },
        { weight: 1, arbitrary: wrongType },
      ),
      grid: fc.boolean(),
    }),
    ({ options, grid }) => {
      try {
        const g = grid ? backgroundGrid(frame, options as never) : backgroundMap(frame, options as never).grid!;
        for (let i = 0; i < g.nx * g.ny; i++) {
          if (!(Number.isFinite(g.background[i]) && (g.noise[i] as number) >= 0)) throw new Error(`tile ${i}: sky ${g.background[i]}, σ ${g.noise[i]}`);
        }
      } catch (e) {
        expectNamedError(e, /^backgroundMap: (tileSize|kappa|iterations|options) = /);
      }
    },
  ),
  'detectStars: any options give detections inside the frame or a named error': fuzzProperty(
    fc.record({
      fwhm: option(fc.double({ min: 0.5, max: 8.5, noNaN: true })),
      threshold: option(fc.double({ min: 1, max: 20, noNaN: true })),
      minSeparation: option(fc.double({ min: 1, max: 30, noNaN: true })),
      background: fc.constantFrom(undefined, frameMap, { ...frameMap, noise: new Float32Array(3) }, null),
    }, { requiredKeys: [] }),
    (options) => {
      try {
        for (const s of detectStars(frame, options as never)) {
          if (!(s.x >= -0.5 && s.x < SIDE - 0.5 && s.y >= -0.5 && s.y < SIDE - 0.5 && Number.isFinite(s.significance))) throw new Error(`detection at x = ${s.x}, y = ${s.y}`);
        }
      } catch (e) {
        expectNamedError(e, /^detectStars: (fwhm|threshold|minSeparation|options|background(\.\w+)?) (= |map is )/);
      }
    },
  ),
  'readFits: mutated files give an image whose size matches its data, or a named error': fuzzProperty(
    fc.record({ spec: fitsSpec, mutations: fc.array(mutation, { maxLength: 4 }), values: fc.array(keywordValue, { minLength: 1, maxLength: 3 }), asBuffer: fc.boolean() }),
    ({ spec, mutations, values, asBuffer }) => {
      const bytes = mutate(buildFits(spec), mutations, values);
      try {
        const img = readFits(asBuffer ? bytes.slice().buffer : bytes);
        if (!(img.data instanceof Float32Array && Number.isInteger(img.width) && Number.isInteger(img.height) && img.width > 0 && img.height > 0 && img.width * img.height === img.data.length)) {
          throw new Error(`an image of ${img.width}×${img.height} with ${img.data.length} values`);
        }
      } catch (e) {
        expectNamedError(e, /^FITS: /);
      }
    },
  ),
  'measureStarsBatch on the CPU: bad positions keep count and order, rows equal measureStars': fuzzProperty(
    fc.record({ positions, workers: fc.constantFrom(0, 2), method: fc.constantFrom('moments', 'gaussian'), columns: fc.boolean() }),
    async ({ positions: list, workers, method, columns }) => {
      const input = columns ? { x: list.map((p) => (p as { x?: unknown } | null)?.x), y: list.map((p) => (p as { y?: unknown } | null)?.y) } : list;
      const single = measureStars(frame, input as never, { method }, frameMap);
      const batch = await measureStarsBatch(frame, input as never, { method }, { device: 'cpu', workers, background: frameMap });
      expectSoundCatalogue(batch, list.length, SIDE, SIDE);
      expectSameCatalogue(batch, single);
    },
    { caseMs: 5000, share: 0.25 },
  ),
};

void serveWorker(fuzzWorker(properties));
