/**
 * Images: row-major Float32Array, zero-based, pixel centres at integer coordinates
 * (FITS pixel coordinates are ours + 1). Readers for FITS (plain or gzip-compressed) and for the
 * raw `.f32` fixtures; `readImage` (readImage.ts) adds TIFF and picks the reader by magic bytes.
 */
import { gunzipSync } from 'fflate';

/** A frame: its pixels and size (SEP and photutils take the same as a 2-D numpy array). */
export interface Image {
  /**
   * Pixel values (ADU, after BSCALE/BZERO for FITS), row-major: pixel (x, y) at y·width + x;
   * NaN where a file marks no data (FITS BLANK).
   */
  data: Float32Array;
  /** Columns (FITS NAXIS1), a positive integer. */
  width: number;
  /** Rows (FITS NAXIS2), a positive integer; width × height = data.length. */
  height: number;
  /**
   * Pixel value (ADU, after BSCALE/BZERO) at and above which a pixel is saturated, as the file
   * states it or its type implies (see readFits and readTiff); absent when nothing says. The
   * measurement uses it when its `saturation` option is not given.
   */
  saturation?: number;
}

/** How a rejected value is shown in an error: strings quoted and cut (a message never echoes a megabyte). */
export function showValue(v: unknown): string {
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'undefined' || v === null || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return `a ${typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v}`;
}

function rangeText(lo: number, hi: number, integer: boolean, loOpen: boolean): string {
  const kind = integer ? 'an integer' : 'a number';
  if (hi === Infinity) return `${kind} ${loOpen ? '>' : '≥'} ${lo}`;
  return `${kind} in ${loOpen ? '(' : '['}${lo}, ${integer ? hi : Number(hi.toPrecision(6))}]`;
}

/**
 * An optional numeric option checked at an API boundary: undefined gives `fallback`; anything
 * but a number in the range (lo excluded when `loOpen`; hi may be Infinity, which then is not
 * accepted as a value) throws an error naming `where`, the option, the value and the range.
 */
export function numberOption(where: string, name: string, value: unknown, fallback: number, lo: number, hi: number, how: { integer?: boolean; loOpen?: boolean; required?: boolean } = {}): number {
  if (value === undefined && !how.required) return fallback;
  const integer = how.integer ?? false;
  const loOpen = how.loOpen ?? false;
  const ok = typeof value === 'number' && Number.isFinite(value) && (loOpen ? value > lo : value >= lo) && value <= hi && (!integer || Number.isInteger(value));
  if (!ok) throw new Error(`${where}: ${name} = ${showValue(value)} must be ${rangeText(lo, hi, integer, loOpen)}`);
  return value as number;
}

