/**
 * One entry point for every frame format: the reader is chosen from the file's first bytes
 * (the name only for raw float32, which has none), so a renamed or extension-less file is read
 * by what it is. Uses no Node module or global: it runs in a browser as in Node.
 */
import { byteView, gunzip, isGzip, otherFormat, readF32, readFits, showValue, type Image } from './image.js';
import { readTiff } from './tiff.js';

/** The format readImage found: FITS, gzip-compressed FITS, TIFF (or BigTIFF), or raw little-endian float32. */
export type ImageFormat = 'fits' | 'fits.gz' | 'tiff' | 'f32';

/** A frame as read: the image (with `saturation` when the file states or implies one) and how. */
export interface ImageFile extends Image {
  /** Which reader read it, from the file's first bytes (or the `.f32` name). */
  format: ImageFormat;
  /** What the reader chose without failing, for the user to see (e.g. the first page of several). */
  notes: string[];
}

function startsWith(bytes: Uint8Array, sig: number[]): boolean {
  return sig.every((v, i) => bytes[i] === v);
}

/** TIFF (II*\0, MM\0*) and BigTIFF (II+\0, MM\0+), which geotiff reads alike. */
function isTiff(bytes: Uint8Array): boolean {
  return [
    [0x49, 0x49, 0x2a, 0x00],
    [0x4d, 0x4d, 0x00, 0x2a],
    [0x49, 0x49, 0x2b, 0x00],
    [0x4d, 0x4d, 0x00, 0x2b],
  ].some((sig) => startsWith(bytes, sig));
}

const isFits = (bytes: Uint8Array) => String.fromCharCode(...bytes.subarray(0, 9)) === 'SIMPLE  =';

/**
 * Reads a frame from its bytes: FITS ('SIMPLE  ='), gzip-compressed FITS (1f 8b, inflated with
 * fflate), TIFF or BigTIFF (II*, MM*; see readTiff), or, when `name` ends in `.f32`, raw
 * little-endian float32 of `meta.width × meta.height`. `name` is only used to recognise `.f32`
 * and in messages. Anything else is an error naming what the first bytes are.
 */
export async function readImage(input: Uint8Array | ArrayBuffer, name?: string, meta?: { width: number; height: number }): Promise<ImageFile> {
  const bytes = byteView('readImage', input);
  if (name !== undefined && typeof name !== 'string') throw new Error(`readImage: name = ${showValue(name)} must be a string or omitted`);
  if (name !== undefined && name.toLowerCase().endsWith('.f32')) {
    if (meta === undefined) throw new Error(`readImage: ${showValue(name)} is raw float32, which has no header: its width and height (the .json companion) must be given`);
    return { ...readF32(bytes, meta), format: 'f32', notes: [] };
  }
  if (isFits(bytes)) return { ...readFits(bytes), format: 'fits', notes: [] };
  if (isTiff(bytes)) {
    const { image, notes } = await readTiff(bytes);
    return { ...image, format: 'tiff', notes };
  }
  if (isGzip(bytes)) {
    const inner = gunzip('readImage', bytes);
    if (!isFits(inner)) throw new Error(`readImage: ${name === undefined ? 'the file' : showValue(name)} is gzip-compressed but what it holds is not FITS (first bytes ${hex(inner)})`);
    return { ...readFits(inner), format: 'fits.gz', notes: [] };
  }
  const other = otherFormat(bytes);
  throw new Error(
    `readImage: ${name === undefined ? 'the file' : showValue(name)} is ${other === '' ? 'of no format batchfit reads' : other} (first bytes ${hex(bytes)}): it reads FITS ('SIMPLE  ='), gzip-compressed FITS (1f 8b), TIFF (49 49 2a 00 or 4d 4d 00 2a), and raw float32 named *.f32 with its width and height`,
  );
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ') || 'none: the file is empty';
}
