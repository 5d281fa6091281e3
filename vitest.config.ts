import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/leftovers.ts'],
    testTimeout: 60_000,
    hookTimeout: 600_000,
    // Integration tests share one engine and registry; files run one at a time there.
    fileParallelism: false,
  },
});
