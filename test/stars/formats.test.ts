/**
 * Frame formats through readImage: a 16-bit camera TIFF, gzip-compressed FITS, the saturation
 * level a file states or its type implies, and an error naming the format for every variant
 * that is refused. Small TIFFs are assembled here byte by byte, so every tag is under control.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, zlibSync } from 'fflate';
import { writeArrayBuffer } from 'geotiff';
import { describe, expect, test } from 'vitest';
import { detectStars, flagNames, measureStars, measureStarsBatch, readFits, readImage, stampRadius, type DetectedStar, type Image, type StarCatalogue } from '../../src/stars/index.js';
import { fixtureDir, median } from './fields.js';

const sepBytes = new Uint8Array(readFileSync(join(fixtureDir, 'sep_image.fits')));
const tetraBytes = new Uint8Array(readFileSync(join(fixtureDir, 'tetra3_Alt40_Azi-45.tiff')));

/** The message of the error `f` throws or rejects with. */
async function failure(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected an error');
}

// ---- TIFF assembly ---------------------------------------------------------------------------

type SampleKind = 'u' | 'i' | 'f';
interface Page {
  width: number;
  height: number;
  bits: number;
  kind: SampleKind;
  values: number[];
  samples?: number;
  photometric?: number;
  /** Compression tag; 8 compresses the strip with zlib (Deflate), others only set the tag. */
  compression?: number;
}

const SHORT = 3;
const LONG = 4;

/** Encodes samples of one kind and width in the file's byte order. */
function encode(p: Page, le: boolean): Uint8Array {
  const bytes = p.bits / 8;
  const out = new Uint8Array(p.values.length * bytes);
  const dv = new DataView(out.buffer);
  p.values.forEach((v, i) => {
    const o = i * bytes;
    if (p.kind === 'f') {
      if (bytes === 4) dv.setFloat32(o, v, le);
      else if (bytes === 8) dv.setFloat64(o, v, le);
      else dv.setUint16(o, v, le); // raw half-float bits
    } else if (bytes === 1) {
      if (p.kind === 'u') dv.setUint8(o, v);
      else dv.setInt8(o, v);
    } else if (bytes === 2) {
      if (p.kind === 'u') dv.setUint16(o, v, le);
      else dv.setInt16(o, v, le);
    } else if (bytes === 4) {
      if (p.kind === 'u') dv.setUint32(o, v, le);
      else dv.setInt32(o, v, le);
    } else if (p.kind === 'u') dv.setBigUint64(o, BigInt(v), le);
    else dv.setBigInt64(o, BigInt(v), le);
  });
  return out;
}

/**
 * A baseline TIFF (little-endian unless `le` is false): per page its strip, then its IFD, then
 * the IFD's out-of-line values; one strip per page. Bits that are not a whole number of bytes
 * (12) are written as 16-bit samples: only the tags matter for the refusal.
 */
