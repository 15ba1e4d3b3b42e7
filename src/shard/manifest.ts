/**
 * The shard manifest: what a sharded run is (inputs with sizes and SHA-256 checksums, the job's
 * options, the batchfit version, the shards as item ranges) in one JSON file that every shard
 * reads. Nothing in it depends on when or where it was planned, so planning the same inputs with
 * the same options gives the same bytes and the same hash; the hash ties every shard's output
 * and done marker to the manifest that produced it.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';

/** The manifest's own format name, checked when one is read. */
export const MANIFEST_FORMAT = 'batchfit-shards/1';

/**
 * Default shard size: 500 000 items (spectra). On the CPU path AUTOBK of the 645-point Ru series
 * from text files costs ~42 CPU-seconds per 10⁵ spectra (parsing, checksums and the Arrow output
 * included), so such a shard takes a few minutes on 4 cores: long enough that scheduling and
 * start-up (Node, worker threads, the GPU device and its self-test: 1–2 s) are lost in it.
 */
export const DEFAULT_ITEMS_PER_SHARD = 500_000;
/** …and at most 1 GiB of input per shard (an input file is read whole by each shard that needs it). */
export const DEFAULT_BYTES_PER_SHARD = 2 ** 30;
/** The most shards a manifest may have (Slurm's default MaxArraySize is 1001; Kubernetes Indexed Jobs allow 10⁵). */
export const MAX_SHARDS = 100_000;

/** One input file: its path relative to the manifest's folder, size, checksum and item count. */
export interface ManifestInput {
  path: string;
  bytes: number;
  sha256: string;
  /** Items (spectra) in the file, in the order they are numbered. */
  items: number;
}

/** A run of items of one input: items first … first + count − 1 of inputs[input]. */
export interface ShardSegment {
  input: number;
  first: number;
  count: number;
}

/** One shard: items item … item + items − 1 of the whole job, as segments of its inputs. */
export interface ShardPlan {
  index: number;
  /** Job-wide index of the shard's first item. */
  item: number;
  items: number;
  segments: ShardSegment[];
}

/** Options a processor stores in the manifest: plain JSON. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A planned job: what every shard of it reads (see the file's comment). */
export interface ShardManifest {
  format: typeof MANIFEST_FORMAT;
  /** batchfit's version (package.json) that planned the job; shards refuse to run under another. */
  batchfit: string;
  /** The processor that runs the shards (its `name`). */
  processor: string;
  options: { [key: string]: JsonValue };
  inputs: ManifestInput[];
  items: number;
  shardCount: number;
  shards: ShardPlan[];
  /** Folder of the shard outputs and markers, relative to the manifest's folder. */
  output: string;
  /** SHA-256 (hex) of the canonical JSON of every field above. */
  hash: string;
}

/** The version in batchfit's package.json (two levels above this module in src/ and in dist/). */
export function batchfitVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string') throw new Error('batchfit package.json has no version');
  return pkg.version;
}

/** JSON with object keys sorted at every level: one text per value, whatever the insertion order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new RangeError(`manifest value ${value} is not finite`);
  return JSON.stringify(value);
}

/** SHA-256 of bytes or a UTF-8 string, as 64 hex digits. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The hash of a manifest: SHA-256 of the canonical JSON of everything but `hash`. */
export function manifestHash(m: Omit<ShardManifest, 'hash'> & { hash?: string }): string {
  const { hash: _hash, ...rest } = m;
  return sha256Hex(canonicalJson(rest));
}

/** Shard count for a job of `items` items in `bytes` bytes: enough shards that none exceeds either default size. */
export function defaultShardCount(items: number, bytes: number): number {
  return Math.max(1, Math.min(items, MAX_SHARDS, Math.max(Math.ceil(items / DEFAULT_ITEMS_PER_SHARD), Math.ceil(bytes / DEFAULT_BYTES_PER_SHARD))));
}

/**
 * Cuts items 0 … Σ itemCounts − 1 (input after input, in order) into `shardCount` contiguous
 * ranges whose sizes differ by at most one (the first ones take the remainder). A pure function
 * of its arguments: the same counts give the same shards.
 */
