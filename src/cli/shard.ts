/**
 * `batchfit plan | run | status | merge`: a job cut into shards that Slurm job arrays, Kubernetes
 * Indexed Jobs or a shell loop run independently (src/shard). plan writes the manifest; run
 * processes one shard (index from --shard, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX); status
 * lists done, missing, failed and corrupt shards; merge concatenates them in manifest order.
 */
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import type { AutobkOptions } from '../xafs/autobk.js';
import { readManifest, ShardInputError, type JsonValue } from '../shard/manifest.js';
import { mergeShards, planJob, runShard, shardIndexFrom, shardStatus, statusLines } from '../shard/run.js';
import { choiceArg, columnArg, numberArg, parseCommand, reportError, UsageError } from './args.js';

const SHARD_EXIT = `
Exit status:
  0  done (run: the shard was processed or was already done; per-spectrum failures are rows
     with status 'error' and never fail a shard)
  1  run: the shard's input could not be read or changed since planning (a .failed.json record
     says which); status: some shard is not done; merge: some shard is not done
  2  usage or input error: an unknown option, a value outside its range, an unreadable or edited
     manifest, an output that exists (give --force)`;

/** Any error before the work starts (options, manifest, paths) is the command line's: exit 2. */
function asUsage(e: unknown): unknown {
  return e instanceof RangeError || e instanceof TypeError || e instanceof ShardInputError ? new UsageError((e as Error).message) : e;
}

async function guarded(name: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    return reportError(name, e);
  }
}

/** `batchfit plan <inputs…> --manifest m.json [--shards N] [fit options]` */
export function planCommand(argv: string[]): Promise<number> {
  return guarded('batchfit plan', async () => {
    const fit: AutobkOptions = {};
    const cmd = new Command('batchfit plan')
      .description('Write the manifest of a sharded AUTOBK job: every input with its size, SHA-256 and spectrum count, the fit options, the batchfit version and the shards (contiguous runs of spectra). The same inputs and options give the same manifest.')
      .argument('<inputs...>', "input files, in the order their spectra are numbered (a shell glob expands sorted)")
      .requiredOption('--manifest <file>', 'the manifest to write (JSON); paths in it are relative to its folder')
      .option('--shards <n>', 'shard count (default: one per 500 000 spectra or 1 GiB of input, at least 1)', numberArg('--shards', { min: 1, max: 100_000, integer: true }))
      .option('--layout <kind>', "'series': each file is the energy plus one μ column per spectrum; 'spectra': one spectrum per file; 'hdf5': HDF5/NeXus files (a 2-D dataset is a series, a 3-D one a map)", choiceArg('--layout', ['series', 'spectra', 'hdf5'] as const), 'series')
      .option('--energy <col>', "energy column: a 1-based number or a label (default 1); 'hdf5': the energy dataset's path (eV)")
      .option('--mu <expr>', "'spectra': μ as a column or an expression over c1…cN/labels, as batchfit autobk --mu; 'hdf5' (required): a dataset path or an expression over --signal names")
      .option('--signal <name=path>', "'hdf5': a name for a dataset used in --mu (repeat: --signal i0=/entry/i0 --signal it=/entry/it)", (v: string, prev: Record<string, string> = {}) => {
        const m = /^([A-Za-z_]\w*)=(\S+)$/.exec(v);
        if (m === null) throw new UsageError(`--signal = '${v.slice(0, 60)}' must be name=/dataset/path`);
        return { ...prev, [m[1]!]: m[2]! };
      })
      .option('--energy-axis <axis>', "'hdf5': which axis of a 2-D/3-D dataset is energy, 'first' or 'last' (default: the one whose length is the energy grid's)", choiceArg('--energy-axis', ['first', 'last'] as const))
      .option('--output <dir>', "folder of the shard outputs and markers, relative to the manifest (default '<manifest name>.shards')")
      .option('--force', 'replace an existing manifest that differs (a running job would then no longer match it)');
    // Imported here: autobk.ts loads vega for its plots, which run, status and merge never need.
    const { addAutobkOptions } = await import('./autobk.js');
    addAutobkOptions(cmd, fit);
    cmd.addHelpText('after', SHARD_EXIT);
    if (!parseCommand(cmd, argv)) return 0;
    const o = cmd.opts<{ manifest: string; shards?: number; layout: 'series' | 'spectra' | 'hdf5'; energy?: string; mu?: string; signal?: Record<string, string>; energyAxis?: 'first' | 'last'; output?: string; force?: boolean }>();
    // In an HDF5 file the energy is a dataset's path, even one named by digits.
    const energy = o.energy === undefined ? 1 : o.layout === 'hdf5' ? o.energy : columnArg(o.energy);
    try {
      const m = await planJob({
        inputs: cmd.args,
        manifestPath: o.manifest,
        options: {
          layout: o.layout,
          energy,
          ...(o.mu === undefined ? {} : { mu: o.mu }),
          ...(o.signal === undefined ? {} : { signals: o.signal }),
          ...(o.energyAxis === undefined ? {} : { energyAxis: o.energyAxis }),
          fit: fit as unknown as JsonValue,
        },
        ...(o.shards === undefined ? {} : { shards: o.shards }),
        ...(o.output === undefined ? {} : { output: o.output }),
        force: o.force === true,
      });
      console.log(`${o.manifest}: ${m.items} spectra in ${m.inputs.length} file${m.inputs.length > 1 ? 's' : ''} → ${m.shardCount} shard${m.shardCount > 1 ? 's' : ''} of ${Math.floor(m.items / m.shardCount)}–${Math.ceil(m.items / m.shardCount)} (manifest ${m.hash.slice(0, 12)}…, batchfit ${m.batchfit})`);
      console.log(`next: batchfit run --manifest ${o.manifest} --shard 0 … ${m.shardCount - 1}  (or: sbatch --array=0-${m.shardCount - 1} deploy/slurm/batchfit-array.sbatch ${o.manifest})`);
      return 0;
    } catch (e) {
      throw asUsage(e);
    }
  });
}

