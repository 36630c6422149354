import { createCipheriv, createDecipheriv, randomBytes, scrypt as scryptCb } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { KeywardError } from '../../kernel/errors.js';
import { writeFileAtomic } from '../../kernel/atomic-file.js';
import type { SecretStore } from './store.js';

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

interface Sealed {
  iv: string;
  tag: string;
  data: string;
}

interface FileVaultData {
  version: 1;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  /** A known plaintext sealed with the key: tells a wrong passphrase from a damaged entry. */
  check: Sealed;
  entries: Record<string, Sealed>;
}

const KDF = { N: 1 << 15, r: 8, p: 1 };
const CHECK_TEXT = 'keyward file vault';

function seal(key: Buffer, plaintext: string, aad: string): Sealed {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
}

function open(key: Buffer, sealed: Sealed, aad: string): string {
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
  return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString('utf8');
}

/**
 * The encrypted file vault, for machines without a keychain: one JSON file, each entry sealed
 * with AES-256-GCM under a key derived from a passphrase with scrypt (N=2^15, r=8, p=1), the
 * entry name bound as associated data so entries cannot be swapped. Chosen explicitly
 * (`keyward vault init --file`), never as a silent fallback.
 */
export class FileStore implements SecretStore {
  readonly kind = 'file' as const;
  private key?: Buffer;

  constructor(
    readonly file: string,
    private readonly passphrase: () => string | undefined,
  ) {}

  static exists(file: string): boolean {
    return existsSync(file);
  }

  /** Creates an empty vault; refuses to overwrite one. */
  static async create(file: string, passphrase: string): Promise<void> {
    if (existsSync(file)) throw new KeywardError(`a file vault already exists at ${file}`, { hint: 'Use it as it is, or move it away first.' });
    if (passphrase.length < 8) throw new KeywardError('the vault passphrase must have at least 8 characters');
    const salt = randomBytes(16);
    const key = await scrypt(passphrase, salt, 32, { ...KDF, maxmem: 64 * 1024 * 1024 });
    const data: FileVaultData = { version: 1, kdf: { name: 'scrypt', ...KDF, salt: salt.toString('base64') }, check: seal(key, CHECK_TEXT, ''), entries: {} };
    writeFileAtomic(file, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 });
  }

  private read(): FileVaultData {
    try {
      return JSON.parse(readFileSync(this.file, 'utf8')) as FileVaultData;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new KeywardError(`the file vault ${this.file} does not exist`, { code: 'vault_missing', hint: 'Create it with: keyward vault init --file' });
      }
      throw new KeywardError(`the file vault ${this.file} is damaged: ${(error as Error).message}`, { code: 'vault_damaged', hint: 'Restore it from a backup.' });
    }
  }

  private async unlock(data: FileVaultData, typed?: string): Promise<Buffer> {
    if (this.key) return this.key;
    const passphrase = typed ?? this.passphrase();
    if (!passphrase) {
      throw new KeywardError('the file vault is locked: no passphrase', {
        code: 'vault_locked',
        hint: 'Open it with: keyward vault unlock',
      });
    }
    const key = await scrypt(passphrase, Buffer.from(data.kdf.salt, 'base64'), 32, { N: data.kdf.N, r: data.kdf.r, p: data.kdf.p, maxmem: 256 * 1024 * 1024 });
    try {
      if (open(key, data.check, '') !== CHECK_TEXT) throw new Error('check');
    } catch {
      throw new KeywardError('wrong passphrase for the file vault', { code: 'vault_locked', hint: 'Try again: keyward vault unlock' });
    }
    this.key = key;
    return key;
  }

  async set(name: string, value: string): Promise<void> {
    const data = this.read();
    const key = await this.unlock(data);
    data.entries[name] = seal(key, value, name);
    writeFileAtomic(this.file, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 });
  }

  async get(name: string): Promise<string | null> {
    const data = this.read();
    const key = await this.unlock(data);
    const sealed = data.entries[name];
    if (!sealed) return null;
    try {
      return open(key, sealed, name);
    } catch {
      throw new KeywardError(`vault entry ${name} failed its integrity check`, { code: 'vault_damaged', hint: 'The file was modified; restore it from a backup.' });
    }
  }

  async delete(name: string): Promise<boolean> {
    const data = this.read();
    await this.unlock(data);
    if (!(name in data.entries)) return false;
    delete data.entries[name];
    writeFileAtomic(this.file, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 });
    return true;
  }

  async check(): Promise<void> {
    await this.unlock(this.read());
  }

  /** Whether the key has not been derived yet (no passphrase, or not tried). */
  get locked(): boolean {
    return this.key === undefined;
  }

  /** Opens a locked vault with a passphrase a person typed (`keyward vault unlock`). */
  async unlockWith(passphrase: string): Promise<void> {
    await this.unlock(this.read(), passphrase);
  }
}
