#!/usr/bin/env node
// CI's mutation step (docs/testing.md#mutation-testing): Stryker on the security modules of
// stryker.config.mjs that this change touches, each with the tests that kill its mutants
// (MODULE_TESTS). Which modules:
//   1. those that differ from KEYWARD_CI_BASE (default origin/main), when that ref exists and is
//      not HEAD itself: a branch or pull request;
//   2. otherwise (a clean checkout of main, or no base at all) those the last commit changed,
//      except LONG_RUNS;
//   3. when that is none either, ALWAYS_MUTATED: small, fast modules whose bugs are forged
//      tokens, so that every run mutates something and the setup itself stays tested.
// KEYWARD_MUTATE=all mutates every security module (about an hour on two cores). Exits with
// Stryker's status: non-zero below the 85% threshold.
import { spawnSync } from 'node:child_process';
import { MODULE_TESTS, SECURITY_MODULES } from '../stryker.config.mjs';

/** Mutated when nothing else is: about 3 minutes on two cores. */
const ALWAYS_MUTATED = ['kernel/checksum.ts', 'daemon/tokens.ts'];
/** Not mutated for a last commit on main: each takes most of an hour on two cores. */
const LONG_RUNS = ['daemon/broker/broker.ts', 'daemon/vault/file-store.ts'];

const git = (...args) => spawnSync('git', args, { encoding: 'utf8' });
const fileOf = (module) => module.split(':')[0];
const touching = (files) => SECURITY_MODULES.filter((m) => files.includes(fileOf(m)));
const changedFiles = (range) => {
  const r = git('diff', '--name-only', range);
  return r.status === 0 ? r.stdout.split('\n').filter(Boolean) : undefined;
};

function choose() {
  if (process.env.KEYWARD_MUTATE === 'all') return { targets: SECURITY_MODULES, why: 'KEYWARD_MUTATE=all' };
  const base = process.env.KEYWARD_CI_BASE ?? 'origin/main';
  const baseSha = git('rev-parse', '--verify', '--quiet', `${base}^{commit}`).stdout.trim();
  const head = git('rev-parse', 'HEAD').stdout.trim();
  if (baseSha && baseSha !== head) {
    const files = changedFiles(`${base}...HEAD`);
    if (files) return { targets: touching(files), why: `changed since ${base}` };
  }
  const last = git('rev-parse', '--verify', '--quiet', 'HEAD~1').status === 0 ? changedFiles('HEAD~1..HEAD') : undefined;
  const why = baseSha ? `HEAD is ${base}` : `no ${base} to compare with`;
  // On main, within CI's time: the modules whose full run takes most of an hour are left to
  // KEYWARD_MUTATE=all (docs/testing.md#scores).
  const lastTouched = last ? touching(last).filter((m) => !LONG_RUNS.includes(fileOf(m))) : [];
  if (lastTouched.length) return { targets: lastTouched, why: `${why}; changed by the last commit` };
  return {
    targets: SECURITY_MODULES.filter((m) => ALWAYS_MUTATED.includes(m)),
    why: `${why}; the last commit changed no security module short enough to mutate here, so the fixed set`,
  };
}

const { targets, why } = choose();
if (targets.length === 0) {
  console.log(`mutate: no security module changed (${why}); nothing to mutate`);
  process.exit(0);
}
const tests = [...new Set(targets.flatMap((m) => MODULE_TESTS[fileOf(m)] ?? []))];
console.log(`mutate (${why}): ${targets.join(', ')}\n  with ${tests.join(', ')}`);
const r = spawnSync('npx', ['stryker', 'run', '--mutate', targets.join(',')], {
  stdio: 'inherit',
  env: { ...process.env, KEYWARD_MUTATE_TESTS: tests.join(',') },
});
process.exit(r.status ?? 1);