/** An options argument: undefined (all defaults) or an object. */
export function optionsObject<T extends object>(where: string, name: string, value: T | undefined): T | Record<string, never> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where}: ${name} = ${showValue(value)} must be an object or omitted`);
  return value;
}

/** Frames larger than this many pixels are refused before anything is allocated for them (8 GB of float32). */
export const MAX_IMAGE_PIXELS = 2 ** 31 - 1;

/**
 * The check every API boundary applies to an image before sizing anything from it: positive
 * integer width and height whose product is the length of a Float32Array `data`.
 */
export function checkImage(where: string, image: unknown): Image {
  if (typeof image !== 'object' || image === null) throw new Error(`${where}: image = ${showValue(image)} must be an object { data: Float32Array, width, height }`);
  const { data, width, height } = image as Partial<Image>;
  numberOption(where, 'image.width', width, 0, 1, MAX_IMAGE_PIXELS, { integer: true, required: true });
  numberOption(where, 'image.height', height, 0, 1, MAX_IMAGE_PIXELS, { integer: true, required: true });
  if (!(data instanceof Float32Array)) throw new Error(`${where}: image.data = ${showValue(data)} must be a Float32Array`);
  const w = width as number;
  const h = height as number;
  if (w * h !== data.length) throw new Error(`${where}: image.width × image.height = ${w}×${h} = ${w * h} pixels, but image.data holds ${data.length}`);
  return image as Image;
}

const BLOCK = 2880;
const CARD = 80;

interface Header {
  cards: Map<string, string>;
  /** Byte offset of the data unit. */
  dataStart: number;
}

function parseHeader(bytes: Uint8Array, start: number): Header {
  const cards = new Map<string, string>();
  let pos = start;
  for (;;) {
    if (pos + BLOCK > bytes.length) {
      throw new Error(`FITS: header starting at byte ${start} has no END card before the end of the file (${bytes.length} bytes)`);
    }
    for (let c = 0; c < BLOCK / CARD; c++) {
      const card = String.fromCharCode(...bytes.subarray(pos + c * CARD, pos + (c + 1) * CARD));
      const key = card.slice(0, 8).trim();
      if (key === 'END') return { cards, dataStart: pos + BLOCK };
      if (card.slice(8, 10) === '= ' && !cards.has(key)) cards.set(key, valueOf(card.slice(10)));
    }
    pos += BLOCK;
  }
}

/** The value field of a card: a quoted string (quotes removed) or the token before the comment. */
function valueOf(field: string): string {
  const t = field.trimStart();
  if (t.startsWith("'")) {
    const end = t.indexOf("'", 1);
    return (end < 0 ? t.slice(1) : t.slice(1, end)).trim();
  }
  const slash = t.indexOf('/');
  return (slash < 0 ? t : t.slice(0, slash)).trim();
}

function intKey(h: Header, key: string, where: string): number {
  const raw = h.cards.get(key);
  if (raw === undefined) throw new Error(`FITS: ${where} lacks the required keyword ${key}`);
  const v = Number(raw);
  if (!Number.isInteger(v)) throw new Error(`FITS: ${where} has ${key} = ${raw}, not an integer`);
  return v;
}

function floatKey(h: Header, key: string, fallback: number, where: string): number {
  const raw = h.cards.get(key);
  if (raw === undefined) return fallback;
  const v = Number(raw.replace(/D/i, 'E'));
  if (!Number.isFinite(v)) throw new Error(`FITS: ${where} has ${key} = ${raw}, not a finite number`);
  return v;
}

interface Layout {
  bitpix: number;
  axes: number[];
  /** Bytes of the data unit including PCOUNT heap (without padding). */
  dataBytes: number;
}

function layoutOf(h: Header, where: string): Layout {
  const bitpix = intKey(h, 'BITPIX', where);
  if (![8, 16, 32, 64, -32, -64].includes(bitpix)) throw new Error(`FITS: ${where} has BITPIX = ${bitpix}, not one of 8, 16, 32, 64, -32, -64`);
  const naxis = intKey(h, 'NAXIS', where);
  if (naxis < 0 || naxis > 999) throw new Error(`FITS: ${where} has NAXIS = ${naxis}, outside 0..999`);
  const axes: number[] = [];
  let count = naxis === 0 ? 0 : 1;
  for (let k = 1; k <= naxis; k++) {
    const n = intKey(h, `NAXIS${k}`, where);
    if (n < 0) throw new Error(`FITS: ${where} has NAXIS${k} = ${n}, negative`);
    axes.push(n);
    count *= n;
    if (count > Number.MAX_SAFE_INTEGER / 8) throw new Error(`FITS: ${where} declares an absurd data size (NAXIS${k} = ${n})`);
  }
  const pcount = h.cards.has('PCOUNT') ? intKey(h, 'PCOUNT', where) : 0;
  const gcount = h.cards.has('GCOUNT') ? intKey(h, 'GCOUNT', where) : 1;
  if (pcount < 0 || gcount < 0) throw new Error(`FITS: ${where} has PCOUNT = ${pcount}, GCOUNT = ${gcount}; both must be ≥ 0`);
  return { bitpix, axes, dataBytes: (Math.abs(bitpix) / 8) * gcount * (pcount + count) };
}

/** The bytes of a file as a Uint8Array: one given, or a view of an ArrayBuffer. */
export function byteView(where: string, bytes: unknown): Uint8Array {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  throw new Error(`${where}: bytes = ${showValue(bytes)} must be a Uint8Array or an ArrayBuffer`);
}

/** gzip's magic bytes (RFC 1952): 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** A gzip stream inflated (fflate: no Node zlib, so it runs in a browser too); a damaged stream is a named error. */
export function gunzip(where: string, bytes: Uint8Array): Uint8Array {
  try {
    return gunzipSync(bytes);
  } catch (e) {
    throw new Error(`${where}: the file is gzip-compressed but its stream is damaged (${(e as Error).message})`);
  }
}

/** What the first bytes say a non-FITS file is, for the error that refuses it ('' when unknown). */
export function otherFormat(bytes: Uint8Array): string {
  const b = (i: number) => bytes[i] ?? -1;
  if ((b(0) === 0x49 && b(1) === 0x49 && b(2) === 0x2a) || (b(0) === 0x4d && b(1) === 0x4d && b(3) === 0x2a)) return 'a TIFF file (read it with readImage)';
  if (b(0) === 0x89 && b(1) === 0x50 && b(2) === 0x4e && b(3) === 0x47) return 'a PNG file';
  if (b(0) === 0xff && b(1) === 0xd8 && b(2) === 0xff) return 'a JPEG file';
  return '';
}

/**
 * Reads the primary image, or the first IMAGE extension when the primary HDU holds no data
 * (NAXIS = 0, as many pipelines write). A gzip-compressed file (`.fits.gz`) is inflated first.
 * BITPIX 8/16/32/64/−32/−64, BSCALE/BZERO applied, BLANK → NaN, big-endian as FITS requires.
 * Extra axes of length 1 are allowed; a cube of several planes, a 1-D primary with no image
 * extension and a tile-compressed image (`.fz`) are refused with an error saying so. Every size
 * in the header is checked against the file before the pixel buffer is allocated: the whole
 * data unit (every plane) must be in the file, and the file must end where that unit ends,
 * padded or not, or continue with the next extension — a file a byte longer or shorter has its
 * data shifted.
 *
 * `saturation` is set from the header of the image read: SATURATE when present (for an
 * extension, its own or else the primary header's, where instruments that write one image per
 * extension put it), else DATAMAX (the standard's "maximum valid physical value"; some writers
 * put the data's maximum there, which then flags only the pixels at that maximum), else for
 * integer BITPIX the largest physical value the type can hold, BZERO + BSCALE·(2^(BITPIX−1) − 1)
 * (BZERO + BSCALE·255 for BITPIX 8; with BZERO = 32768 this is the unsigned 16-bit convention's
 * 65535; the other end of the range when BSCALE < 0; a BLANK value excluded); none for
 * floating-point data without either keyword. The level is rounded to float32 like the pixels,
 * so a pixel at the limit compares equal to it.
 */
export function readFits(input: Uint8Array | ArrayBuffer): Image {
  let bytes = byteView('FITS', input);
  if (isGzip(bytes)) bytes = gunzip('FITS', bytes);
  const other = otherFormat(bytes);
  if (other !== '') throw new Error(`FITS: the file does not start with SIMPLE = T: it is ${other}`);
  if (bytes.length < BLOCK) throw new Error(`FITS: file is ${bytes.length} bytes, shorter than one 2880-byte header block`);
  const magic = String.fromCharCode(...bytes.subarray(0, 30));
  if (!/^SIMPLE  =\s+T/.test(magic)) throw new Error('FITS: the file does not start with SIMPLE = T');
  let start = 0;
  let primaryAxes = 0;
  let primary: Header | undefined;
  for (let hdu = 0; start < bytes.length; hdu++) {
    const where = hdu === 0 ? 'primary header' : `extension ${hdu} header`;
    const h = parseHeader(bytes, start);
    const lay = layoutOf(h, where);
    if (hdu === 0) {
      primaryAxes = lay.axes.length;
      primary = h;
    }
    const xt = h.cards.get('XTENSION');
    if (xt === 'BINTABLE' && h.cards.get('ZIMAGE') === 'T') {
      throw new Error(
        `FITS: ${where} holds a tile-compressed image (ZCMPTYPE = '${h.cards.get('ZCMPTYPE') ?? '?'}', the fpack .fz format), which batchfit does not decode; uncompress it first (funpack, or astropy)`,
      );
    }
    const isImage = hdu === 0 || xt === 'IMAGE';
    if (isImage && lay.axes.length >= 2 && lay.dataBytes > 0) return decodeImage(bytes, h, lay, where, hdu === 0 ? undefined : primary);
    const padded = Math.ceil(lay.dataBytes / BLOCK) * BLOCK;
    if (h.dataStart + padded > bytes.length + (BLOCK - 1)) {
      throw new Error(`FITS: ${where} declares ${lay.dataBytes} data bytes but the file ends ${bytes.length - h.dataStart} bytes after the header`);
    }
    start = h.dataStart + padded;
  }
  throw new Error(`FITS: no 2-D image in the file: the primary header has NAXIS = ${primaryAxes} and no IMAGE extension with two axes follows`);
}

/** The saturation level the header states or the integer type implies (see readFits), or undefined. */
function saturationOf(h: Header, primary: Header | undefined, lay: Layout, bscale: number, bzero: number, blank: number | undefined, where: string): number | undefined {
  if (h.cards.has('SATURATE')) return Math.fround(floatKey(h, 'SATURATE', NaN, where));
  if (primary?.cards.has('SATURATE')) return Math.fround(floatKey(primary, 'SATURATE', NaN, 'primary header'));
  if (h.cards.has('DATAMAX')) return Math.fround(floatKey(h, 'DATAMAX', NaN, where));
  if (lay.bitpix < 0) return undefined;
  const bits = lay.bitpix;
  let lo = bits === 8 ? 0 : -(2 ** (bits - 1));
  let hi = bits === 8 ? 255 : 2 ** (bits - 1) - 1;
  if (blank === hi) hi -= 1;
  if (blank === lo) lo += 1;
  return Math.fround(Math.max(bzero + bscale * lo, bzero + bscale * hi));
}

function decodeImage(bytes: Uint8Array, h: Header, lay: Layout, where: string, primary: Header | undefined): Image {
  const width = lay.axes[0] ?? 0;
  const height = lay.axes[1] ?? 0;
  if (width === 0 || height === 0) throw new Error(`FITS: ${where} has an empty image (${width}×${height})`);
  if (width * height > MAX_IMAGE_PIXELS) throw new Error(`FITS: ${where} declares ${width}×${height} pixels, more than ${MAX_IMAGE_PIXELS}`);
  const bpp = Math.abs(lay.bitpix) / 8;
  const need = width * height * bpp;
  const follow = bytes.length - h.dataStart;
  if (need > follow) {
    throw new Error(`FITS: ${where} declares ${width}×${height} pixels of BITPIX ${lay.bitpix} (${need} bytes) but only ${follow} bytes follow the header`);
  }
  if (lay.dataBytes > follow) {
    const axes = lay.axes.map((n, k) => `NAXIS${k + 1} = ${n}`).join(', ');
    throw new Error(`FITS: ${where} declares a data unit of ${lay.dataBytes} bytes (${axes}) but only ${follow} bytes follow the header`);
  }
  const planes = lay.axes.slice(2).reduce((a, n) => a * n, 1);
  if (planes > 1) {
    const extra = lay.axes.slice(2).map((n, k) => `NAXIS${k + 3} = ${n}`).join(', ');
    throw new Error(`FITS: ${where} holds a cube of ${planes} planes (NAXIS = ${lay.axes.length}, ${extra}); batchfit measures one 2-D image: extract a plane first`);
  }
  const padded = Math.ceil(lay.dataBytes / BLOCK) * BLOCK;
  const next = String.fromCharCode(...bytes.subarray(h.dataStart + padded, h.dataStart + padded + 8));
  if (follow !== lay.dataBytes && follow !== padded && !(follow > padded && next === 'XTENSION')) {
    throw new Error(`FITS: ${where}: the data unit of ${lay.dataBytes} bytes (${padded} padded) is followed by ${follow - lay.dataBytes} more bytes that are neither its 2880-byte padding nor an extension: the file is cut or has bytes inserted or removed`);
  }
  const bscale = floatKey(h, 'BSCALE', 1, where);
  if (bscale === 0) throw new Error(`FITS: ${where} has BSCALE = 0, which maps every pixel to BZERO; BSCALE must be a non-zero finite number`);
  const bzero = floatKey(h, 'BZERO', 0, where);
  const blank = lay.bitpix > 0 && h.cards.has('BLANK') ? intKey(h, 'BLANK', where) : undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset + h.dataStart, need);
  const n = width * height;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let raw: number;
    switch (lay.bitpix) {
      case 8: raw = view.getUint8(i); break;
      case 16: raw = view.getInt16(2 * i, false); break;
      case 32: raw = view.getInt32(4 * i, false); break;
      case 64: raw = Number(view.getBigInt64(8 * i, false)); break;
      case -32: raw = view.getFloat32(4 * i, false); break;
      default: raw = view.getFloat64(8 * i, false);
    }
    data[i] = raw === blank ? NaN : bzero + bscale * raw;
  }
  const saturation = saturationOf(h, primary, lay, bscale, bzero, blank, where);
  return saturation === undefined ? { data, width, height } : { data, width, height, saturation };
}

/**
 * The raw fixtures: little-endian float32, row-major, `width·height` values and nothing else.
 * `meta` is the companion JSON (only `width` and `height` are read).
 */
export function readF32(input: Uint8Array | ArrayBuffer, meta: { width: number; height: number }): Image {
  const bytes = byteView('f32', input);
  if (typeof meta !== 'object' || meta === null) throw new Error(`f32: meta = ${showValue(meta)} must be an object { width, height }`);
  const { width, height } = meta;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`f32: width = ${String(width)} and height = ${String(height)} must be positive integers`);
  }
  if (bytes.length !== 4 * width * height) {
    throw new Error(`f32: ${width}×${height} needs ${4 * width * height} bytes, the file has ${bytes.length}`);
  }
  const data = new Float32Array(width * height);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(4 * i, true);
  return { data, width, height };
}
