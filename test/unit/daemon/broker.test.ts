import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, type AuditRecord } from '../../../daemon/audit/log.js';
import { Broker, MAX_TTL_MS, type BrokerDeps, type GrantOutcome, type Session } from '../../../daemon/broker/broker.js';
import { parsePolicy } from '../../../daemon/policy/load.js';
import { DEFAULT_POLICY, type Policy, type PolicyRule } from '../../../daemon/policy/policy.js';
import { loadProviders } from '../../../daemon/providers/registry.js';
import { newToken } from '../../../daemon/tokens.js';
import type { SecretStore } from '../../../daemon/vault/store.js';
import { Vault } from '../../../daemon/vault/vault.js';

/**
 * The broker in-process, with the real audit log, vault index and provider profiles in a temp
 * directory; only the secret store is an in-memory map (the keychain is tested end to end in
 * test/integration/daemon.test.ts). The clock is a parameter, so expiry is tested without sleeping.
 */
class MemoryStore implements SecretStore {
  readonly kind = 'keychain' as const;
  readonly values = new Map<string, string>();
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

const MIN = 60_000;
const OPENAI_KEY = 'sk-test-openai-value-never-logged';

let dir: string;
let audit: AuditLog;
let vault: Vault;
let clock: number;
let policy: Policy;
let added: PolicyRule[];
let broker: Broker;

function policyFrom(text: string): Policy {
  const parsed = parsePolicy(text, 'policy.yaml');
  if (!parsed.policy) throw new Error(parsed.problems.map((p) => p.message).join('; '));
  return parsed.policy;
}

function makeBroker(overrides: Partial<BrokerDeps> = {}): Broker {
  return new Broker({
    vault,
    audit,
    policy: () => policy,
    providers: () => loadProviders(join(dir, 'config')),
    delegator: 'ada',
    defaultTtlMs: 60 * MIN,
    consentTimeoutMs: 60_000,
    addPolicyRule: async (rule) => {
      added.push(rule);
      return `- { agent: "${rule.agent}", decision: allow }`;
    },
    proxyBase: (credential) => (credential === 'openai' ? 'http://127.0.0.1:9999/openai' : undefined),
    now: () => clock,
    ...overrides,
  });
}

async function records(): Promise<AuditRecord[]> {
  // Appends resolve once durable; an empty append flushes whatever the broker queued before it.
  await audit.append({ event: 'test.flush' });
  return readFileSync(join(dir, 'audit.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AuditRecord)
    .filter((r) => r.event !== 'test.flush');
}

function issued(outcome: GrantOutcome): Extract<GrantOutcome, { status: 'issued' }> {
  expect(outcome.status, JSON.stringify(outcome)).toBe('issued');
  return outcome as Extract<GrantOutcome, { status: 'issued' }>;
}

function pending(outcome: GrantOutcome): Extract<GrantOutcome, { status: 'pending' }> {
  expect(outcome.status, JSON.stringify(outcome)).toBe('pending');
  return outcome as Extract<GrantOutcome, { status: 'pending' }>;
}

function denied(outcome: GrantOutcome): Extract<GrantOutcome, { status: 'denied' }> {
  expect(outcome.status, JSON.stringify(outcome)).toBe('denied');
  return outcome as Extract<GrantOutcome, { status: 'denied' }>;
}

async function open(agent: string, extra: { pid?: number; parent?: Session; tree?: boolean } = {}): Promise<{ session: Session; token: string }> {
  const { token } = await broker.openSession({ agent, pid: extra.pid ?? 4242, parent: extra.parent, tree: extra.tree });
  return { session: broker.sessionForToken(token)!, token };
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keyward-broker-'));
  audit = new AuditLog(join(dir, 'audit.jsonl'), join(dir, 'audit.head'));
  await audit.open();
  vault = new Vault(new MemoryStore(), join(dir, 'vault.json'));
  await vault.add('openai', 'openai', OPENAI_KEY, 'test');
  await vault.add('github', 'github', 'ghp_not_a_real_value_000000000000000000', 'test');
  await vault.add('db', 'generic', 'postgres://u:p@h/db', 'test');
  clock = Date.parse('2026-01-01T00:00:00Z');
  added = [];
  policy = policyFrom(`defaults: { decision: ask, maxTtl: 1h }
rules:
  - { agent: "claude-code", credential: openai, permission: chat, decision: allow, maxTtl: 5m }
  - { agent: "releaser", credential: openai, permission: release, decision: allow }
  - { agent: "*", credential: db, permission: release, decision: deny }
  - { agent: "*", credential: github, permission: "repo:read", decision: allow }
`);
  broker = makeBroker();
});

afterEach(async () => {
  await broker.shutdown();
  // The vault writes "last used" on a timer: write it now, before the directory goes.
  vault.flushUse();
  await audit.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('grant TTL', () => {
  it("is capped by the policy's maxTtl, and the audit says so", async () => {
    const { session } = await open('claude-code');
    const long = issued(await broker.requestGrant(session, { credential: 'openai', permission: 'chat', mode: 'proxy', ttl: 60 * MIN }));
    expect(Date.parse(long.grant.expires) - Date.parse(long.grant.issued)).toBe(5 * MIN);
    const record = (await records()).find((r) => r.event === 'grant.issue')!;
    expect(record.ttl).toBe(5 * MIN);
    expect(record.reason).toMatch(/; TTL capped at 300s by policy$/);
  });

  it('keeps a shorter requested TTL, and caps the default TTL too', async () => {
    const { session } = await open('claude-code');
    const short = issued(await broker.requestGrant(session, { credential: 'openai', permission: 'chat', mode: 'proxy', ttl: 2 * MIN }));
    expect(Date.parse(short.grant.expires) - clock).toBe(2 * MIN);
    expect(short.reason).not.toContain('capped');
    const dflt = issued(await broker.requestGrant(session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
    expect(Date.parse(dflt.grant.expires) - clock).toBe(5 * MIN);
  });

  it('uses the default TTL under the default maxTtl', async () => {
    policy = { ...DEFAULT_POLICY, defaults: { decision: 'allow', maxTtl: 2 * 60 * MIN } };
    const { session } = await open('claude-code');
    const g = issued(await broker.requestGrant(session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
    expect(Date.parse(g.grant.expires) - clock).toBe(60 * MIN);
  });

  it('is refused outside 1 ms to 24 hours', async () => {
    const { session } = await open('claude-code');
    for (const ttl of [0, -1, MAX_TTL_MS + 1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(broker.requestGrant(session, { credential: 'openai', permission: 'chat', mode: 'proxy', ttl }), String(ttl)).rejects.toMatchObject({
        code: 'bad_request',
        message: 'ttl must be between 1 ms and 24 hours',
      });
    }
    policy = { ...DEFAULT_POLICY, defaults: { decision: 'allow', maxTtl: MAX_TTL_MS } };
    issued(await broker.requestGrant(session, { credential: 'openai', permission: 'chat', mode: 'proxy', ttl: MAX_TTL_MS }));
    issued(await broker.requestGrant(session, { credential: 'openai', permission: 'chat', mode: 'proxy', ttl: 1 }));
  });

  it('makes the token worthless once the clock passes the expiry, and the timer records the expiry', async () => {
    const { session } = await open('claude-code');
    const g = issued(await broker.requestGrant(session, { credential: 'openai', permission: 'chat', mode: 'proxy', ttl: 1000 }));
    expect(broker.grantForToken(g.token)?.id).toBe(g.grant.id);
    clock += 999;
    expect(broker.grantForToken(g.token)?.id).toBe(g.grant.id);
    clock += 1;
    expect(broker.grantForToken(g.token)).toBeUndefined();
    // The timer runs on real time: wait for its record, not for a fixed delay.
    const expired = new Promise<AuditRecord>((resolve) => {
      audit.onRecord = (r) => r.event === 'grant.expire' && resolve(r);
    });
    const short = issued(await broker.requestGrant(session, { credential: 'openai', permission: 'chat', mode: 'proxy', ttl: 20 }));
    const record = await expired;
    expect(record).toMatchObject({ grant: short.grant.id, agent: 'claude-code', session: session.id, credential: 'openai', permission: 'chat' });
    expect(broker.listGrants().map((x) => x.id)).toEqual([g.grant.id]);
    expect(session.grants.has(short.grant.id)).toBe(false);
  });
});

describe('policy through the broker', () => {
  it('denies when a deny rule matches, whichever order the rules are in', async () => {
    for (const rules of [
      ['{ agent: "*", credential: openai, decision: allow }', '{ agent: "*", credential: openai, decision: deny }'],
      ['{ agent: "*", credential: openai, decision: deny }', '{ agent: "*", credential: openai, decision: allow }'],
    ]) {
      policy = policyFrom(`defaults: { decision: allow, maxTtl: 1h }\nrules:\n  - ${rules[0]}\n  - ${rules[1]}\n`);
      const { session } = await open('claude-code');
      const d = denied(await broker.requestGrant(session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
      expect(d.reason).toMatch(/^policy denies it: rule \d \(policy\.yaml line \d\) \[agent \*, credential openai\] says deny for claude-code$/);
      expect(d.needs).toBe('openai:chat');
    }
    expect(broker.listGrants()).toEqual([]);
  });

  it('records request, decision and outcome, never the token or the secret', async () => {
    const { session, token } = await open('claude-code');
    const g = issued(await broker.requestGrant(session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
    const recs = await records();
    expect(recs.map((r) => r.event)).toEqual(['session.start', 'grant.request', 'grant.decision', 'grant.issue']);
    expect(recs[2]).toMatchObject({ decision: 'allow', agent: 'claude-code', chain: ['ada', 'claude-code'], credential: 'openai', permission: 'chat', mode: 'proxy' });
    expect(recs[3]).toMatchObject({ grant: g.grant.id, expires: g.grant.expires, decision: 'allow' });
    const text = readFileSync(join(dir, 'audit.jsonl'), 'utf8');
    for (const s of [token, g.token, OPENAI_KEY]) expect(text).not.toContain(s);
  });
});

describe('tokens', () => {
  it('name their own session or grant, and nothing else', async () => {
    const a = await open('claude-code');
    const b = await open('claude-code');
    expect(broker.sessionForToken(a.token)?.id).toBe(a.session.id);
    expect(broker.sessionForToken(b.token)?.id).toBe(b.session.id);
    expect(broker.sessionForToken(undefined)).toBeUndefined();
    expect(broker.sessionForToken('')).toBeUndefined();
    expect(broker.sessionForToken(newToken('kws'))).toBeUndefined();
    expect(broker.sessionForToken(a.token.slice(0, -1) + (a.token.endsWith('A') ? 'B' : 'A'))).toBeUndefined();
    const g = issued(await broker.requestGrant(a.session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
    expect(broker.grantForToken(a.token)).toBeUndefined();
    expect(broker.sessionForToken(g.token)).toBeUndefined();
    expect(broker.grantForToken(undefined)).toBeUndefined();
    expect(broker.grantForToken(newToken('kwg'))).toBeUndefined();
    expect(broker.sessionOf(broker.grantForToken(g.token)!)?.id).toBe(a.session.id);
  });

  it('gives the agent the grant token under the provider variables, never the secret', async () => {
    const { session } = await open('claude-code');
    const g = issued(await broker.requestGrant(session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
    expect(g.env).toEqual({ OPENAI_API_KEY: g.token, OPENAI_BASE_URL: 'http://127.0.0.1:9999/openai/v1' });
    const gh = issued(await broker.requestGrant(session, { credential: 'github', permission: 'repo:read', resource: 'acme/app', mode: 'proxy' }));
    expect(gh.env).toEqual({ GITHUB_TOKEN: gh.token, GH_TOKEN: gh.token, GITHUB_PERSONAL_ACCESS_TOKEN: gh.token });
    const rel = await open('releaser');
    const r = issued(await broker.requestGrant(rel.session, { credential: 'openai', permission: 'release', mode: 'release' }));
    expect(r.env).toEqual({});
  });
});

describe('sessions', () => {
  it('refuses agent names that are not plain identifiers', async () => {
    for (const agent of ['', 'bad name', '-x', 'a'.repeat(65), 'x\ny']) {
      await expect(broker.openSession({ agent, pid: 1 }), JSON.stringify(agent)).rejects.toMatchObject({ code: 'bad_request' });
    }
    expect((await broker.openSession({ agent: 'a'.repeat(64), pid: 1 })).session.agent).toBe('a'.repeat(64));
    expect((await broker.openSession({ agent: 'mcp:git@hub/x+y.z_w', pid: 1 })).session.agent).toBe('mcp:git@hub/x+y.z_w');
  });

  it('carries the delegation chain and the delegator, and trims the task', async () => {
    const outer = await open('claude-code');
    const { session: info } = await broker.openSession({ agent: 'mcp:github', task: 't'.repeat(600), pid: 7, parent: outer.session });
    expect(info).toMatchObject({ agent: 'mcp:github', delegator: 'ada', parent: outer.session.id, chain: ['ada', 'claude-code', 'mcp:github'], pid: 7, grants: 0 });
    expect(info.task).toHaveLength(500);
    expect(info.started).toBe(new Date(clock).toISOString());
    expect((await records()).at(-1)).toMatchObject({ event: 'session.start', detail: { parent: outer.session.id }, pid: 7 });
  });

  it('are found by process ancestry: innermost first, and only where they own the process tree', async () => {
    const outer = await open('claude-code', { pid: 100 });
    const inner = await open('mcp:x', { pid: 200, parent: outer.session });
    await open('editor-client', { pid: 300, tree: false });
    expect(broker.sessionForProcesses([250, 200, 150, 100, 1])?.id).toBe(inner.session.id);
    expect(broker.sessionForProcesses([150, 100, 1])?.id).toBe(outer.session.id);
    expect(broker.sessionForProcesses([350, 300, 1])).toBeUndefined();
    expect(broker.sessionForProcesses([])).toBeUndefined();
  });

  it('end with their sub-agents, revoking every grant and denying pending consent', async () => {
    const outer = await open('claude-code', { pid: 100 });
    const inner = await open('mcp:x', { pid: 200, parent: outer.session });
    const g1 = issued(await broker.requestGrant(outer.session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
    const g2 = issued(await broker.requestGrant(inner.session, { credential: 'github', permission: 'repo:read', resource: 'acme/app', mode: 'proxy' }));
    const ask = pending(await broker.requestGrant(inner.session, { credential: 'openai', permission: 'models', mode: 'proxy' }));
    const waiting = broker.waitConsent(inner.session, ask.consent, 60_000);
    expect(await broker.endSession(outer.session, 'test over')).toBe(2);
    expect((await waiting).status).toBe('denied');
    for (const t of [g1.token, g2.token]) expect(broker.grantForToken(t)).toBeUndefined();
    expect(broker.sessionForToken(outer.token)).toBeUndefined();
    expect(broker.sessionForToken(inner.token)).toBeUndefined();
    expect(broker.activeSessions()).toEqual([]);
    expect(broker.counts()).toEqual({ sessions: 0, grants: 0, pending: 0 });
    expect(await broker.endSession(outer.session, 'again')).toBe(0);
    const recs = await records();
    expect(recs.filter((r) => r.event === 'grant.revoke').map((r) => r.reason)).toEqual([
      'session ended (parent session ' + outer.session.id + ' ended)',
      'session ended (test over)',
    ]);
    expect(recs.filter((r) => r.event === 'session.end').map((r) => [r.session, r.detail])).toEqual([
      [inner.session.id, { revoked: 1 }],
      [outer.session.id, { revoked: 2 }],
    ]);
    expect(recs.find((r) => r.event === 'consent.answer')).toMatchObject({ decision: 'deny', reason: 'session ended' });
  });

  it('are reaped when their root process is gone', async () => {
    const a = await open('claude-code', { pid: 100 });
    const b = await open('claude-code', { pid: 200 });
    await broker.reapSessions((pid) => pid !== 100);
    expect(broker.sessionForToken(a.token)).toBeUndefined();
    expect(broker.sessionForToken(b.token)?.id).toBe(b.session.id);
    expect((await records()).find((r) => r.event === 'session.end')).toMatchObject({ session: a.session.id, reason: 'process 100 exited' });
  });

  it('get no grant once ended, even one a person allows afterwards', async () => {
    const s = await open('cursor');
    const ask = pending(await broker.requestGrant(s.session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
    await broker.endSession(s.session, 'gone');
    await expect(broker.answerConsent(ask.consent, 'allow-once', 'ada')).rejects.toMatchObject({ code: 'already_answered' });
    expect(broker.listGrants()).toEqual([]);
  });
});

describe('requests are checked before any decision', () => {
  it('refuses unknown credentials, unknown permissions and misplaced resources', async () => {
    policy = { ...DEFAULT_POLICY, defaults: { decision: 'allow', maxTtl: 60 * MIN } };
    const { session } = await open('claude-code');
    const cases: [Parameters<Broker['requestGrant']>[1], string, RegExp][] = [
      [{ credential: 'nope', permission: 'chat', mode: 'proxy' }, 'unknown_credential', /^no vault entry named nope$/],
      [{ credential: 'openai', permission: 'fly', mode: 'proxy' }, 'unknown_permission', /^provider openai has no permission "fly"$/],
      [{ credential: 'github', permission: 'repo:read', mode: 'proxy' }, 'resource_required', /applies to one resource/],
      [{ credential: 'openai', permission: 'chat', resource: 'x', mode: 'proxy' }, 'bad_request', /takes no resource/],
      [{ credential: 'openai', permission: 'chat', mode: 'release' }, 'bad_request', /release grants have the permission "release"/],
    ];
    for (const [r, code, message] of cases)
      await expect(broker.requestGrant(session, r), JSON.stringify(r)).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
    for (const resource of ['acme/*', 'acme/a?', 'acme/../x', 'acme app', 'a\tb', 'acme/' + 'x'.repeat(196)]) {
      await expect(broker.requestGrant(session, { credential: 'github', permission: 'repo:read', resource, mode: 'proxy' }), resource).rejects.toMatchObject({
        code: 'bad_request',
        message: 'the resource must be a plain name (no spaces, wildcards or "..")',
      });
    }
    issued(await broker.requestGrant(session, { credential: 'github', permission: 'repo:read', resource: 'acme/' + 'x'.repeat(195), mode: 'proxy' }));
    issued(await broker.requestGrant(session, { credential: 'github', permission: 'repo:read', resource: 'acme/app.v2', mode: 'proxy' }));
    // Nothing was decided for the refused requests.
    expect((await records()).filter((r) => r.event === 'grant.request')).toHaveLength(2);
  });

  it('parses credential:permission[:resource], the longest known permission first', () => {
    expect(broker.parseSpec('github:repo:read:acme/app', 'proxy')).toEqual({ credential: 'github', permission: 'repo:read', resource: 'acme/app' });
    expect(broker.parseSpec('openai:chat', 'proxy')).toEqual({ credential: 'openai', permission: 'chat', resource: undefined });
    expect(broker.parseSpec('github:repo:read:a:b', 'proxy')).toEqual({ credential: 'github', permission: 'repo:read', resource: 'a:b' });
    expect(broker.parseSpec('openai', 'release')).toEqual({ credential: 'openai', permission: 'release' });
    expect(broker.parseSpec('openai:release', 'release')).toEqual({ credential: 'openai', permission: 'release' });
    expect(() => broker.parseSpec('openai:chat', 'release')).toThrow(/a release grant names only a credential, not "openai:chat"/);
    expect(() => broker.parseSpec('nope:chat', 'proxy')).toThrow(expect.objectContaining({ code: 'unknown_credential' }));
    expect(() => broker.parseSpec('openai:fly', 'proxy')).toThrow(
      expect.objectContaining({ code: 'unknown_permission', message: '"openai:fly" names no permission of provider openai' }),
    );
    expect(() => broker.parseSpec('openai:chta', 'proxy')).toThrow(expect.objectContaining({ hint: expect.stringMatching(/^Did you mean openai:chat\? Use openai:<permission>/) }));
    expect(() => broker.parseSpec('openai', 'proxy')).toThrow(expect.objectContaining({ code: 'unknown_permission' }));
  });
});

describe('release', () => {
  it('hands the secret only to the session holding a live release grant, and audits it', async () => {
    const rel = await open('releaser');
    const other = await open('releaser');
    const g = issued(await broker.requestGrant(rel.session, { credential: 'openai', permission: 'release', mode: 'release' }));
    await expect(broker.release(other.session, g.token)).rejects.toMatchObject({ code: 'invalid_grant' });
    await expect(broker.release(rel.session, newToken('kwg'))).rejects.toMatchObject({ code: 'invalid_grant' });
    expect(await broker.release(rel.session, g.token)).toMatchObject({ value: OPENAI_KEY, grant: { id: g.grant.id, mode: 'release' } });
    expect((await records()).at(-1)).toMatchObject({
      event: 'grant.release',
      grant: g.grant.id,
      credential: 'openai',
      permission: 'release',
      mode: 'release',
      reason: 'secret handed to the agent process',
    });
    expect(await broker.revoke({ grant: g.grant.id })).toBe(1);
    await expect(broker.release(rel.session, g.token)).rejects.toMatchObject({ code: 'invalid_grant' });
  });

  it('never hands out the key of a proxy grant', async () => {
    const { session } = await open('claude-code');
    const g = issued(await broker.requestGrant(session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
    await expect(broker.release(session, g.token)).rejects.toMatchObject({ code: 'proxy_only' });
  });

  it('is denied by a deny rule for release', async () => {
    const { session } = await open('releaser');
    expect(denied(await broker.requestGrant(session, { credential: 'db', permission: 'release', mode: 'release' })).needs).toBe('db:release');
  });
});

describe('revocation', () => {
  it('by id, session, credential, agent or all, and nothing without a filter', async () => {
    const a = await open('claude-code');
    const b = await open('mcp:one');
    const ga = issued(await broker.requestGrant(a.session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
    const gb = issued(await broker.requestGrant(b.session, { credential: 'github', permission: 'repo:read', resource: 'acme/app', mode: 'proxy' }));
    issued(await broker.requestGrant(b.session, { credential: 'github', permission: 'repo:read', resource: 'acme/lib', mode: 'proxy' }));
    expect(await broker.revoke({})).toBe(0);
    expect(await broker.revoke({ grant: 'gr_nope' })).toBe(0);
    expect(await broker.revoke({ grant: ga.grant.id })).toBe(1);
    expect(broker.grantForToken(ga.token)).toBeUndefined();
    expect(broker.grantForToken(gb.token)?.id).toBe(gb.grant.id);
    expect(await broker.revoke({ credential: 'github' }, 'key rotated')).toBe(2);
    expect((await records()).at(-1)).toMatchObject({ event: 'grant.revoke', reason: 'key rotated', credential: 'github' });
    issued(await broker.requestGrant(a.session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
    issued(await broker.requestGrant(b.session, { credential: 'github', permission: 'repo:read', resource: 'acme/app', mode: 'proxy' }));
    expect(await broker.revoke({ agent: (x) => x.startsWith('mcp:') })).toBe(1);
    expect(broker.listGrants().map((g) => g.agent)).toEqual(['claude-code']);
    expect(await broker.revoke({ session: b.session.id })).toBe(0);
    expect(await broker.revoke({ session: a.session.id })).toBe(1);
    issued(await broker.requestGrant(a.session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
    issued(await broker.requestGrant(b.session, { credential: 'github', permission: 'repo:read', resource: 'acme/app', mode: 'proxy' }));
    expect(await broker.revoke({ all: true })).toBe(2);
    expect(broker.listGrants()).toEqual([]);
  });

  it('lists grants per session', async () => {
    const a = await open('claude-code');
    const b = await open('claude-code');
    const ga = issued(await broker.requestGrant(a.session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
    issued(await broker.requestGrant(b.session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
    expect(broker.listGrants({ session: a.session.id }).map((g) => g.id)).toEqual([ga.grant.id]);
    expect(broker.listGrants()).toHaveLength(2);
    expect(broker.listGrants({ session: a.session.id })[0]).toMatchObject({ session: a.session.id, agent: 'claude-code', chain: ['ada', 'claude-code'], provider: 'openai' });
  });
});

describe('consent', () => {
  it('asks a person when the policy says ask, and issues on allow-once for that request only', async () => {
    const s = await open('cursor');
    const events: string[] = [];
    broker.on('consent', (c: { id: string }) => events.push(c.id));
    const ask = pending(await broker.requestGrant(s.session, { credential: 'openai', permission: 'chat', mode: 'proxy', ttl: 90 * MIN }));
    expect(events).toEqual([ask.consent]);
    expect(ask.reason).toBe('no rule matches cursor; the default is ask');
    expect(broker.pendingConsents()).toEqual([
      expect.objectContaining({
        id: ask.consent,
        agent: 'cursor',
        delegator: 'ada',
        chain: ['ada', 'cursor'],
        provider: 'openai',
        ttl: 60 * MIN,
        policy: { decision: 'ask', reason: ask.reason },
      }),
    ]);
    const waiting = broker.waitConsent(s.session, ask.consent, 60_000);
    const answer = await broker.answerConsent(ask.consent, 'allow-once', 'pid 1');
    const g = issued(answer.outcome);
    expect(g.reason).toBe(`allow-once by pid 1 (policy: ${ask.reason})`);
    expect(Date.parse(g.grant.expires) - clock).toBe(60 * MIN);
    expect(await waiting).toEqual(answer.outcome);
    expect(await broker.waitConsent(s.session, ask.consent, 0)).toEqual(answer.outcome);
    expect(broker.pendingConsents()).toEqual([]);
    await expect(broker.answerConsent(ask.consent, 'allow-once', 'pid 1')).rejects.toMatchObject({ code: 'already_answered' });
    pending(await broker.requestGrant(s.session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
  });

  it('remembers allow-session for that session and that request only', async () => {
    const s = await open('cursor');
    const other = await open('cursor');
    const ask = pending(await broker.requestGrant(s.session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
    issued((await broker.answerConsent(ask.consent, 'allow-session', 'ada')).outcome);
    const again = issued(await broker.requestGrant(s.session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
    expect(again.reason).toBe('allowed for this session by a person (policy: no rule matches cursor; the default is ask)');
    pending(await broker.requestGrant(s.session, { credential: 'openai', permission: 'models', mode: 'proxy' }));
    pending(await broker.requestGrant(other.session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
  });

  it('does not turn a deny into an allow with allow-session', async () => {
    const s = await open('cursor');
    const ask = pending(await broker.requestGrant(s.session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
    await broker.answerConsent(ask.consent, 'allow-session', 'ada');
    policy = policyFrom('defaults: { decision: deny, maxTtl: 1h }\n');
    denied(await broker.requestGrant(s.session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
  });

  it('writes a policy rule on "always"', async () => {
    const s = await open('cursor');
    const ask = pending(await broker.requestGrant(s.session, { credential: 'github', permission: 'repo:write', resource: 'acme/app', mode: 'proxy' }));
    const answer = await broker.answerConsent(ask.consent, 'always', 'ada');
    issued(answer.outcome);
    expect(added).toEqual([{ agent: 'cursor', credential: 'github', permission: 'repo:write', resource: 'acme/app', mode: 'proxy', decision: 'allow' }]);
    expect(answer.rule).toBe('- { agent: "cursor", decision: allow }');
    expect((await records()).find((r) => r.event === 'consent.answer')).toMatchObject({ decision: 'allow', reason: 'always by ada', detail: { rule: answer.rule } });
    const noWriter = makeBroker({ addPolicyRule: undefined });
    const t = await noWriter.openSession({ agent: 'cursor', pid: 1 });
    const p = pending(await noWriter.requestGrant(noWriter.sessionForToken(t.token)!, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
    await expect(noWriter.answerConsent(p.consent, 'always', 'ada')).rejects.toMatchObject({ code: 'unsupported' });
    await noWriter.shutdown();
  });

  it('denies on deny and on timeout, and tells a waiting agent', async () => {
    const s = await open('cursor');
    const ask = pending(await broker.requestGrant(s.session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
    const waiting = broker.waitConsent(s.session, ask.consent, 60_000);
    const answer = await broker.answerConsent(ask.consent, 'deny', 'ada');
    expect(answer.outcome).toEqual({ status: 'denied', reason: 'denied by ada', needs: 'openai:chat' });
    expect(await waiting).toEqual(answer.outcome);
    expect(broker.listGrants()).toEqual([]);

    const quick = makeBroker({ consentTimeoutMs: 10 });
    const t = await quick.openSession({ agent: 'cursor', pid: 1 });
    const qs = quick.sessionForToken(t.token)!;
    const p = pending(await quick.requestGrant(qs, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
    const settled = new Promise((resolve) => quick.once('consent-settled', resolve));
    expect(await quick.waitConsent(qs, p.consent, 60_000)).toEqual({ status: 'denied', reason: 'nobody answered the consent request in time', needs: 'openai:chat' });
    expect(await settled).toBe(p.consent);
    expect((await records()).filter((r) => r.event === 'consent.answer').map((r) => r.reason)).toEqual(['denied by ada', 'timed out']);
    await quick.shutdown();
  });

  it("answers a poll with pending when nobody answered yet, and refuses another session's poll", async () => {
    const s = await open('cursor');
    const other = await open('cursor');
    const ask = pending(await broker.requestGrant(s.session, { credential: 'openai', permission: 'chat', mode: 'proxy' }));
    expect(await broker.waitConsent(s.session, ask.consent, 1)).toEqual({ status: 'pending', consent: ask.consent, expires: ask.expires, reason: ask.reason });
    await expect(broker.waitConsent(other.session, ask.consent, 1)).rejects.toMatchObject({ code: 'unknown_consent' });
    await expect(broker.waitConsent(s.session, 'cr_nope', 1)).rejects.toMatchObject({ code: 'unknown_consent' });
    await expect(broker.answerConsent('cr_nope', 'allow-once', 'ada')).rejects.toMatchObject({ code: 'unknown_consent' });
    expect(ask.expires).toBe(new Date(clock + 60_000).toISOString());
  });
});
