import { defineConfig } from 'vitest/config';

// The tests Stryker runs against each mutant: the in-process tests of the security modules
// (integration tests run the compiled CLI from dist/, which Stryker does not mutate).
export default defineConfig({
  test: {
    include: ['test/unit/daemon/**/*.test.ts', 'test/unit/kernel/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
