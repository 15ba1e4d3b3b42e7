import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // lavapipe runs WGSL on the CPU and compiles each pipeline at its first dispatch: with an
    // empty shader cache (a fresh CI machine) the first fit of a kernel family took up to 60 s
    // on two loaded cores, so the limits leave room for a slower machine.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    // Two cores here; each test file that uses the GPU holds its own Dawn instance.
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
