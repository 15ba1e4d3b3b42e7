/**
 * TIFF frames (camera images) through the `geotiff` package, which decodes the strips and tiles
 * of every common compression in a browser as in Node. Only single-sample grayscale is a star
 * frame; everything else is refused with the variant named.
 */
import { fromArrayBuffer } from 'geotiff';
import { MAX_IMAGE_PIXELS, type Image } from './image.js';

/** TIFF Compression tag values, for messages. */
const COMPRESSION_NAMES: Record<number, string> = {
  1: 'none',
  2: 'CCITT RLE',
  3: 'CCITT fax 3',
  4: 'CCITT fax 4',
  5: 'LZW',
  6: 'old-style JPEG',
  7: 'JPEG',
  8: 'Deflate',
  32773: 'PackBits',
  32946: 'Deflate',
  34712: 'JPEG 2000',
  34887: 'LERC',
  34925: 'LZMA',
  50000: 'Zstandard',
  50001: 'WebP',
};

const PHOTOMETRIC_NAMES: Record<number, string> = {
  0: 'WhiteIsZero (inverted grayscale)',
  1: 'BlackIsZero grayscale',
  2: 'RGB',
  3: 'palette colour',
  4: 'transparency mask',
  5: 'CMYK',
  6: 'YCbCr',
  8: 'CIELab',
};

const SAMPLE_FORMAT_NAMES: Record<number, string> = { 1: 'unsigned integer', 2: 'signed integer', 3: 'floating point', 4: 'undefined' };

/** The TIFF's first image and the notes about what was left out (further pages). */
export interface TiffRead {
  /** The first image, as float32, with `saturation` the integer type's largest value (none for floats). */
  image: Image;
  /** What was left out, for the user to see: further pages of a multi-page file; empty otherwise. */
  notes: string[];
}

/** The file as an ArrayBuffer of its own, as geotiff reads it (a view's buffer may hold more). */
function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  return bytes.slice().buffer;
}

/**
 * How many images (IFDs) the file chains, walked here because geotiff's own count never returns
 * on a chain that loops back on itself; a loop or a pointer out of the file ends the count.
 */
function imageCount(bytes: Uint8Array): number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = bytes[0] === 0x49;
  const big = dv.getUint16(2, le) === 43;
  const at = (o: number) => (big ? Number(dv.getBigUint64(o, le)) : dv.getUint32(o, le));
  const seen = new Set<number>();
  let ifd = at(big ? 8 : 4);
  while (ifd !== 0 && !seen.has(ifd) && ifd + (big ? 8 : 2) <= bytes.length) {
    seen.add(ifd);
    const entries = big ? Number(dv.getBigUint64(ifd, le)) : dv.getUint16(ifd, le);
    const next = ifd + (big ? 8 + 20 * entries : 2 + 12 * entries);
    if (next + (big ? 8 : 4) > bytes.length) break;
    ifd = at(next);
  }
  return seen.size;
}

/** The first image's directory as geotiff parses it, every value this reader checks. */
async function directory(bytes: Uint8Array) {
  const tiff = await fromArrayBuffer(ownBuffer(bytes));
  const first = await tiff.getImage(0);
  const dir = first.getFileDirectory();
  const tiled = !dir.hasTag('StripOffsets');
  const list = (v: unknown): number[] => (typeof v === 'number' ? [v] : Array.from((v ?? []) as ArrayLike<number>));
  return {
    first,
    count: imageCount(bytes),
    width: first.getWidth(),
    height: first.getHeight(),
    samples: first.getSamplesPerPixel(),
    bits: first.getBitsPerSample(0),
    format: first.getSampleFormat(0),
    photometric: (await dir.loadValue('PhotometricInterpretation')) as number | undefined,
    compression: ((await dir.loadValue('Compression')) as number | undefined) ?? 1,
    planar: (await dir.loadValue('PlanarConfiguration')) as number | undefined,
    tiled,
    offsets: list(await dir.loadValue(tiled ? 'TileOffsets' : 'StripOffsets')),
    counts: list(await dir.loadValue(tiled ? 'TileByteCounts' : 'StripByteCounts')),
  };
}

