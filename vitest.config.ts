import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // lavapipe runs WGSL on the CPU: GPU tests take seconds, not milliseconds.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores here; each test file that uses the GPU holds its own Dawn instance.
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
