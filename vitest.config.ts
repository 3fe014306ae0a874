import { defineConfig } from 'vitest/config';

// No registry is reachable: the reaper image cannot be pulled, and without a
// bridge network testcontainers must be told the host (shared/reference/containers.md).
process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';

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
