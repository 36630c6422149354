import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../../daemon/audit/log.js';
import { Broker } from '../../../daemon/broker/broker.js';
import { DaemonError } from '../../../daemon/errors.js';
import { DEFAULT_POLICY, type Policy } from '../../../daemon/policy/policy.js';
import type { Minter, MintRequest } from '../../../daemon/providers/minters/types.js';
import { loadProviders } from '../../../daemon/providers/registry.js';
import type { SecretStore } from '../../../daemon/vault/store.js';
import { Vault } from '../../../daemon/vault/vault.js';

/** The broker's side of minting, with an in-memory minter and store (the minters themselves have integration tests). */
class MemoryStore implements SecretStore {
  readonly kind = 'file' as const;
  private values = new Map<string, string>();
  async set(name: string, value: string) {
    this.values.set(name, value);
  }
  async get(name: string) {
    return this.values.get(name) ?? null;
  }
  async delete(name: string) {
    return this.values.delete(name);
  }
  async check() {}
}

let dir: string;
let audit: AuditLog;
let broker: Broker;
let vault: Vault;
let minted: MintRequest[];
let revoked: string[];
let refuse: boolean;

const fakeMinter: Minter = {
  kind: 'fake',
  proxy: false,
  applies: (entry) => entry.provider === 'fakedb',
  permissions: () => ({ read: { resource: false, summary: 'read' }, 'table:read': { resource: true, summary: 'one table' } }),
  async mint(r) {
    if (refuse) throw new DaemonError('mint_failed', 'upstream said no: quota exceeded');
    minted.push(r);
    const id = `role_${minted.length}`;
    return { kind: 'fake', secret: `minted-secret-${id}`, expires: r.expires, ids: { role: id }, env: { FAKE_URL: `fake://${id}` }, revoke: async () => void revoked.push(id) };
  },
};

const policy: Policy = { ...DEFAULT_POLICY, defaults: { decision: 'allow', maxTtl: 60 * 60_000 } };
const askPolicy: Policy = { ...DEFAULT_POLICY, defaults: { decision: 'ask', maxTtl: 60 * 60_000 } };
let current = policy;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keyward-mint-'));
  audit = new AuditLog(join(dir, 'audit.jsonl'), join(dir, 'audit.head'));
  await audit.open();
  vault = new Vault(new MemoryStore(), join(dir, 'vault.json'));
  await vault.add('db', 'fakedb', 'ROOT-SECRET-admin-url', 'test');
  await vault.add('plain', 'generic', 'PLAIN-SECRET', 'test');
  const providers = loadProviders(dir);
  broker = new Broker({
    vault,
    audit,
    policy: () => current,
    providers: () => providers,
    delegator: 'ada',
    defaultTtlMs: 60_000,
    consentTimeoutMs: 1000,
    minterFor: (e) => (fakeMinter.applies(e) ? fakeMinter : undefined),
    owner: 'ada@host',
  });
  minted = [];
  revoked = [];
  refuse = false;
  current = policy;
});
afterEach(async () => {
  vault.flushUse();
  await audit.close();
  rmSync(dir, { recursive: true, force: true });
});

const auditText = () => readFileSync(join(dir, 'audit.jsonl'), 'utf8');

