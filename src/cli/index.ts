#!/usr/bin/env node
/** The `batchfit` command line: dispatches to one command per science. */
import { errorLine } from './args.js';
import { autobkCommand } from './autobk.js';
import { autobkBatchCommand } from './autobkBatch.js';
import { fftDemo } from './fftDemo.js';
import { starsCommand } from './stars.js';

const USAGE = `usage: batchfit [command] [options]
  (no command)     the demo: AUTOBK on the bundled Cu foil, then the batched FFT on the GPU (CPU fallback)
  autobk <file>    AUTOBK background removal of one spectrum (batchfit autobk --help)
  autobk-batch     AUTOBK over many files or a series file, on the GPU or all cores (batchfit autobk-batch --help)
  stars <image>    detect and measure every star of a FITS or .f32 frame (batchfit stars --help)
  fft-demo         the batched FFT demo only
exit status: 0 done; 1 a file, fit or measurement failed; 2 a usage error (an unknown option, a value
outside its range, a path that is not a regular file), always with one line on stderr`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined: {
      const code = await autobkCommand([]);
      if (code !== 0) return code;
      console.log('');
      return fftDemo();
    }
    case 'autobk':
      return autobkCommand(rest);
    case 'autobk-batch':
      return autobkBatchCommand(rest);
    case 'stars':
      return starsCommand(rest);
    case 'fft-demo':
      return fftDemo();
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
