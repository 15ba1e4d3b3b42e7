#!/usr/bin/env node
/** The `batchfit` command line: dispatches to one command per science. */
import { errorLine, EXIT_CODES } from './args.js';

const USAGE = `Usage: batchfit [command] [options]

Commands:
  (none)           the demo: both sciences on data shipped with the package
  autobk <file>    Larch's autobk of one spectrum, with norm/flat and χ(R); CSV and --plot SVG
  autobk-batch     autobk over many files or a series, on the GPU or all cores; Parquet/Arrow
  stars <image>    detect and measure every star of a FITS, TIFF or .f32 frame; CSV/ECSV/Parquet
  plan|run|status|merge   a job cut into shards for Slurm/Kubernetes (batchfit plan --help)
  fft-demo         the batched FFT on the GPU, checked against the CPU
Every command has --help listing its options with units and the Larch/SEP names.
${EXIT_CODES}`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    // Each command's module is loaded when it runs: the plotting library, Arrow and the worker
    // pools cost a shard or a quick command over a second of start-up otherwise.
    case undefined:
      return (await import('./demo.js')).runDemo();
    case 'autobk':
      return (await import('./autobk.js')).autobkCommand(rest);
    case 'autobk-batch':
      return (await import('./autobkBatch.js')).autobkBatchCommand(rest);
    case 'stars':
      return (await import('./stars.js')).starsCommand(rest);
    case 'plan':
      return (await import('./shard.js')).planCommand(rest);
    case 'run':
      return (await import('./shard.js')).runCommand(rest);
    case 'status':
      return (await import('./shard.js')).statusCommand(rest);
    case 'merge':
      return (await import('./shard.js')).mergeCommand(rest);
    case 'fft-demo':
      return (await import('./fftDemo.js')).fftDemo();
    case '-h':
    case '--help':
      console.log(USAGE);
      return 0;
    default:
      console.error(`batchfit: unknown command '${errorLine(command)}' (batchfit --help)`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(`batchfit: ${errorLine(e)}`);
    process.exitCode = 1;
  },
);
