import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { runCli, tempDir } from '../helpers/cli.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

/**
 * The attacks of the security suite run against a real daemon with the encrypted file vault (so
 * they need no keychain), as real processes: `keyward run` sessions, detached and deeply nested
 * children, a second OS user through setpriv when the suite runs as root.
 */
export const PASSPHRASE = 'correct horse battery staple';
export const IS_LINUX = process.platform === 'linux';
export const IS_ROOT = process.getuid?.() === 0;
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
export const HAS_CURL = has('curl');
export const HAS_SETPRIV = has('setpriv');
export const HAS_PRLIMIT = has('prlimit');
export const HAS_SETSID = has('setsid');

/** A home with a file vault and the given policy, and a daemon started on it. */
export async function securityDaemon(options: { policy?: string; config?: string; files?: Record<string, string> } = {}): Promise<TestDaemon> {
  const home = tempDir('keyward-sec-');
  mkdirSync(join(home, 'config', 'providers'), { recursive: true, mode: 0o700 });
  writeFileSync(join(home, 'config', 'config.yaml'), `vault: { backend: file }\nproxy: { port: 0 }\n${options.config ?? ''}`);
  if (options.policy) writeFileSync(join(home, 'config', 'policy.yaml'), options.policy);
  for (const [rel, text] of Object.entries(options.files ?? {})) writeFileSync(join(home, rel), text);
  const env = { KEYWARD_HOME: home, KEYWARD_VAULT_PASSPHRASE: PASSPHRASE, DBUS_SESSION_BUS_ADDRESS: '' };
  const init = await runCli(['vault', 'init', '--file'], { env });
  expect(init.code, init.stderr).toBe(0);
  return startDaemon({ home, env });
}

/** Stores a vault entry through admin.sock (as the person at the keyboard). */
export async function addEntry(d: TestDaemon, name: string, value: string, provider = 'generic', attributes?: Record<string, string>): Promise<void> {
  const r = await d.api('admin', 'POST', '/v1/vault', { name, provider, value, source: 'test', ...(attributes ? { attributes } : {}) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

export function auditText(d: TestDaemon): string {
  return readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8');
}

/** Writes a script into a fresh directory and returns its path. */
export function script(name: string, text: string): string {
  const dir = tempDir('keyward-attack-');
  // Readable by a second OS user too (the attacker of some tests).
  chmodSync(dir, 0o755);
  const file = join(dir, name);
  writeFileSync(file, text, { mode: 0o755 });
  return file;
}

/** The proxy's port, from the status. */
export async function proxyPort(d: TestDaemon): Promise<number> {
  const status = await d.api('admin', 'GET', '/v1/status');
  return Number(new URL(status.body.proxy).port);
}

/** Waits until `check` returns a value, polling; throws with `what` after the deadline. */
export async function until<T>(check: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    // eslint-disable-next-line no-restricted-syntax -- still to be replaced by a state wait or an unconditional assertion (docs/testing.md#known-debt)
    await new Promise((r) => setTimeout(r, 50));
  }
}
