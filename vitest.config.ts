import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // one fixed fast-check seed for every property test (test/setup.ts)
    setupFiles: ['test/setup.ts'],
    // Property tests compile many kernels; give slow machines room.
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
