#!/usr/bin/env node
// CI's mutation step: Stryker on the security modules (stryker.config.mjs) that differ from
// KEYWARD_CI_BASE (default origin/main), or on all of them with KEYWARD_MUTATE=all. Exits with
// Stryker's status (non-zero below the 85% threshold); exits 0 when no security module changed.
import { spawnSync } from 'node:child_process';
import { SECURITY_MODULES } from '../stryker.config.mjs';

const all = process.env.KEYWARD_MUTATE === 'all';
let targets = SECURITY_MODULES;
if (!all) {
  const base = process.env.KEYWARD_CI_BASE ?? 'origin/main';
  const diff = spawnSync('git', ['diff', '--name-only', `${base}...HEAD`], { encoding: 'utf8' });
  if (diff.status !== 0) {
    console.error(`mutate: cannot compare with ${base} (${diff.stderr.trim()}); mutating every security module`);
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
