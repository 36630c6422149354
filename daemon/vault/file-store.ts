import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
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
  /** 1: scrypt N=2^15, no whole-file MAC (upgraded on the next unlock). 2: as below. */
  version: 1 | 2;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  /** A known plaintext sealed with the key: tells a wrong passphrase from a damaged entry. */
  check: Sealed;
  entries: Record<string, Sealed>;
  /** HMAC-SHA256 over the version, KDF parameters, check and every entry (version 2). */
  mac?: string;
}

/** scrypt cost: N=2^17, r=8, p=1 (OWASP's minimum; about 128 MiB and a few hundred ms). */
export const KDF = { N: 1 << 17, r: 8, p: 1 };
/** Largest cost a vault file may ask for: a crafted file must not make the daemon allocate gigabytes. */
const MAX_N = 1 << 20;
const VERSION = 2;
const CHECK_TEXT = 'keyward file vault';
/** Associated data of version 2's check: a version 2 file cannot be passed off as version 1. */
const CHECK_AAD_V2 = 'keyward file vault v2';

function deriveKey(passphrase: string, salt: Buffer, kdf: { N: number; r: number; p: number }): Promise<Buffer> {
  return scrypt(passphrase, salt, 32, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r * kdf.p });
}

/**
 * The MAC of the whole vault: removing an entry, putting back an older copy of one, or moving
 * one under another name changes it. Its key is derived from the vault key, never stored.
 */
function macOf(key: Buffer, data: FileVaultData): string {
  const macKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'keyward file vault mac', 32));
  const names = Object.keys(data.entries).sort();
  const body = JSON.stringify([data.version, data.kdf, data.check, names.map((n) => [n, data.entries[n].iv, data.entries[n].tag, data.entries[n].data])]);
  return createHmac('sha256', macKey).update(body).digest('base64');
}

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

function writeVault(file: string, key: Buffer, data: FileVaultData): void {
  data.mac = macOf(key, data);
  writeFileAtomic(file, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 });
}

/**
 * The encrypted file vault, for machines without a keychain: one JSON file, each entry sealed
 * with AES-256-GCM under a key derived from a passphrase with scrypt (parameters stored in the
 * file; N=2^17, r=8, p=1 for new files, older files upgraded on the next unlock), the entry name
 * bound as associated data so entries cannot be swapped, and an HMAC over the whole set of
 * entries so that none can be removed or rolled back alone. Chosen explicitly
 * (`keyward vault init --file`), never as a silent fallback.
 */
export class FileStore implements SecretStore {
  readonly kind = 'file' as const;
  private key?: Buffer;
  /** The salt `key` was derived with: another salt on disk means the file was replaced. */
  private salt?: string;

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
    const key = await deriveKey(passphrase, salt, KDF);
    const data: FileVaultData = { version: VERSION, kdf: { name: 'scrypt', ...KDF, salt: salt.toString('base64') }, check: seal(key, CHECK_TEXT, CHECK_AAD_V2), entries: {} };
    writeVault(file, key, data);
  }

  private read(): FileVaultData {
    let data: FileVaultData;
    try {
      data = JSON.parse(readFileSync(this.file, 'utf8')) as FileVaultData;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new KeywardError(`the file vault ${this.file} does not exist`, { code: 'vault_missing', hint: 'Create it with: keyward vault init --file' });
      }
      throw new KeywardError(`the file vault ${this.file} is damaged: ${(error as Error).message}`, { code: 'vault_damaged', hint: 'Restore it from a backup.' });
    }
    const kdf = data?.kdf;
    if (
      (data?.version !== 1 && data?.version !== VERSION) ||
      kdf?.name !== 'scrypt' ||
      !Number.isInteger(kdf.N) ||
      kdf.N < 2 ||
      kdf.N > MAX_N ||
      (kdf.N & (kdf.N - 1)) !== 0 ||
      !Number.isInteger(kdf.r) ||
      kdf.r < 1 ||
      kdf.r > 32 ||
      kdf.p !== 1 ||
      typeof data.entries !== 'object'
    ) {
      throw new KeywardError(`the file vault ${this.file} has a format or KDF parameters keyward does not accept`, { code: 'vault_damaged', hint: 'Restore it from a backup.' });
    }
    return data;
  }

  /**
   * The vault key, checked against the passphrase; and the whole file's MAC checked. A file of
   * version 1 (or a cost below today's) is re-encrypted on the spot under a fresh salt at today's
   * cost, with its MAC.
   */
  private async unlock(data: FileVaultData, typed?: string): Promise<Buffer> {
    const passphrase = typed ?? this.passphrase();
    if (!this.key || this.salt !== data.kdf.salt) {
      if (!passphrase) {
        throw new KeywardError('the file vault is locked: no passphrase', {
          code: 'vault_locked',
          hint: 'Open it with: keyward vault unlock',
        });
      }
      const key = await deriveKey(passphrase, Buffer.from(data.kdf.salt, 'base64'), data.kdf);
      try {
        if (open(key, data.check, data.version === 1 ? '' : CHECK_AAD_V2) !== CHECK_TEXT) throw new Error('check');
      } catch {
        throw new KeywardError('wrong passphrase for the file vault', { code: 'vault_locked', hint: 'Try again: keyward vault unlock' });
      }
      this.key = key;
      this.salt = data.kdf.salt;
    }
    const key = this.key;
    if (data.version === VERSION) {
      const expected = Buffer.from(macOf(key, data), 'base64');
      const actual = Buffer.from(String(data.mac ?? ''), 'base64');
      if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
        throw new KeywardError(`the file vault ${this.file} failed its integrity check: entries were removed, added or replaced outside keyward`, {
          code: 'vault_damaged',
          hint: 'Restore vault.enc from a backup; until then no entry of it is used.',
        });
      }
    }
    if ((data.version !== VERSION || data.kdf.N < KDF.N) && passphrase) await this.upgrade(data, key, passphrase);
    return this.key;
  }

  /** Re-encrypts every entry under a new key at today's KDF cost, in place of the old file. */
  private async upgrade(data: FileVaultData, oldKey: Buffer, passphrase: string): Promise<void> {
    const salt = randomBytes(16);
    const key = await deriveKey(passphrase, salt, KDF);
    const entries: Record<string, Sealed> = {};
    for (const [name, sealed] of Object.entries(data.entries)) {
      let value: string;
      try {
        value = open(oldKey, sealed, name);
      } catch {
        throw new KeywardError(`vault entry ${name} failed its integrity check`, { code: 'vault_damaged', hint: 'The file was modified; restore it from a backup.' });
      }
      entries[name] = seal(key, value, name);
    }
    const upgraded: FileVaultData = { version: VERSION, kdf: { name: 'scrypt', ...KDF, salt: salt.toString('base64') }, check: seal(key, CHECK_TEXT, CHECK_AAD_V2), entries };
    writeVault(this.file, key, upgraded);
    Object.assign(data, upgraded);
    this.key = key;
    this.salt = upgraded.kdf.salt;
  }

  async set(name: string, value: string): Promise<void> {
    const data = this.read();
    const key = await this.unlock(data);
    data.entries[name] = seal(key, value, name);
    writeVault(this.file, key, data);
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
    const key = await this.unlock(data);
    if (!(name in data.entries)) return false;
    delete data.entries[name];
    writeVault(this.file, key, data);
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
