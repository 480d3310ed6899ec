import { defineConfig } from 'vitest/config';

// The lab suite boots emulated NUMA guests (QEMU TCG): one test file, tests in order, generous timeouts.
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/lab/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 600_000,
    fileParallelism: false,
  },
});
