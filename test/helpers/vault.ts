import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileStore } from '../../daemon/vault/file-store.js';

/**
 * Which vault the tests' daemons use. `npm test` starts a private D-Bus session with a throwaway
 * gnome-keyring (test/run.js) and sets KEYWARD_TEST_KEYRING=1: the OS keychain then. Without it
 * (no dbus or gnome-keyring installed, or vitest run directly), the encrypted file vault, so that
 * the daemon, proxy and migrate tests run on any machine; only tests whose subject is the
 * keychain itself skip.
 */
export const HAS_KEYRING = process.env.KEYWARD_TEST_KEYRING === '1';
export const TEST_VAULT: 'keychain' | 'file' = HAS_KEYRING ? 'keychain' : 'file';

/** The file vault's passphrase in tests (not a secret: the vault lives in a temp dir). */
export const TEST_VAULT_PASSPHRASE = 'keyward-test-file-vault';

/** The environment a daemon of a test home needs for its vault. */
export function vaultEnv(): NodeJS.ProcessEnv {
  return TEST_VAULT === 'file' ? { KEYWARD_VAULT_PASSPHRASE: TEST_VAULT_PASSPHRASE } : {};
}

/**
 * Gives a KEYWARD_HOME the test vault: with no keychain, creates the encrypted file vault and
 * selects it in config.yaml (as `keyward vault init --file` does), unless config.yaml already
 * chooses a vault backend.
 */
export async function prepareTestVault(home: string): Promise<void> {
  if (TEST_VAULT !== 'file') return;
  const config = join(home, 'config', 'config.yaml');
  const text = existsSync(config) ? readFileSync(config, 'utf8') : '';
  if (/^vault:/m.test(text)) return;
  mkdirSync(join(home, 'state'), { recursive: true, mode: 0o700 });
  const file = join(home, 'state', 'vault.enc');
  if (!existsSync(file)) await FileStore.create(file, TEST_VAULT_PASSPHRASE);
  mkdirSync(join(home, 'config'), { recursive: true, mode: 0o700 });
  writeFileSync(config, `${text}${text && !text.endsWith('\n') ? '\n' : ''}vault: { backend: file }\n`);
}

/**
 * For tests whose subject is the OS keychain: true when one is reachable, else one line naming
 * what is missing, and the tests skip.
 */
export function haveKeychain(subject: string): boolean {
  if (HAS_KEYRING) return true;
  process.stderr.write(`${subject}: skipped, no OS keychain (npm test provides one when dbus-run-session and gnome-keyring-daemon are installed)\n`);
  return false;
}
