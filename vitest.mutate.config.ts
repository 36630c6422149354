import { defineConfig } from 'vitest/config';

// The tests Stryker runs against each mutant: the in-process tests of the security modules
// (integration tests run the compiled CLI from dist/, which Stryker does not mutate), and the
// in-process file vault tests of the security suite. KEYWARD_MUTATE_TESTS (comma-separated
// files or globs) narrows them to the tests of one module, which makes each mutant's run
// cheaper; the score is then a lower bound (docs/testing.md#mutation-testing).
const only = process.env.KEYWARD_MUTATE_TESTS?.split(',').filter(Boolean);

export default defineConfig({
  test: {
    include: only?.length ? only : ['test/unit/daemon/**/*.test.ts', 'test/unit/kernel/**/*.test.ts', 'test/security/file-vault.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
