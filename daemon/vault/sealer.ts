import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { KeywardError } from '../../kernel/errors.js';
import type { SecretStore } from './store.js';

/** Where the sealing key lives in the secret store (not a listed vault entry). */
export const SEAL_KEY_ENTRY = 'keyward.backup-key';
const VERSION = 1;

/**
 * Seals data (migration backups of secret-bearing files) with AES-256-GCM under a key kept in
 * the vault's secret store: a backup on disk is worthless without the keychain. Sealed format:
 * version byte, 12-byte IV, 16-byte tag, ciphertext.
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

  async seal(data: Buffer): Promise<Buffer> {
    const key = await this.getKey(true);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([cipher.update(data), cipher.final()]);
    return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]);
  }

  async unseal(sealed: Buffer): Promise<Buffer> {
    if (sealed[0] !== VERSION || sealed.length < 29) throw new KeywardError('not a keyward backup', { code: 'bad_request' });
    const key = await this.getKey(false);
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(1, 13));
    decipher.setAuthTag(sealed.subarray(13, 29));
    try {
      return Buffer.concat([decipher.update(sealed.subarray(29)), decipher.final()]);
    } catch {
      throw new KeywardError('the backup failed its integrity check (modified, or sealed with another key)', { code: 'bad_request' });
    }
  }
}
