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
  functionRange('daemon/server/routes.ts', 'requireOutsideSessions'),
];

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
