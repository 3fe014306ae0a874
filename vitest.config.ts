import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Prints each target's nginx, njs and engine, as the target reports them.
    globalSetup: ['test/support/announce.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Two cores: integration files each run nginx, an origin and sometimes ffmpeg.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
