import { defineConfig } from 'vitest/config';

// The client suite: real clients (installed in test/clients/node_modules) on configs keyward
// migrated. One file at a time: the clients are heavy and CI has two cores.
export default defineConfig({
  test: {
    root: new URL('.', import.meta.url).pathname,
    include: ['*.test.ts'],
    testTimeout: 240_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
