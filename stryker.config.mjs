// Mutation testing of the modules whose bugs are security bugs (docs/testing.md#mutation-testing).
// `npm run mutate` mutates them all; `npm run mutate -- --mutate daemon/policy/policy.ts` one of
// them; `.ci/run` passes the ones a change touches. The reports go to reports/mutation/.
import { readFileSync } from 'node:fs';

/**
 * The admin caller check is one function inside routes.ts: mutate its lines only, found by name so
 * that edits elsewhere in the file do not move the range.
 */
function functionRange(file, name) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const start = lines.findIndex((l) => l.includes(`function ${name}(`));
  if (start === -1) throw new Error(`stryker.config.mjs: no function ${name} in ${file}`);
  const end = lines.findIndex((l, i) => i > start && l === '}');
  return `${file}:${start + 1}-${end + 1}`;
}

export const SECURITY_MODULES = [
  'daemon/policy/policy.ts',
  'daemon/broker/broker.ts',
  'daemon/audit/log.ts',
  'daemon/tokens.ts',
  'kernel/checksum.ts',
  'daemon/proxy/rules.ts',
  'daemon/vault/file-store.ts',
  'daemon/vault/sealer.ts',
  functionRange('daemon/server/routes.ts', 'requireOutsideSessions'),
];

/**
 * The tests that kill each module's mutants (vitest.mutate.config.ts runs only these when
 * KEYWARD_MUTATE_TESTS names them): a run of one module then loads a few test files per mutant
 * instead of all of them.
 */
export const MODULE_TESTS = {
  'daemon/policy/policy.ts': ['test/unit/daemon/policy.test.ts', 'test/unit/daemon/broker.test.ts'],
  'daemon/broker/broker.ts': ['test/unit/daemon/broker.test.ts', 'test/unit/daemon/broker-minting.test.ts'],
  'daemon/audit/log.ts': ['test/unit/daemon/audit.test.ts'],
  'daemon/tokens.ts': ['test/unit/daemon/tokens.test.ts'],
  'kernel/checksum.ts': ['test/unit/kernel/checksum.test.ts', 'test/unit/daemon/tokens.test.ts'],
  'daemon/proxy/rules.ts': ['test/unit/daemon/proxy-rules.test.ts', 'test/unit/daemon/scope.test.ts'],
  'daemon/vault/file-store.ts': ['test/unit/daemon/file-store.test.ts', 'test/security/file-vault.test.ts'],
  'daemon/vault/sealer.ts': ['test/unit/daemon/sealer.test.ts', 'test/security/file-vault.test.ts'],
  'daemon/server/routes.ts': ['test/unit/daemon/admin-caller.test.ts'],
};

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'vitest.mutate.config.ts' },
  mutate: SECURITY_MODULES,
  coverageAnalysis: 'perTest',
  reporters: ['clear-text', 'progress', 'json', 'html'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  thresholds: { high: 90, low: 85, break: 85 },
  concurrency: 2,
  timeoutMS: 3_000,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  ignorePatterns: ['dist', 'reports', '.bench', 'coverage', 'test/integration', 'test/bench'],
};