describe('broker with a minter', () => {
  it('a grant mints once, gets the minted environment (a release grant: the upstream cannot be proxied), and shows the upstream id', async () => {
    const { session } = await broker.openSession({ agent: 'a', pid: process.pid });
    const s = broker.activeSessions().find((x) => x.id === session.id)!;
    const out = await broker.requestGrant(s, { ...broker.parseSpec('db:read', 'proxy'), mode: 'proxy' });
    expect(out.status).toBe('issued');
    if (out.status !== 'issued') return;
    expect(out.grant.mode).toBe('release');
    expect(out.env).toEqual({ FAKE_URL: 'fake://role_1' });
    expect(out.grant.upstream).toEqual({ kind: 'fake', role: 'role_1' });
    expect(minted[0]).toMatchObject({ grant: out.grant.id, permission: 'read', owner: 'ada@host', root: 'ROOT-SECRET-admin-url' });
    const released = await broker.release(s, out.token);
    expect(released.value).toBe('minted-secret-role_1');
    expect(auditText()).not.toContain('ROOT-SECRET');
    expect(auditText()).not.toContain('minted-secret');
    expect(auditText()).toContain('"role":"role_1"');
  });

  it('names resources and permissions from the minter, and refuses what it cannot mint', async () => {
    expect(broker.parseSpec('db:table:read:orders', 'release')).toEqual({ credential: 'db', permission: 'table:read', resource: 'orders' });
    expect(() => broker.parseSpec('db:write', 'proxy')).toThrow(/names no permission/);
    // Release of a stored (not minted) entry still names only the credential.
    expect(() => broker.parseSpec('plain:read', 'release')).toThrow(/names only a credential/);
  });

  it('revoke, session end and expiry revoke upstream, once each', async () => {
    const { session } = await broker.openSession({ agent: 'a', pid: process.pid });
    const s = broker.activeSessions()[0];
    expect(session.id).toBe(s.id);
    await broker.requestGrant(s, { credential: 'db', permission: 'read', mode: 'release' });
    await broker.requestGrant(s, { credential: 'db', permission: 'read', mode: 'release' });
    expect(await broker.revoke({ grant: broker.listGrants()[0].id })).toBe(1);
    expect(revoked).toEqual(['role_1']);
    await broker.endSession(s, 'test');
    expect(revoked).toEqual(['role_1', 'role_2']);

    await broker.openSession({ agent: 'b', pid: process.pid });
    const s2 = broker.activeSessions()[0];
    const expired = new Promise<void>((resolve) => broker.on('change', () => broker.counts().grants === 0 && revoked.length === 3 && resolve()));
    await broker.requestGrant(s2, { credential: 'db', permission: 'read', mode: 'release', ttl: 30 });
    await expired;
    expect(revoked).toEqual(['role_1', 'role_2', 'role_3']);
    expect(auditText()).toMatch(/"event":"grant.expire".*"revoked":true/);
  });

  it('a helper session that ends with keepReleased leaves its released credential until the grant is revoked', async () => {
    await broker.openSession({ agent: 'git-credential:x', pid: process.pid });
    const s = broker.activeSessions()[0];
    const out = await broker.requestGrant(s, { credential: 'db', permission: 'read', mode: 'release' });
    if (out.status !== 'issued') throw new Error(out.status);
    await broker.release(s, out.token);
    await broker.endSession(s, 'helper done', { keepReleased: true });
    expect(revoked).toEqual([]);
    expect(broker.listGrants().map((g) => g.upstream?.role)).toEqual(['role_1']);
    // Its token died with the session; the upstream credential ends with the grant (here: the daemon stopping).
    expect(broker.grantForToken(out.token)).toBeUndefined();
    await broker.shutdown();
    expect(revoked).toEqual(['role_1']);
  });

  it('a refused mint fails the request with the upstream answer, records it, and hands out nothing', async () => {
    refuse = true;
    await broker.openSession({ agent: 'a', pid: process.pid });
    const s = broker.activeSessions()[0];
    await expect(broker.requestGrant(s, { credential: 'db', permission: 'read', mode: 'release' })).rejects.toThrow('upstream said no: quota exceeded');
    expect(broker.listGrants()).toEqual([]);
    expect(auditText()).toContain('"event":"grant.mint-failed"');
    expect(auditText()).not.toContain('"event":"grant.issue"');
  });

  it('a person allows, the upstream refuses: the waiting agent hears the refusal at once', async () => {
    current = askPolicy;
    refuse = true;
    await broker.openSession({ agent: 'a', pid: process.pid });
    const s = broker.activeSessions()[0];
    const pending = await broker.requestGrant(s, { credential: 'db', permission: 'read', mode: 'release' });
    if (pending.status !== 'pending') throw new Error(pending.status);
    const waiting = broker.waitConsent(s, pending.consent, 30_000);
    const { outcome } = await broker.answerConsent(pending.consent, 'allow-once', 'ada');
    expect(outcome).toMatchObject({ status: 'denied', reason: expect.stringContaining('quota exceeded') });
    expect(await waiting).toMatchObject({ status: 'denied' });
  });
});