function tiff(pages: Page[], le = true): Uint8Array {
  const chunks: Uint8Array[] = [];
  let size = 8;
  const head = new Uint8Array(8);
  const hv = new DataView(head.buffer);
  head.set(le ? [0x49, 0x49] : [0x4d, 0x4d]);
  hv.setUint16(2, 42, le);
  chunks.push(head);
  let patchNext: [DataView, number] = [hv, 4];
  pages.forEach((p) => {
    const samples = p.samples ?? 1;
    let strip = encode({ ...p, bits: p.bits % 8 === 0 ? p.bits : 16 }, le);
    if (p.compression === 8) strip = zlibSync(strip);
    const stripOffset = size;
    chunks.push(strip);
    size += strip.length;
    const entries: [number, number, number[]][] = [
      [256, LONG, [p.width]],
      [257, LONG, [p.height]],
      [258, SHORT, Array<number>(samples).fill(p.bits)],
      [259, SHORT, [p.compression ?? 1]],
      [262, SHORT, [p.photometric ?? (samples === 3 ? 2 : 1)]],
      [273, LONG, [stripOffset]],
      [277, SHORT, [samples]],
      [278, LONG, [p.height]],
      [279, LONG, [strip.length]],
      [284, SHORT, [1]],
      [339, SHORT, Array<number>(samples).fill({ u: 1, i: 2, f: 3 }[p.kind])],
    ];
    const ifdSize = 2 + 12 * entries.length + 4;
    const ifd = new Uint8Array(ifdSize);
    const dv = new DataView(ifd.buffer);
    const extra: number[] = [];
    const extraStart = size + ifdSize;
    dv.setUint16(0, entries.length, le);
    entries.forEach(([tag, type, vals], k) => {
      const o = 2 + 12 * k;
      dv.setUint16(o, tag, le);
      dv.setUint16(o + 2, type, le);
      dv.setUint32(o + 4, vals.length, le);
      const width = type === SHORT ? 2 : 4;
      if (vals.length * width <= 4) {
        vals.forEach((v, i) => (type === SHORT ? dv.setUint16(o + 8 + 2 * i, v, le) : dv.setUint32(o + 8, v, le)));
      } else {
        dv.setUint32(o + 8, extraStart + extra.length * 2, le);
        extra.push(...vals);
      }
    });
    patchNext[0].setUint32(patchNext[1], size, le);
    patchNext = [dv, ifdSize - 4];
    chunks.push(ifd);
    size += ifdSize;
    const ext = new Uint8Array(extra.length * 2);
    const ev = new DataView(ext.buffer);
    extra.forEach((v, i) => ev.setUint16(2 * i, v, le));
    chunks.push(ext);
    size += ext.length;
  });
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * A one-page 16-bit TIFF cut `cut` bytes short: the IFD right after the header, then the strip
 * at the end of the file, shorter than its StripByteCounts says.
 */
function cutTiff(page: Page, cut: number): Uint8Array {
  const le = true;
  const strip = encode(page, le);
  const entries: [number, number, number][] = [
    [256, LONG, page.width],
    [257, LONG, page.height],
    [258, SHORT, page.bits],
    [259, SHORT, 1],
    [262, SHORT, 1],
    [273, LONG, 0],
    [277, SHORT, 1],
    [278, LONG, page.height],
    [279, LONG, strip.length],
  ];
  const ifdSize = 2 + 12 * entries.length + 4;
  const stripOffset = 8 + ifdSize;
  const out = new Uint8Array(stripOffset + strip.length - cut);
  const dv = new DataView(out.buffer);
  out.set([0x49, 0x49]);
  dv.setUint16(2, 42, le);
  dv.setUint32(4, 8, le);
  dv.setUint16(8, entries.length, le);
  entries.forEach(([tag, type, v], k) => {
    const o = 10 + 12 * k;
    dv.setUint16(o, tag, le);
    dv.setUint16(o + 2, type, le);
    dv.setUint32(o + 4, 1, le);
    if (type === SHORT) dv.setUint16(o + 8, v, le);
    else dv.setUint32(o + 8, tag === 273 ? stripOffset : v, le);
  });
  out.set(strip.subarray(0, strip.length - cut), stripOffset);
  return out;
}

// ---- FITS assembly ---------------------------------------------------------------------------

/** A FITS HDU: header cards padded to 2880 bytes, then `data` padded to 2880 bytes. */
function hdu(cards: string[], data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const h = [...cards, 'END'].map((c) => c.padEnd(80, ' ')).join('');
  const out = new Uint8Array(Math.ceil(h.length / 2880) * 2880 + Math.ceil(data.length / 2880) * 2880).fill(32, 0, Math.ceil(h.length / 2880) * 2880);
  for (let i = 0; i < h.length; i++) out[i] = h.charCodeAt(i);
  out.set(data, Math.ceil(h.length / 2880) * 2880);
  return out;
}
const card = (k: string, v: string | number) => `${k.padEnd(8, ' ')}= ${String(v).padStart(20, ' ')}`;
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
/** Big-endian int16 samples. */
function int16(values: number[]): Uint8Array {
  const out = new Uint8Array(2 * values.length);
  values.forEach((v, i) => new DataView(out.buffer).setInt16(2 * i, v, false));
  return out;
}
const image16 = (extra: string[], values = [1, 2, 3, 4]) =>
  hdu([card('SIMPLE', 'T'), card('BITPIX', 16), card('NAXIS', 2), card('NAXIS1', 2), card('NAXIS2', values.length / 2), ...extra], int16(values));

/** sep_image.fits with its DATAMAX card replaced by `SATURATE = level`. */
function sepWithSaturate(level: number): Uint8Array {
  const out = sepBytes.slice();
  for (let at = 0; at < 2880 * 4; at += 80) {
    if (String.fromCharCode(...out.subarray(at, at + 8)) === 'DATAMAX ') {
      const c = card('SATURATE', level.toFixed(1)).padEnd(80, ' ');
      for (let i = 0; i < 80; i++) out[at + i] = c.charCodeAt(i);
      return out;
    }
  }
  throw new Error('sep_image.fits has no DATAMAX card');
}

// ---- star checks ------------------------------------------------------------------------------

/** The largest pixel within `r` (Chebyshev) of a detection's peak pixel. */
function maxNear(img: Image, s: DetectedStar, r: number): number {
  let m = -Infinity;
  for (let y = Math.max(0, s.peakY - r); y <= Math.min(img.height - 1, s.peakY + r); y++) {
    for (let x = Math.max(0, s.peakX - r); x <= Math.min(img.width - 1, s.peakX + r); x++) m = Math.max(m, img.data[y * img.width + x] as number);
  }
  return m;
}

/**
 * Every star with a pixel at or above `level` within 2 px of its peak is flagged saturated, and
 * none whose whole stamp (plus a pixel for the rounding of its centre) stays below; returns how
 * many are saturated.
 */
function expectSaturationFlags(img: Image, det: DetectedStar[], cat: StarCatalogue, level: number, fwhm: number): number {
  const r = stampRadius(fwhm) + 1;
  let saturated = 0;
  det.forEach((s, k) => {
    const flagged = flagNames(cat.flags[k] as number).includes('saturated');
    if (maxNear(img, s, 2) >= level) {
      expect(flagged, `star at (${s.x.toFixed(1)}, ${s.y.toFixed(1)})`).toBe(true);
      saturated++;
    } else if (maxNear(img, s, r) < level) {
      expect(flagged, `star at (${s.x.toFixed(1)}, ${s.y.toFixed(1)})`).toBe(false);
    }
  });
  return saturated;
}

// ---- tests -------------------------------------------------------------------------------------

describe('a 16-bit camera TIFF (tetra3, 1024×768, 12-bit ADC scaled by 16)', () => {
  test('reads with the values PIL/numpy give, saturation 65535 from the type', async () => {
    const img = await readImage(tetraBytes, 'tetra3_Alt40_Azi-45.tiff');
    expect([img.format, img.width, img.height, img.saturation, img.notes]).toEqual(['tiff', 1024, 768, 65535, []]);
    // numpy.array(PIL.Image.open(...)): [0, 0] = 3776, flat index 1000 = 4048; 65535 at (50, 301), (979..980, 401..402), (619..620, 721..722).
    expect(img.data[0]).toBe(3776);
    expect(img.data[1000]).toBe(4048);
    const atMax: number[] = [];
    img.data.forEach((v, i) => v === 65535 && atMax.push(i));
    expect(atMax).toEqual([301 * 1024 + 50, 401 * 1024 + 979, 401 * 1024 + 980, 402 * 1024 + 979, 402 * 1024 + 980, 721 * 1024 + 619, 721 * 1024 + 620, 722 * 1024 + 619, 722 * 1024 + 620]);
    // Every sample of a 12-bit ADC scaled by 16 is a multiple of 16 (65535 is the clip).
    expect(img.data.every((v) => v % 16 === 0 || v === 65535)).toBe(true);
  });
  test('detect → measureStars: a sensible count at 5σ, median FWHM ≈ 1.35 px, the stars at 65535 flagged saturated without a saturation option', async () => {
    const img = await readImage(tetraBytes, 'tetra3_Alt40_Azi-45.tiff');
    const fwhm = 1.35;
    const det = detectStars(img, { fwhm, threshold: 5 });
    const cat = measureStars(img, det, { fwhm, method: 'gaussian' });
    // ≈ 50 stars at 5σ by eye; detection also reports hot pixels and other artefacts, which the
    // measurement does not pass as ok.
    const fitted = Array.from(cat.fwhm).filter((_, k) => cat.status[k] === 0);
    expect(fitted.length).toBeGreaterThanOrEqual(40);
    expect(fitted.length).toBeLessThanOrEqual(90);
    expect(Math.abs(median(fitted) - 1.35)).toBeLessThan(0.1);
    expect(expectSaturationFlags(img, det, cat, 65535, fwhm)).toBeGreaterThanOrEqual(2);
    // An explicit option wins over the level the file implies.
    const none = measureStars(img, det, { fwhm, method: 'gaussian', saturation: Infinity });
    expect(Array.from(none.flags).some((f) => flagNames(f).includes('saturated'))).toBe(false);
  });
  test('measureStarsBatch on the CPU workers takes the image level too', async () => {
    const img = await readImage(tetraBytes, 'tetra3_Alt40_Azi-45.tiff');
    const det = detectStars(img, { fwhm: 1.35, threshold: 5 });
    const one = measureStars(img, det, { fwhm: 1.35, method: 'moments' });
    const batch = await measureStarsBatch(img, det, { fwhm: 1.35, method: 'moments' }, { device: 'cpu', workers: 1 });
    expect(Array.from(batch.flags)).toEqual(Array.from(one.flags));
    expect(Array.from(batch.flags).filter((f) => flagNames(f).includes('saturated')).length).toBeGreaterThanOrEqual(2);
  });
});

describe('gzip-compressed FITS', () => {
  test('a .fits.gz made from sep_image.fits reads identically to the plain file, by readImage and readFits', async () => {
    const plain = readFits(sepBytes);
    const gz = gzipSync(sepBytes);
    const viaImage = await readImage(gz, 'sep_image.fits.gz');
    expect(viaImage.format).toBe('fits.gz');
    expect(viaImage.data).toEqual(plain.data);
    expect([viaImage.width, viaImage.height, viaImage.saturation]).toEqual([plain.width, plain.height, plain.saturation]);
    expect(readFits(gz)).toEqual(plain);
    expect(readFits(gz.slice().buffer)).toEqual(plain);
  });
  test('a damaged stream and gzip of something else are named errors', async () => {
    const gz = gzipSync(sepBytes);
    expect(await failure(() => readImage(gz.subarray(0, 500)))).toMatch(/readImage: the file is gzip-compressed but its stream is damaged/);
    expect(await failure(() => readFits(gz.subarray(0, 500)))).toMatch(/FITS: the file is gzip-compressed but its stream is damaged/);
    expect(await failure(() => readImage(gzipSync(new Uint8Array([1, 2, 3, 4, 5])), 'x.gz'))).toMatch(/readImage: 'x.gz' is gzip-compressed but what it holds is not FITS \(first bytes 01 02 03 04\)/);
  });
});

describe('FITS saturation from the header', () => {
  test('sep_image.fits: DATAMAX (98528.234) — no pixel reaches it, no star flagged', () => {
    const img = readFits(sepBytes);
    expect(img.saturation).toBe(Math.fround(98528.234375));
    expect(img.data.every((v) => v < (img.saturation as number))).toBe(true);
  });
  test('SATURATE set by editing a header card flags the saturated stars, and only those', async () => {
    const level = 30000;
    const img = await readImage(sepWithSaturate(level), 'sep_saturate.fits');
    expect(img.saturation).toBe(level);
    const det = detectStars(img, { fwhm: 2.8, threshold: 5 });
    const cat = measureStars(img, det, { fwhm: 2.8 });
    // 6 stars of sep_image.fits have a pixel above 30000 (the brightest ten pixels run 46359 … 98214).
    expect(expectSaturationFlags(img, det, cat, level, 2.8)).toBeGreaterThanOrEqual(3);
    const plain = measureStars(readFits(sepBytes), det, { fwhm: 2.8 });
    expect(Array.from(plain.flags).some((f) => flagNames(f).includes('saturated'))).toBe(false);
  });
  test('the rule: SATURATE, else DATAMAX, else the integer range after BSCALE/BZERO; none for floats', () => {
    expect(readFits(image16([card('SATURATE', 1000), card('DATAMAX', 2000)])).saturation).toBe(1000);
    expect(readFits(image16([card('DATAMAX', '2.5D3')])).saturation).toBe(2500);
    expect(readFits(image16([])).saturation).toBe(32767);
    expect(readFits(image16([card('BZERO', 32768)])).saturation).toBe(65535); // unsigned 16-bit convention
    expect(readFits(image16([card('BZERO', 10), card('BSCALE', 2)])).saturation).toBe(10 + 2 * 32767);
    expect(readFits(image16([card('BSCALE', -1)])).saturation).toBe(32768); // the top of the physical range is raw −32768
    expect(readFits(image16([card('BLANK', 32767)])).saturation).toBe(32766);
    const u8 = hdu([card('SIMPLE', 'T'), card('BITPIX', 8), card('NAXIS', 2), card('NAXIS1', 2), card('NAXIS2', 1)], new Uint8Array([1, 255]));
    expect(readFits(u8).saturation).toBe(255);
    const i32 = hdu([card('SIMPLE', 'T'), card('BITPIX', 32), card('NAXIS', 2), card('NAXIS1', 1), card('NAXIS2', 1), card('BZERO', 2147483648)], new Uint8Array([0x7f, 0xff, 0xff, 0xff]));
    const u32 = readFits(i32);
    expect(u32.saturation).toBe(Math.fround(4294967295));
    expect(u32.data[0]).toBe(u32.saturation); // the top value compares equal to the level, both in float32
    const f32 = hdu([card('SIMPLE', 'T'), card('BITPIX', -32), card('NAXIS', 2), card('NAXIS1', 1), card('NAXIS2', 1)], new Uint8Array(4));
    expect(readFits(f32).saturation).toBeUndefined();
    expect(() => readFits(image16([card('SATURATE', "'high'")]))).toThrow(/SATURATE = high, not a finite number/);
  });
  test('an image saturation that is not a number is a named error; an explicit option overrides it', () => {
    const img: Image = { data: new Float32Array(64 * 64).fill(100), width: 64, height: 64, saturation: 'x' as never };
    expect(() => measureStars(img, [{ x: 32, y: 32 }])).toThrow(/measureStars: image.saturation = 'x' must be a number \(ADU\) or omitted/);
    expect(measureStars(img, [{ x: 32, y: 32 }], { saturation: 50 }).length).toBe(1);
  });
});

describe('TIFF variants', () => {
  const cases: [string, Page, number | undefined, number[]][] = [
    ['8-bit unsigned', { width: 2, height: 2, bits: 8, kind: 'u', values: [0, 7, 255, 128] }, 255, [0, 7, 255, 128]],
    ['8-bit signed', { width: 2, height: 2, bits: 8, kind: 'i', values: [-128, -1, 0, 127] }, 127, [-128, -1, 0, 127]],
    ['16-bit unsigned', { width: 2, height: 2, bits: 16, kind: 'u', values: [0, 1, 65535, 4000] }, 65535, [0, 1, 65535, 4000]],
    ['16-bit signed', { width: 2, height: 2, bits: 16, kind: 'i', values: [-32768, 5, 32767, 0] }, 32767, [-32768, 5, 32767, 0]],
    ['32-bit unsigned', { width: 2, height: 2, bits: 32, kind: 'u', values: [0, 1, 4294967295, 70000] }, Math.fround(4294967295), [0, 1, Math.fround(4294967295), 70000]],
    ['32-bit signed', { width: 2, height: 2, bits: 32, kind: 'i', values: [-5, 2147483647, 0, 1] }, Math.fround(2147483647), [-5, Math.fround(2147483647), 0, 1]],
    ['32-bit float', { width: 2, height: 2, bits: 32, kind: 'f', values: [1.5, -2.25, 0, 1e6] }, undefined, [1.5, -2.25, 0, 1e6]],
    ['64-bit float', { width: 2, height: 2, bits: 64, kind: 'f', values: [0.1, -3, 1e30, 7] }, undefined, [Math.fround(0.1), -3, Math.fround(1e30), 7]],
    ['16-bit Deflate-compressed', { width: 3, height: 2, bits: 16, kind: 'u', values: [9, 8, 7, 6, 5, 65535], compression: 8 }, 65535, [9, 8, 7, 6, 5, 65535]],
  ];
  test.each(cases)('%s: values and saturation', async (_name, page, saturation, values) => {
    const img = await readImage(tiff([page]));
    expect(img.format).toBe('tiff');
    expect([img.width, img.height]).toEqual([page.width, page.height]);
    expect(Array.from(img.data)).toEqual(values);
    expect(img.saturation).toBe(saturation);
  });
  test('big-endian (MM) reads like little-endian; geotiff\'s own writer gives the same; an ArrayBuffer reads like its bytes', async () => {
    const page: Page = { width: 3, height: 2, bits: 16, kind: 'u', values: [1, 2, 3, 65535, 5, 6] };
    const le = await readImage(tiff([page]));
    expect(Array.from((await readImage(tiff([page], false))).data)).toEqual(Array.from(le.data));
    const written = writeArrayBuffer(new Uint16Array(page.values), { width: 3, height: 2, BitsPerSample: [16], SampleFormat: [1], SamplesPerPixel: 1, PhotometricInterpretation: 1 });
    const viaWriter = await readImage(written);
    expect([Array.from(viaWriter.data), viaWriter.saturation]).toEqual([page.values, 65535]);
    expect((await readImage(tiff([page]).slice().buffer)).data).toEqual(le.data);
  });
  test('a multi-page file yields its first page, with a note; an image chain that loops back ends the count', async () => {
    const p1: Page = { width: 2, height: 1, bits: 16, kind: 'u', values: [10, 20] };
    const p2: Page = { width: 3, height: 1, bits: 8, kind: 'u', values: [1, 2, 3] };
    const img = await readImage(tiff([p1, p2]));
    expect(Array.from(img.data)).toEqual([10, 20]);
    expect(img.notes).toEqual(['TIFF: the file holds 2 images; read the first (2×1)']);
    // A chain of images that loops back on itself is counted once per image, not forever.
    const looped = tiff([p1, p2]);
    const dv = new DataView(looped.buffer);
    const second = dv.getUint32(2 + 12 * 11 + dv.getUint32(4, true), true);
    dv.setUint32(second + 2 + 12 * 11, dv.getUint32(4, true), true);
    expect((await readImage(looped)).notes).toEqual(['TIFF: the file holds 2 images; read the first (2×1)']);
  });
  test('RGB, inverted or palette grayscale, other sample types, an undecodable compression and a cut file are refused, naming the variant', async () => {
    const base = { width: 2, height: 2, kind: 'u' as const };
    const refused: [Page, RegExp][] = [
      [{ ...base, bits: 8, samples: 3, values: Array<number>(12).fill(1) }, /TIFF: image 1 \(2×2\) has 3 samples per pixel \(RGB\); batchfit measures single-sample grayscale/],
      [{ ...base, bits: 8, samples: 2, values: Array<number>(8).fill(1) }, /has 2 samples per pixel \(BlackIsZero grayscale\)/],
      [{ ...base, bits: 16, photometric: 0, values: [1, 2, 3, 4] }, /PhotometricInterpretation = 0 \(WhiteIsZero \(inverted grayscale\)\)/],
      [{ ...base, bits: 8, photometric: 3, values: [1, 2, 3, 4] }, /PhotometricInterpretation = 3 \(palette colour\)/],
      [{ ...base, bits: 12, values: [1, 2, 3, 4] }, /12-bit unsigned integer samples; batchfit reads 8\/16\/32-bit integers and 32\/64-bit floats/],
      [{ ...base, bits: 64, kind: 'i', values: [1, 2, 3, 4] }, /64-bit signed integer samples/],
      [{ ...base, bits: 16, kind: 'f', values: [1, 2, 3, 4] }, /16-bit floating point samples/],
      [{ ...base, bits: 16, compression: 34712, values: [1, 2, 3, 4] }, /TIFF: image 1 \(2×2, Compression = 34712 \(JPEG 2000\)\) could not be decoded/],
    ];
    for (const [page, message] of refused) expect(await failure(() => readImage(tiff([page]))), JSON.stringify(page)).toMatch(message);
    expect(await failure(() => readImage(cutTiff({ ...base, bits: 16, values: [1, 2, 3, 4] }, 3)))).toMatch(/TIFF: image 1 \(2×2\): its strip 1 of 1 ends at byte 130, past the end of the file \(127 bytes\): the file is cut or damaged/);
    expect(await failure(() => readImage(new Uint8Array([0x49, 0x49, 0x2a, 0, 0xff, 0xff, 0xff, 0x7f])))).toMatch(/TIFF: the file's header or first image directory cannot be read/);
  });
});

describe('FITS variants refused with the format named', () => {
  test('tile-compressed (.fz), a 1-D primary with no image extension, a cube, and a TIFF handed to readFits', async () => {
    const primary = hdu([card('SIMPLE', 'T'), card('BITPIX', 8), card('NAXIS', 0), card('EXTEND', 'T')]);
    const fz = concat(
      primary,
      hdu([
        "XTENSION= 'BINTABLE'",
        card('BITPIX', 8),
        card('NAXIS', 2),
        card('NAXIS1', 8),
        card('NAXIS2', 1),
        card('PCOUNT', 0),
        card('GCOUNT', 1),
        card('TFIELDS', 1),
        card('ZIMAGE', 'T'),
        "ZCMPTYPE= 'RICE_1  '",
        card('ZBITPIX', 16),
        card('ZNAXIS', 2),
      ], new Uint8Array(8)),
    );
    for (const read of [() => readFits(fz), () => readImage(fz, 'frame.fits.fz')]) {
      expect(await failure(read)).toMatch(/FITS: extension 1 header holds a tile-compressed image \(ZCMPTYPE = 'RICE_1', the fpack .fz format\), which batchfit does not decode; uncompress it first/);
    }
    const oneD = hdu([card('SIMPLE', 'T'), card('BITPIX', 16), card('NAXIS', 1), card('NAXIS1', 4)], int16([1, 2, 3, 4]));
    expect(await failure(() => readImage(oneD))).toMatch(/FITS: no 2-D image in the file: the primary header has NAXIS = 1 and no IMAGE extension with two axes follows/);
    // The first IMAGE extension after an empty primary is read, with its own saturation level.
    const ext = hdu(["XTENSION= 'IMAGE   '", card('BITPIX', 16), card('NAXIS', 2), card('NAXIS1', 2), card('NAXIS2', 1), card('PCOUNT', 0), card('GCOUNT', 1), card('SATURATE', 3)], int16([3, 1]));
    const fromExt = await readImage(concat(primary, ext));
    expect([Array.from(fromExt.data), fromExt.saturation]).toEqual([[3, 1], 3]);
    // SATURATE of the primary header applies to the image in the extension when that has none.
    const withLevel = hdu([card('SIMPLE', 'T'), card('BITPIX', 8), card('NAXIS', 0), card('EXTEND', 'T'), card('SATURATE', 7)]);
    const extNoLevel = hdu(["XTENSION= 'IMAGE   '", card('BITPIX', 16), card('NAXIS', 2), card('NAXIS1', 2), card('NAXIS2', 1), card('PCOUNT', 0), card('GCOUNT', 1), card('DATAMAX', 9)], int16([3, 1]));
    expect((await readImage(concat(withLevel, extNoLevel))).saturation).toBe(7);
    expect((await readImage(concat(withLevel, ext))).saturation).toBe(3);
    const cube = hdu([card('SIMPLE', 'T'), card('BITPIX', 16), card('NAXIS', 3), card('NAXIS1', 2), card('NAXIS2', 1), card('NAXIS3', 2)], int16([1, 2, 3, 4]));
    expect(await failure(() => readImage(cube))).toMatch(/FITS: primary header holds a cube of 2 planes \(NAXIS = 3, NAXIS3 = 2\); batchfit measures one 2-D image/);
    const flat = hdu([card('SIMPLE', 'T'), card('BITPIX', 16), card('NAXIS', 3), card('NAXIS1', 2), card('NAXIS2', 1), card('NAXIS3', 1)], int16([1, 2]));
    expect(Array.from((await readImage(flat)).data)).toEqual([1, 2]);
    expect(await failure(() => readImage(image16([]).map((b, i) => (i === 0 ? 0x73 : b))))).toMatch(/readImage: the file is of no format batchfit reads \(first bytes 73 49 4d 50\)/);
    const twelve = hdu([card('SIMPLE', 'T'), card('BITPIX', 12), card('NAXIS', 2), card('NAXIS1', 2), card('NAXIS2', 1)]);
    expect(await failure(() => readImage(twelve))).toMatch(/FITS: primary header has BITPIX = 12, not one of 8, 16, 32, 64, -32, -64/);
    expect(await failure(() => readFits(tetraBytes))).toMatch(/FITS: the file does not start with SIMPLE = T: it is a TIFF file \(read it with readImage\)/);
  });
  test('other files: PNG, empty, raw float32 without its size, a name that is not a string', async () => {
    expect(await failure(() => readImage(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10]), 'sky.png'))).toMatch(/readImage: 'sky.png' is a PNG file \(first bytes 89 50 4e 47\)/);
    expect(await failure(() => readImage(new Uint8Array(0)))).toMatch(/first bytes none: the file is empty/);
    expect(await failure(() => readImage(new Uint8Array(16), 'field.F32'))).toMatch(/readImage: 'field.F32' is raw float32, which has no header: its width and height/);
    const f32 = await readImage(new Float32Array([1, 2, 3, 4.5]).buffer, 'field.f32', { width: 2, height: 2 });
    expect([f32.format, Array.from(f32.data), f32.saturation]).toEqual(['f32', [1, 2, 3, 4.5], undefined]);
    expect(await failure(() => readImage(new Uint8Array(16), 3 as never))).toMatch(/readImage: name = 3 must be a string or omitted/);
    expect(await failure(() => readImage('SIMPLE' as never))).toMatch(/readImage: bytes = 'SIMPLE' must be a Uint8Array or an ArrayBuffer/);
  });
});
