#!/usr/bin/env node
// `npm test`: runs vitest inside a private D-Bus session with a fresh, unlocked gnome-keyring, so
// the vault tests use a real OS keychain and never the developer's own. Without dbus-run-session
// or gnome-keyring-daemon the keychain tests are skipped (and say so), unless
// KEYWARD_REQUIRE_KEYRING=1 (CI) makes that an error.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const vitest = ['npx', 'vitest', 'run', ...args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`)].join(' ');

let status;
if (has('dbus-run-session') && has('gnome-keyring-daemon')) {
  const dataHome = mkdtempSync(join(tmpdir(), 'keyward-keyring-'));
  const script = `printf keyward-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1 && KEYWARD_TEST_KEYRING=1 exec ${vitest}`;
  status = spawnSync('dbus-run-session', ['--', 'sh', '-c', script], {
    stdio: 'inherit',
    env: { ...process.env, XDG_DATA_HOME: dataHome },
  }).status;
  rmSync(dataHome, { recursive: true, force: true });
} else {
  if (process.env.KEYWARD_REQUIRE_KEYRING === '1') {
    console.error('test/run.js: dbus-run-session and gnome-keyring-daemon are required (install dbus and gnome-keyring).');
    process.exit(2);
  }
  console.error('test/run.js: no dbus-run-session/gnome-keyring-daemon: tests that need a real keychain will be skipped.');
  status = spawnSync('sh', ['-c', vitest], { stdio: 'inherit' }).status;
}
process.exit(status ?? 1);
