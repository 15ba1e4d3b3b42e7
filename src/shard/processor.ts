/**
 * What a shard does with its items, behind one small interface so that the shard machinery
 * (manifest, markers, atomic output, status, merge) knows nothing of XAFS or of file formats:
 * count the items of an input when planning; process one shard's items into one output file;
 * concatenate finished outputs in manifest order.
 */
import type { JsonValue, ShardManifest, ShardPlan } from './manifest.js';

/** Everything a processor gets for one shard. */
export interface ShardJob {
  manifest: ShardManifest;
  manifestPath: string;
  shard: ShardPlan;
  /**
   * The bytes of input `i` (an index into manifest.inputs), read when asked for and checked
   * against the manifest's size and SHA-256; throws ShardInputError when they cannot be read
   * or differ. Processors read one input at a time so a shard holds one file, not all of them.
   */
  readInput(i: number): Uint8Array;
  /** Where to write the shard's output (a temporary name: the caller renames it when complete). */
  outPath: string;
  device: 'auto' | 'gpu' | 'cpu';
  /** CPU worker threads (default: all cores). */
  workers?: number;
  /** Progress and notices, one line each (the shard's log). */
  log(line: string): void;
}

/** What a shard produced, for its done marker. */
export interface ShardCounts {
  items: number;
  /** Items per status name (every item has exactly one). */
  statuses: Record<string, number>;
  /** Items whose status counts as failed (they are rows of the output all the same). */
  failed: number;
  /** Where the work ran ('gpu', 'cpu'). */
  device: string;
}

/** One kind of job: how its inputs are counted, its shards processed and their outputs merged. */
export interface ShardProcessor {
  /** The name stored in manifests (`manifest.processor`). */
  readonly name: string;
  /** File name ending of a shard's and a merged output ('.arrow'). */
  readonly extension: string;
  /** Checks the job's options at planning time and returns them as stored (defaults filled in). */
  checkOptions(options: { [key: string]: JsonValue }): { [key: string]: JsonValue };
  /** Items in one input (planning); throws an error naming the file when it cannot be used. */
  countItems(bytes: Uint8Array, path: string, options: { [key: string]: JsonValue }): number | Promise<number>;
  /** Processes one shard into job.outPath; per-item failures are rows, never a thrown error. */
  process(job: ShardJob): Promise<ShardCounts>;
  /** Writes the concatenation of `parts` (finished shard outputs, in manifest order) to outPath; returns its row count. */
  merge(parts: readonly string[], outPath: string, manifest: ShardManifest): Promise<number>;
}
