import { createCipheriv, randomBytes, scryptSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileStore, KDF } from '../../daemon/vault/file-store.js';
import { tempDir } from '../helpers/cli.js';

/**
 * The file vault against someone who can write `vault.enc` but does not know the passphrase
 * (an agent running as the same user): removing an entry, putting back an older copy of one, or
 * moving one under another name is detected; old files move to today's scrypt cost.
 */

const PASS = 'correct horse battery';

async function vaultWith(entries: Record<string, string>): Promise<{ file: string; store: FileStore }> {
  const file = join(tempDir('keyward-sec-vault-'), 'vault.enc');
  await FileStore.create(file, PASS);
  const store = new FileStore(file, () => PASS);
  for (const [k, v] of Object.entries(entries)) await store.set(k, v);
  return { file, store };
}

const json = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

describe('the file vault', () => {
  it('derives its key with scrypt N >= 2^17 and stores the parameters in the file', async () => {
    const { file } = await vaultWith({});
    const data = json(file);
    expect(data.version).toBe(2);
    expect(data.kdf.N).toBeGreaterThanOrEqual(1 << 17);
    expect(data.kdf).toMatchObject({ name: 'scrypt', r: 8, p: 1 });
  });

  it('detects an entry removed from the file', async () => {
    const { file } = await vaultWith({ a: 'alpha-secret', b: 'beta-secret' });
    const data = json(file);
    delete data.entries.b;
    writeFileSync(file, JSON.stringify(data));
    const fresh = new FileStore(file, () => PASS);
    await expect(fresh.get('a')).rejects.toMatchObject({ code: 'vault_damaged' });
    await expect(fresh.get('b')).rejects.toMatchObject({ code: 'vault_damaged' });
  });

  it('detects one entry rolled back to an older copy, even by the running store', async () => {
    const { file, store } = await vaultWith({ a: 'old-value-1', b: 'keep' });
    const old = json(file).entries.a;
    await store.set('a', 'new-value-2');
    const data = json(file);
    data.entries.a = old;
    writeFileSync(file, JSON.stringify(data));
    await expect(store.get('a')).rejects.toMatchObject({ code: 'vault_damaged' });
  });

  it('detects an entry moved under another name', async () => {
    const { file } = await vaultWith({ a: 'aaa', b: 'bbb' });
    const data = json(file);
    data.entries.b = data.entries.a;
    writeFileSync(file, JSON.stringify(data));
    await expect(new FileStore(file, () => PASS).get('b')).rejects.toMatchObject({ code: 'vault_damaged' });
  });

  it('refuses a file that asks for an absurd scrypt cost instead of allocating it', async () => {
    const { file } = await vaultWith({});
    const data = json(file);
    data.kdf.N = 1 << 30;
    writeFileSync(file, JSON.stringify(data));
    await expect(new FileStore(file, () => PASS).check()).rejects.toMatchObject({ code: 'vault_damaged' });
  });

  it('upgrades a version 1 file (N=2^15, no MAC) on unlock, keeping every value', async () => {
    const file = join(tempDir('keyward-sec-vault-'), 'vault.enc');
    const salt = randomBytes(16);
    const key = scryptSync(PASS, salt, 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
    const seal = (text: string, aad: string) => {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, iv);
      c.setAAD(Buffer.from(aad));
      const data = Buffer.concat([c.update(text, 'utf8'), c.final()]);
      return { iv: iv.toString('base64'), tag: c.getAuthTag().toString('base64'), data: data.toString('base64') };
    };
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        kdf: { name: 'scrypt', N: 1 << 15, r: 8, p: 1, salt: salt.toString('base64') },
        check: seal('keyward file vault', ''),
        entries: { x: seal('x-value', 'x'), y: seal('y-value', 'y') },
      }),
    );
    const store = new FileStore(file, () => PASS);
    expect(await store.get('x')).toBe('x-value');
    const upgraded = json(file);
    expect(upgraded.version).toBe(2);
    expect(upgraded.kdf.N).toBe(KDF.N);
    expect(upgraded.kdf.salt).not.toBe(salt.toString('base64'));
    expect(typeof upgraded.mac).toBe('string');
    expect(await new FileStore(file, () => PASS).get('y')).toBe('y-value');
  });
});

describe('sealed migration backups', () => {
  const memoryStore = () => {
    const m = new Map<string, string>();
    return {
      kind: 'file' as const,
      set: async (k: string, v: string) => void m.set(k, v),
      get: async (k: string) => m.get(k) ?? null,
      delete: async (k: string) => m.delete(k),
      check: async () => undefined,
    };
  };

  it('open only for the migration and path they were made for, so two cannot be swapped', async () => {
    const { Sealer } = await import('../../daemon/vault/sealer.js');
    const sealer = new Sealer(memoryStore());
    const envBackup = await sealer.seal(Buffer.from('API_KEY=secret-one\n'), 'migration m1\0/home/u/app/.env');
    const npmrcBackup = await sealer.seal(Buffer.from('//registry/:_authToken=secret-two\n'), 'migration m1\0/home/u/.npmrc');
    expect((await sealer.unseal(envBackup, 'migration m1\0/home/u/app/.env')).toString()).toBe('API_KEY=secret-one\n');
    // The .npmrc backup put where the .env backup was: undo must refuse it.
    await expect(sealer.unseal(npmrcBackup, 'migration m1\0/home/u/app/.env')).rejects.toThrow(/integrity check/);
    await expect(sealer.unseal(envBackup, 'migration m2\0/home/u/app/.env')).rejects.toThrow(/integrity check/);
  });
});
