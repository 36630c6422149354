import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { KeywardError } from '../../kernel/errors.js';
import type { SecretStore } from './store.js';

/** Where the sealing key lives in the secret store (not a listed vault entry). */
export const SEAL_KEY_ENTRY = 'keyward.backup-key';
/** 1: no associated data (read only, for backups made before 2). 2: bound to a context. */
const VERSION = 2;
/** What a sealed blob is: a file's backup (which admin.sock's unseal opens), or a vault entry's. */
export type SealDomain = 'keyward backup' | 'keyward vault entry';

/**
 * Seals data (migration backups of secret-bearing files) with AES-256-GCM under a key kept in
 * the vault's secret store: a backup on disk is worthless without the keychain. Each backup is
 * bound to its context (the migration id and the file's path) as associated data, so that one
 * backup cannot be put in another's place: `undo` would otherwise write one file's secrets into
 * another file. Sealed format: version byte, 12-byte IV, 16-byte tag, ciphertext.
 */
export class Sealer {
  private key?: Buffer;

  constructor(private readonly store: SecretStore) {}

  private async getKey(create: boolean): Promise<Buffer> {
    if (this.key) return this.key;
    const stored = await this.store.get(SEAL_KEY_ENTRY);
    if (stored) return (this.key = Buffer.from(stored, 'hex'));
    if (!create) throw new KeywardError('no backup key in the vault: these backups cannot be opened', { code: 'vault_damaged' });
    const key = randomBytes(32);
    await this.store.set(SEAL_KEY_ENTRY, key.toString('hex'));
    if ((await this.store.get(SEAL_KEY_ENTRY)) !== key.toString('hex')) throw new KeywardError('the vault did not keep the backup key', { code: 'vault_error' });
    return (this.key = key);
  }

  /**
   * A vault entry's backup is sealed under its own domain: the unseal route (which hands back
   * plaintext, for file backups) cannot open it, so a value leaves the daemon only as before.
   */
  async seal(data: Buffer, context: string, domain: SealDomain = 'keyward backup'): Promise<Buffer> {
    const key = await this.getKey(true);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(`${domain}\0${context}`, 'utf8'));
    const body = Buffer.concat([cipher.update(data), cipher.final()]);
    return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]);
  }

  /** Opens a backup sealed for `context`; one sealed for another context fails. */
  async unseal(sealed: Buffer, context: string, domain: SealDomain = 'keyward backup'): Promise<Buffer> {
    if ((sealed[0] !== VERSION && sealed[0] !== 1) || sealed.length < 29) throw new KeywardError('not a keyward backup', { code: 'bad_request' });
    // Format 1 had no associated data, and never held a vault entry.
    if (sealed[0] === 1 && domain !== 'keyward backup') throw new KeywardError('not a keyward vault entry backup', { code: 'bad_request' });
    const key = await this.getKey(false);
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(1, 13));
    if (sealed[0] === VERSION) decipher.setAAD(Buffer.from(`${domain}\0${context}`, 'utf8'));
    decipher.setAuthTag(sealed.subarray(13, 29));
    try {
      return Buffer.concat([decipher.update(sealed.subarray(29)), decipher.final()]);
    } catch {
      throw new KeywardError('the backup failed its integrity check (modified, sealed with another key, or made for another file or migration)', { code: 'bad_request' });
    }
  }
}
