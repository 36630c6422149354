import { KeywardError } from '../../kernel/errors.js';
import type { SecretStore } from './store.js';

export const KEYCHAIN_SERVICE = 'keyward';

/** Maps the keyring library's errors (all "GenericFailure") to what the user can do about them. */
export function keychainError(error: unknown, action: string): KeywardError {
  const message = error instanceof Error ? error.message : String(error);
  if (/DBUS_SESSION_BUS_ADDRESS|autolaunch|dbus/i.test(message) && /X11|bus|address/i.test(message)) {
    return new KeywardError(`cannot ${action}: no OS keychain is reachable (no D-Bus session bus)`, {
      code: 'keychain_unavailable',
      hint: 'Run keyward inside your desktop session (so DBUS_SESSION_BUS_ADDRESS is set), or use the encrypted file vault: keyward vault init --file',
    });
  }
  if (/unlock prompt was dismissed|locked/i.test(message)) {
    return new KeywardError(`cannot ${action}: the keychain is locked`, {
      code: 'keychain_locked',
      hint: 'Unlock your login keyring (log in to the desktop session, or `gnome-keyring-daemon --unlock`), then retry.',
    });
  }
  if (/no result found|no such|not provided|ServiceUnknown|org\.freedesktop\.secrets/i.test(message)) {
    return new KeywardError(`cannot ${action}: no Secret Service keyring is running`, {
      code: 'keychain_unavailable',
      hint: 'Start gnome-keyring or KeePassXC with Secret Service enabled, or use the encrypted file vault: keyward vault init --file',
    });
  }
  return new KeywardError(`cannot ${action}: the keychain refused (${message.replace(/\s+/g, ' ').slice(0, 200)})`, { code: 'keychain_error' });
}

/**
 * Secrets in the OS keychain through @napi-rs/keyring: service `keyward`, account = entry name.
 * On Linux the store is pinned to the Secret Service: without the pin the library would fall
 * back silently to the kernel keyring, which is lost at reboot.
 */
export class KeychainStore implements SecretStore {
  readonly kind = 'keychain' as const;
  private entryClass?: typeof import('@napi-rs/keyring').AsyncEntry;

  constructor(private readonly service: string = process.env.KEYWARD_KEYCHAIN_SERVICE || KEYCHAIN_SERVICE) {}

  private async entry(name: string) {
    if (!this.entryClass) {
      try {
        this.entryClass = (await import('@napi-rs/keyring')).AsyncEntry;
      } catch (error) {
        throw new KeywardError(`cannot load the OS keychain library: ${(error as Error).message}`, {
          code: 'keychain_unavailable',
          hint: 'Reinstall keyward (npm install) for this platform, or use the encrypted file vault: keyward vault init --file',
        });
      }
    }
    try {
      return new this.entryClass(this.service, name, { linux: { store: 'secret-service' } });
    } catch (error) {
      throw keychainError(error, 'open the keychain');
    }
  }

  async set(name: string, value: string): Promise<void> {
    const e = await this.entry(name);
    try {
      await e.setPassword(value);
    } catch (error) {
      throw keychainError(error, `store ${name}`);
    }
  }

  async get(name: string): Promise<string | null> {
    const e = await this.entry(name);
    try {
      return await e.getPassword();
    } catch (error) {
      throw keychainError(error, `read ${name}`);
    }
  }

  async delete(name: string): Promise<boolean> {
    const e = await this.entry(name);
    try {
      return await e.deletePassword();
    } catch (error) {
      throw keychainError(error, `remove ${name}`);
    }
  }

  /** Writes, reads back and deletes a probe entry: proves the keychain works end to end. */
  async check(): Promise<void> {
    const probe = `keyward-probe-${process.pid}-${Date.now()}`;
    await this.set(probe, 'probe');
    const back = await this.get(probe);
    await this.delete(probe);
    if (back !== 'probe') throw new KeywardError('the keychain stored a value but returned something else', { code: 'keychain_error' });
  }
}