/**
 * Reads the first image of a TIFF (or BigTIFF): one sample per pixel, BlackIsZero (or no
 * PhotometricInterpretation), unsigned or signed integers of 8, 16 or 32 bits, or floats of 32
 * or 64 bits, any compression geotiff decodes (none, LZW, Deflate, PackBits, JPEG, LERC,
 * Zstandard). A multi-page file yields its first page with a note. `saturation` is the type's
 * largest value for integers (65535 for 16 bits; the tetra3 camera frame, 12-bit ADC values
 * scaled by 16, clips saturated pixels to 65535, but a camera whose top code is 4095·16 = 65520
 * needs the measurement's saturation option); none for floats.
 */
export async function readTiff(bytes: Uint8Array): Promise<TiffRead> {
  let d: Awaited<ReturnType<typeof directory>>;
  try {
    d = await directory(bytes);
  } catch (e) {
    throw new Error(`TIFF: the file's header or first image directory cannot be read (${(e as Error).message})`);
  }
  const { first, width, height, samples, photometric, compression, planar, bits, format, tiled, offsets, counts } = d;
  const what = `TIFF: image 1 (${width}×${height}`;
  if (samples !== 1) {
    const kind = photometric !== undefined && PHOTOMETRIC_NAMES[photometric] ? PHOTOMETRIC_NAMES[photometric] : `PhotometricInterpretation = ${String(photometric)}`;
    throw new Error(`${what}) has ${samples} samples per pixel (${kind}${planar === 2 ? ', planar' : ''}); batchfit measures single-sample grayscale frames: convert it to one plane first`);
  }
  if (photometric !== undefined && photometric !== 1) {
    throw new Error(`${what}) has PhotometricInterpretation = ${photometric} (${PHOTOMETRIC_NAMES[photometric] ?? 'unknown'}); batchfit reads BlackIsZero grayscale`);
  }
  const integer = format === 1 || format === 2;
  const supported = (integer && (bits === 8 || bits === 16 || bits === 32)) || (format === 3 && (bits === 32 || bits === 64));
  if (!supported) {
    throw new Error(`${what}) has ${bits}-bit ${SAMPLE_FORMAT_NAMES[format] ?? `SampleFormat ${format}`} samples; batchfit reads 8/16/32-bit integers and 32/64-bit floats`);
  }
  if (!(width >= 1 && height >= 1) || width * height > MAX_IMAGE_PIXELS) {
    throw new Error(`${what}) must have at least one pixel and at most ${MAX_IMAGE_PIXELS}`);
  }
  const part = tiled ? 'tile' : 'strip';
  if (counts.length !== offsets.length) throw new Error(`${what}) lists ${offsets.length} ${part} offsets but ${counts.length} byte counts: its directory is damaged`);
  // A strip or tile past the end of a cut file would decode short or as zeros: refused first.
  for (let k = 0; k < offsets.length; k++) {
    const end = Number(offsets[k]) + Number(counts[k]);
    if (!(end <= bytes.length)) {
      throw new Error(`${what}): its ${part} ${k + 1} of ${offsets.length} ends at byte ${end}, past the end of the file (${bytes.length} bytes): the file is cut or damaged`);
    }
  }
  let raster: ArrayLike<number>;
  try {
    raster = await first.readRasters({ interleave: true });
  } catch (e) {
    throw new Error(`${what}, Compression = ${compression} (${COMPRESSION_NAMES[compression] ?? 'unknown'})) could not be decoded: ${(e as Error).message}`);
  }
  const data = Float32Array.from(raster);
  const notes = d.count > 1 ? [`TIFF: the file holds ${d.count} images; read the first (${width}×${height})`] : [];
  if (format === 3) return { image: { data, width, height }, notes };
  const saturation = format === 1 ? 2 ** bits - 1 : 2 ** (bits - 1) - 1;
  return { image: { data, width, height, saturation: Math.fround(saturation) }, notes };
}