export function planShards(itemCounts: readonly number[], shardCount: number): ShardPlan[] {
  for (const [i, n] of itemCounts.entries()) {
    if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`planShards: input ${i} has ${n} items, not a count`);
  }
  const total = itemCounts.reduce((a, b) => a + b, 0);
  if (total === 0) throw new RangeError('planShards: the inputs hold no items');
  if (!(Number.isInteger(shardCount) && shardCount >= 1 && shardCount <= Math.min(total, MAX_SHARDS))) {
    throw new RangeError(`planShards: shards = ${shardCount} must be an integer in [1, ${Math.min(total, MAX_SHARDS)}] (${total} items)`);
  }
  const base = Math.floor(total / shardCount);
  const extra = total % shardCount;
  const shards: ShardPlan[] = [];
  let input = 0;
  let within = 0; // items of `input` already given to earlier shards
  let item = 0;
  for (let s = 0; s < shardCount; s++) {
    const items = base + (s < extra ? 1 : 0);
    const segments: ShardSegment[] = [];
    let left = items;
    while (left > 0) {
      const avail = itemCounts[input]! - within;
      if (avail === 0) {
        input++;
        within = 0;
        continue;
      }
      const take = Math.min(avail, left);
      segments.push({ input, first: within, count: take });
      within += take;
      left -= take;
    }
    shards.push({ index: s, item, items, segments });
    item += items;
  }
  return shards;
}

/** A path as stored in a manifest: relative to the manifest's folder, with forward slashes. */
export function manifestRelative(manifestPath: string, path: string): string {
  const rel = relative(dirname(resolve(manifestPath)), resolve(path));
  return rel.split(sep).join('/');
}

/** A manifest-relative path resolved against the manifest's folder. */
export function resolveFromManifest(manifestPath: string, path: string): string {
  return isAbsolute(path) ? path : resolve(dirname(resolve(manifestPath)), path);
}

/** Builds a manifest (hash included) from its parts. */
export function makeManifest(parts: Omit<ShardManifest, 'hash' | 'format' | 'batchfit' | 'items' | 'shardCount'> & { batchfit?: string }): ShardManifest {
  const items = parts.inputs.reduce((a, f) => a + f.items, 0);
  const body: Omit<ShardManifest, 'hash'> = {
    format: MANIFEST_FORMAT,
    batchfit: parts.batchfit ?? batchfitVersion(),
    processor: parts.processor,
    options: parts.options,
    inputs: parts.inputs,
    items,
    shardCount: parts.shards.length,
    shards: parts.shards,
    output: parts.output,
  };
  return { ...body, hash: manifestHash(body) };
}

/** The manifest's JSON text (2-space indent, fixed key order, trailing newline). */
export function manifestText(m: ShardManifest): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

/**
 * Reads and checks a manifest: its format, its hash (an edited manifest no longer matches the
 * shards made from it) and, unless `anyVersion`, that this batchfit is the version that planned
 * it (shards of one job must run the same code, or merged results would mix two versions).
 */
export function readManifest(path: string, options: { anyVersion?: boolean } = {}): ShardManifest {
  let m: ShardManifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as ShardManifest;
  } catch (e) {
    throw new ShardInputError(`manifest ${path} cannot be read: ${(e as Error).message}`);
  }
  if (m === null || typeof m !== 'object' || m.format !== MANIFEST_FORMAT) {
    throw new ShardInputError(`manifest ${path}: format = ${JSON.stringify((m as { format?: unknown } | null)?.format)} is not '${MANIFEST_FORMAT}'`);
  }
  const want = manifestHash(m);
  if (m.hash !== want) throw new ShardInputError(`manifest ${path}: hash ${m.hash} does not match its contents (${want}): it was edited after planning`);
  if (!options.anyVersion) {
    const here = batchfitVersion();
    if (m.batchfit !== here) throw new ShardInputError(`manifest ${path} was planned with batchfit ${m.batchfit}, this is batchfit ${here}: run every shard of a job with one version`);
  }
  return m;
}

/** A shard's input (or its manifest) is missing, changed or unreadable: the one way a shard fails. */
export class ShardInputError extends Error {
  override name = 'ShardInputError';
}