/** A command on an existing manifest: --manifest and the exit-status help that all of them share. */
function manifestCommand(name: string, description: string): Command {
  return new Command(name).description(description).requiredOption('--manifest <file>', 'the manifest written by batchfit plan').addHelpText('after', SHARD_EXIT);
}

/** `batchfit run --manifest m.json [--shard I]` */
export function runCommand(argv: string[]): Promise<number> {
  return guarded('batchfit run', async () => {
    const cmd = manifestCommand(
      'batchfit run',
      'Process one shard of a manifest: its output is written under a temporary name and renamed when complete, then a done marker; a shard already done (marker and output checksum match) is skipped.',
    )
      .option('--shard <i>', 'shard index, 0-based (default: $SLURM_ARRAY_TASK_ID, else $JOB_COMPLETION_INDEX)')
      .option('--device <d>', "'auto' (a hardware GPU, else all CPU cores), 'gpu' or 'cpu'", choiceArg('--device', ['auto', 'gpu', 'cpu'] as const), 'auto')
      .option('--workers <n>', 'CPU worker threads (default: all cores; 0: this thread)', numberArg('--workers', { min: 0, max: 1024, integer: true }))
      .option('--force', 'run even when the shard is already done');
    if (!parseCommand(cmd, argv)) return 0;
    const o = cmd.opts<{ manifest: string; shard?: string; device: 'auto' | 'gpu' | 'cpu'; workers?: number; force?: boolean }>();
    let index: number;
    try {
      index = shardIndexFrom(o.shard, process.env, readManifest(o.manifest).shardCount);
    } catch (e) {
      throw asUsage(e);
    }
    const r = await runShard(o.manifest, index, { device: o.device, ...(o.workers === undefined ? {} : { workers: o.workers }), force: o.force === true });
    return r.outcome === 'failed' ? 1 : 0;
  });
}

/** `batchfit status --manifest m.json [--json]` */
export function statusCommand(argv: string[]): Promise<number> {
  return guarded('batchfit status', async () => {
    const cmd = manifestCommand(
      'batchfit status',
      'List the shards of a manifest that are not done (missing, failed, corrupt: an output whose size or SHA-256 differs from its marker) and the totals; every done output is checksummed.',
    )
      .option('--json', 'print the status as JSON (every shard with its state and detail)');
    if (!parseCommand(cmd, argv)) return 0;
    const o = cmd.opts<{ manifest: string; json?: boolean }>();
    let st;
    try {
      st = await shardStatus(o.manifest);
    } catch (e) {
      throw asUsage(e);
    }
    if (o.json) {
      console.log(JSON.stringify({ manifest: st.manifest.hash, shardCount: st.manifest.shardCount, counts: st.counts, items: st.items, shards: st.shards.map(({ index, state, detail }) => ({ index, state, detail })) }, null, 2));
    } else {
      for (const line of statusLines(st)) console.log(line);
    }
    return st.counts.done === st.manifest.shardCount ? 0 : 1;
  });
}

/** `batchfit merge --manifest m.json --out merged.arrow [--force]` */
export function mergeCommand(argv: string[]): Promise<number> {
  return guarded('batchfit merge', async () => {
    const cmd = manifestCommand(
      'batchfit merge',
      'Check that every shard is done (checksums verified) and concatenate their rows in manifest order into one Arrow IPC file (pyarrow: pyarrow.ipc.open_file(path).read_all()).',
    )
      .requiredOption('--out <file>', 'the merged file (.arrow)')
      .option('--force', 'replace --out if it exists');
    if (!parseCommand(cmd, argv)) return 0;
    const o = cmd.opts<{ manifest: string; out: string; force?: boolean }>();
    if (!existsSync(o.manifest)) throw new UsageError(`--manifest ${o.manifest} does not exist`);
    if (!o.force && existsSync(o.out)) throw new UsageError(`${o.out} exists: give --force to overwrite, or another --out`);
    // The manifest must be readable and unedited (exit 2); shards not done are exit 1.
    try {
      readManifest(o.manifest, { anyVersion: true });
    } catch (e) {
      throw asUsage(e);
    }
    const t0 = performance.now();
    const { rows, status } = await mergeShards(o.manifest, o.out, { force: o.force === true });
    console.log(`${o.out}: ${rows} rows from ${status.manifest.shardCount} shards in manifest order (${status.items.ok} ok, ${status.items.failed} failed), ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  });
}
