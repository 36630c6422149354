#!/usr/bin/env node
// CI's mutation step: Stryker on the security modules (stryker.config.mjs) that differ from
// KEYWARD_CI_BASE (default origin/main), or on all of them with KEYWARD_MUTATE=all. Exits with
// Stryker's status (non-zero below the 85% threshold); exits 0 when no security module changed
// or there is no base to compare with.
import { spawnSync } from 'node:child_process';
import { SECURITY_MODULES } from '../stryker.config.mjs';

const all = process.env.KEYWARD_MUTATE === 'all';
let targets = SECURITY_MODULES;
if (!all) {
  const base = process.env.KEYWARD_CI_BASE ?? 'origin/main';
  const diff = spawnSync('git', ['diff', '--name-only', `${base}...HEAD`], { encoding: 'utf8' });
  if (diff.status !== 0) {
    // Mutating every module takes longer than CI's budget: say so and leave it to KEYWARD_MUTATE=all.
    console.log(`mutate: cannot compare with ${base} (${diff.stderr.trim()}); nothing mutated (KEYWARD_MUTATE=all mutates every security module)`);
    process.exit(0);
  } else {
    const changed = new Set(diff.stdout.split('\n').filter(Boolean));
    targets = SECURITY_MODULES.filter((m) => changed.has(m.split(':')[0]));
    if (targets.length === 0) {
      console.log(`mutate: no security module changed since ${base}; nothing to mutate`);
      process.exit(0);
    }
  }
}
console.log(`mutate: ${targets.join(', ')}`);
const r = spawnSync('npx', ['stryker', 'run', '--mutate', targets.join(',')], { stdio: 'inherit' });
process.exit(r.status ?? 1);
