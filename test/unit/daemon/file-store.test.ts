import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileStore } from '../../../daemon/vault/file-store.js';

/** The encrypted file vault against a real file: what an attacker with write access can and cannot do. */
let dir: string;
let file: string;
const PASS = 'correct horse battery';
const SECRET = 'sk-file-vault-secret-value-0123456789';

type VaultFile = { version: number; kdf: { name: string; N: number; r: number; p: number; salt: string }; check: Sealed; entries: Record<string, Sealed>; mac?: string };
type Sealed = { iv: string; tag: string; data: string };
const readVault = (): VaultFile => JSON.parse(readFileSync(file, 'utf8')) as VaultFile;
const writeVault = (v: VaultFile) => writeFileSync(file, JSON.stringify(v));

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'keyward-filevault-'));
  file = join(dir, 'vault.json');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the file vault', () => {
  it('is created owner-only, with scrypt parameters and no plaintext', async () => {
    await FileStore.create(file, PASS);
    expect(FileStore.exists(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const v = readVault();
    expect(v).toMatchObject({ version: 2, kdf: { name: 'scrypt', N: 131072, r: 8, p: 1 }, entries: {} });
    expect(typeof v.mac).toBe('string');
    expect(Buffer.from(v.kdf.salt, 'base64')).toHaveLength(16);
    expect(Buffer.from(v.check.iv, 'base64')).toHaveLength(12);
    expect(readFileSync(file, 'utf8')).not.toContain('keyward file vault');
    const store = new FileStore(file, () => PASS);
    await store.set('openai', SECRET);
    expect(readFileSync(file, 'utf8')).not.toContain(SECRET);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await new FileStore(file, () => PASS).get('openai')).toBe(SECRET);
  });

  it('refuses to overwrite a vault and refuses a short passphrase', async () => {
    await expect(FileStore.create(file, 'short12')).rejects.toThrow('the vault passphrase must have at least 8 characters');
    expect(FileStore.exists(file)).toBe(false);
    await FileStore.create(file, '12345678');
    const before = readFileSync(file, 'utf8');
    await expect(FileStore.create(file, PASS)).rejects.toThrow(`a file vault already exists at ${file}`);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('tells a wrong passphrase from a missing one, and opens nothing with either', async () => {
    await FileStore.create(file, PASS);
    await new FileStore(file, () => PASS).set('openai', SECRET);
    const wrong = new FileStore(file, () => 'not the passphrase');
    await expect(wrong.get('openai')).rejects.toMatchObject({ code: 'vault_locked', message: 'wrong passphrase for the file vault' });
    await expect(wrong.check()).rejects.toMatchObject({ code: 'vault_locked', message: 'wrong passphrase for the file vault' });
    await expect(wrong.set('other', 'x')).rejects.toMatchObject({ code: 'vault_locked' });
    await expect(wrong.delete('openai')).rejects.toMatchObject({ code: 'vault_locked' });
    for (const none of [undefined, '']) {
      await expect(new FileStore(file, () => none).get('openai')).rejects.toMatchObject({ code: 'vault_locked', message: 'the file vault is locked: no passphrase' });
    }
    expect(await new FileStore(file, () => PASS).get('openai')).toBe(SECRET);
    await new FileStore(file, () => PASS).check();
  });

  it('binds the entries together: a value moved under another name fails the whole file’s integrity check', async () => {
    await FileStore.create(file, PASS);
    const store = new FileStore(file, () => PASS);
    await store.set('prod', SECRET);
    await store.set('dev', 'sk-dev-value');
    const v = readVault();
    v.entries.dev = v.entries.prod;
    writeVault(v);
    const fresh = new FileStore(file, () => PASS);
    for (const name of ['dev', 'prod']) {
      await expect(fresh.get(name)).rejects.toMatchObject({ code: 'vault_damaged', message: expect.stringContaining('failed its integrity check') });
    }
  });

  it('detects a modified entry and a modified check value', async () => {
    await FileStore.create(file, PASS);
    await new FileStore(file, () => PASS).set('prod', SECRET);
    const v = readVault();
    const data = Buffer.from(v.entries.prod.data, 'base64');
    data[0] ^= 1;
    v.entries.prod.data = data.toString('base64');
    writeVault(v);
    await expect(new FileStore(file, () => PASS).get('prod')).rejects.toMatchObject({ code: 'vault_damaged' });
    // The check value, sealed under another key (another vault's), reads as a wrong passphrase.
    const other = join(dir, 'other.json');
    await FileStore.create(other, PASS);
    const w = readVault();
    w.check = (JSON.parse(readFileSync(other, 'utf8')) as VaultFile).check;
    writeVault(w);
    await expect(new FileStore(file, () => PASS).check()).rejects.toMatchObject({ code: 'vault_locked', message: 'wrong passphrase for the file vault' });
  });

  it('gets null for a missing entry, deletes, and says which file is missing or damaged', async () => {
    await FileStore.create(file, PASS);
    const store = new FileStore(file, () => PASS);
    expect(await store.get('nope')).toBeNull();
    expect(await store.delete('nope')).toBe(false);
    await store.set('a', 'value-a');
    expect(await store.delete('a')).toBe(true);
    expect(await store.get('a')).toBeNull();
    expect(readVault().entries).toEqual({});
    const missing = new FileStore(join(dir, 'none.json'), () => PASS);
    await expect(missing.get('a')).rejects.toMatchObject({ code: 'vault_missing', message: `the file vault ${join(dir, 'none.json')} does not exist` });
    writeFileSync(file, '{not json');
    await expect(new FileStore(file, () => PASS).get('a')).rejects.toMatchObject({ code: 'vault_damaged', message: expect.stringContaining(`the file vault ${file} is damaged`) });
  });

  it('needs the passphrase only until the key is derived: a source that forgets it after the first read keeps working', async () => {
    await FileStore.create(file, PASS);
    let asked = 0;
    const store = new FileStore(file, () => (asked++ === 0 ? PASS : undefined));
    await store.set('a', 'one');
    await store.set('b', 'two');
    expect(await store.get('a')).toBe('one');
    expect(await store.get('b')).toBe('two');
    expect(asked).toBeGreaterThanOrEqual(1);
    expect(store.kind).toBe('file');
  });
});
