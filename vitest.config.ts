import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Docker-backed suites share one engine; keep files sequential so they do not starve each other on 2 cores.
    fileParallelism: false,
  },
});
