import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['test/**/*.test.ts'],
    // The lab boots emulated guests; it has its own suite (make lab, test/lab/vitest.config.ts).
    exclude: ['test/lab/**', '**/node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests start daemons on their own sockets; files may run in parallel, tests inside a file in order.
    fileParallelism: true,
  },
});
