import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Property tests compile many kernels; give slow machines room.
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
