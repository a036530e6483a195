import { defineConfig } from 'vitest/config';

// onnxruntime-node and sharp are native addons: run test files in child processes, not worker threads.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
