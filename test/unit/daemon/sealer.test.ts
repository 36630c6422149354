import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SEAL_KEY_ENTRY, Sealer } from '../../../daemon/vault/sealer.js';

/** An in-memory secret store (pure logic: the sealer's own format and key handling). */
function memoryStore(options: { keeps?: boolean } = {}) {
  const m = new Map<string, string>();
  let gets = 0;
  return {
    m,
    gets: () => gets,
    kind: 'file' as const,
    set: async (k: string, v: string) => void (options.keeps === false ? undefined : m.set(k, v)),
    get: async (k: string) => (gets++, m.get(k) ?? null),
    delete: async (k: string) => m.delete(k),
    check: async () => undefined,
  };
}

/** A backup sealed by hand in the documented format: version, IV, tag, ciphertext. */
function sealByHand(key: Buffer, version: number, data: string, aad?: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  if (aad !== undefined) cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(data, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.from([version]), iv, cipher.getAuthTag(), body]);
}

describe('sealed backups', () => {
  it('keep their key in the store under keyward.backup-key, read once, and open with another sealer on the same store', async () => {
    const store = memoryStore();
    const sealer = new Sealer(store);
    const a = await sealer.seal(Buffer.from('one'), 'ctx');
    await sealer.seal(Buffer.from('two'), 'ctx');
    expect(SEAL_KEY_ENTRY).toBe('keyward.backup-key');
    expect([...store.m.keys()]).toEqual(['keyward.backup-key']);
    expect(store.m.get(SEAL_KEY_ENTRY)).toMatch(/^[0-9a-f]{64}$/);
    expect(store.gets()).toBe(2); // once to look, once to read back what was stored
    expect((await new Sealer(store).unseal(a, 'ctx')).toString()).toBe('one');
  });

  it('are in the documented format, bound to "keyward backup" and their context', async () => {
    const store = memoryStore();
    await new Sealer(store).seal(Buffer.from('x'), 'c');
    const key = Buffer.from(store.m.get(SEAL_KEY_ENTRY)!, 'hex');
    const sealer = new Sealer(store);
    expect((await sealer.unseal(sealByHand(key, 2, 'secret', 'keyward backup\0m1\0/a'), 'm1\0/a')).toString()).toBe('secret');
    await expect(sealer.unseal(sealByHand(key, 2, 'secret', 'm1\0/a'), 'm1\0/a')).rejects.toMatchObject({ code: 'bad_request' });
    await expect(sealer.unseal(sealByHand(key, 2, 'secret'), 'm1\0/a')).rejects.toMatchObject({ code: 'bad_request' });
    // Version 1 had no context: it opens whatever context is asked for.
    expect((await sealer.unseal(sealByHand(key, 1, 'old'), 'anything')).toString()).toBe('old');
  });

  it('refuse what is not a backup, and say when it was tampered with', async () => {
    const sealer = new Sealer(memoryStore());
    const sealed = await sealer.seal(Buffer.from('data'), 'ctx');
    const notBackup = { code: 'bad_request', message: 'not a keyward backup' };
    await expect(sealer.unseal(Buffer.concat([Buffer.from([3]), sealed.subarray(1)]), 'ctx')).rejects.toMatchObject(notBackup);
    await expect(sealer.unseal(Buffer.concat([Buffer.from([0]), sealed.subarray(1)]), 'ctx')).rejects.toMatchObject(notBackup);
    await expect(sealer.unseal(sealed.subarray(0, 28), 'ctx')).rejects.toMatchObject(notBackup);
    const integrity = {
      code: 'bad_request',
      message: 'the backup failed its integrity check (modified, sealed with another key, or made for another file or migration)',
    };
    await expect(sealer.unseal(sealed.subarray(0, 29), 'ctx')).rejects.toMatchObject(integrity);
    const flipped = Buffer.from(sealed);
    flipped[flipped.length - 1] ^= 1;
    await expect(sealer.unseal(flipped, 'ctx')).rejects.toMatchObject(integrity);
  });

  it('never make a key to open a backup, and refuse a store that does not keep one', async () => {
    const sealed = await new Sealer(memoryStore()).seal(Buffer.from('data'), 'ctx');
    const empty = memoryStore();
    await expect(new Sealer(empty).unseal(sealed, 'ctx')).rejects.toMatchObject({ code: 'vault_damaged', message: 'no backup key in the vault: these backups cannot be opened' });
    expect(empty.m.size).toBe(0);
    await expect(new Sealer(memoryStore({ keeps: false })).seal(Buffer.from('x'), 'ctx')).rejects.toMatchObject({
      code: 'vault_error',
      message: 'the vault did not keep the backup key',
    });
  });
});
