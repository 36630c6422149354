import { EventEmitter } from 'node:events';
import type { AuditEvent, AuditLog } from '../audit/log.js';
import { DaemonError } from '../errors.js';
import { base62FromBytes } from '../../kernel/checksum.js';
import { didYouMean, nearest } from '../../kernel/nearest.js';
import { decide, decideFor, type Decision, type Policy, type PolicyRule } from '../policy/policy.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { canonicalResource } from '../providers/resource.js';
import type { MintedCredential, Minter } from '../providers/minters/types.js';
import type { ProviderProfile } from '../providers/types.js';
import { digestsEqual, isWellFormedToken, newToken, pooledRandom, tokenDigest } from '../tokens.js';
import type { Vault, VaultEntry } from '../vault/vault.js';

/**
 * The broker: sessions, grants and consent, held in memory only. A daemon restart therefore
 * voids every token (fail closed). Every state change is written to the audit log before the
 * caller hears about it. The broker decides nothing itself: the policy does (`decide`), and the
 * socket handlers and the proxy enforce.
 */
export type GrantMode = 'proxy' | 'release';

export interface Session {
  id: string;
  digest: Buffer;
  agent: string;
  task?: string;
  delegator: string;
  parent?: string;
  /** Agents from the outermost delegate to this one. */
  chain: string[];
  pid: number;
  /**
   * Whether the descendants of `pid` belong to the session: true for `keyward run`, which starts
   * the agent; false where the proxy opens a session for an MCP client that keyward did not start
   * (an editor, a desktop app), whose other children (terminals, tools) are not that agent.
   */
  tree: boolean;
  /** When the root process started (Linux), so a reused pid is not taken for it. */
  start?: string;
  started: number;
  grants: Set<string>;
  /** Requests a person allowed "for this session": credential|permission|resource. */
  allowed: Set<string>;
}

export interface Grant {
  id: string;
  digest: Buffer;
  session: string;
  credential: string;
  provider: string;
  permission: string;
  resource?: string;
  mode: GrantMode;
  issued: number;
  expires: number;
  revoked?: string;
  timer?: NodeJS.Timeout;
  /** The upstream credential minted for this grant (see providers/minters). */
  minted?: MintedCredential;
  /** Whether the minted credential was handed to a process (release). */
  released?: boolean;
}

export interface GrantRequest {
  credential: string;
  permission: string;
  resource?: string;
  /** Milliseconds; the default TTL when absent, capped by policy. */
  ttl?: number;
  mode: GrantMode;
}

export type ConsentAnswer = 'allow-once' | 'allow-session' | 'always' | 'deny';

export interface ConsentRequest {
  id: string;
  session: Session;
  request: GrantRequest;
  decision: Decision;
  created: number;
  expires: number;
  timer?: NodeJS.Timeout;
  waiters: ((outcome: GrantOutcome) => void)[];
  outcome?: GrantOutcome;
}

export type GrantOutcome =
  | { status: 'issued'; grant: GrantInfo; token: string; env: Record<string, string>; reason: string }
  | { status: 'pending'; consent: string; expires: string; reason: string }
  | { status: 'denied'; reason: string; needs: string };

export interface GrantInfo {
  id: string;
  session: string;
  agent: string;
  chain: string[];
  task?: string;
  credential: string;
  provider: string;
  permission: string;
  resource?: string;
  mode: GrantMode;
  issued: string;
  expires: string;
  /** The minted upstream credential's identifiers (never its secret). */
  upstream?: Record<string, string | string[]>;
}

/** A session as the API shows it: `chain` starts with the delegator. */
export type SessionInfo = Pick<Session, 'id' | 'agent' | 'task' | 'delegator' | 'parent' | 'chain' | 'pid'> & { started: string; grants: number };

export interface ConsentInfo {
  id: string;
  session: string;
  agent: string;
  delegator: string;
  chain: string[];
  task?: string;
  credential: string;
  provider?: string;
  permission: string;
  resource?: string;
  mode: GrantMode;
  ttl: number;
  policy: { decision: string; reason: string };
  created: string;
  expires: string;
}

export interface BrokerDeps {
  vault: Vault;
  audit: AuditLog;
  policy: () => Policy;
  providers: () => ProviderRegistry;
  delegator: string;
  defaultTtlMs: number;
  consentTimeoutMs: number;
  /** Writes an "always allow" rule to policy.yaml; returns the rule as written. */
  addPolicyRule?: (rule: PolicyRule) => Promise<string>;
  /** Base URL of the local proxy for a credential (base-URL mode), when the proxy runs. */
  proxyBase?: (credential: string) => string | undefined;
  now?: () => number;
  random?: (n: number) => Buffer;
  /** The minter serving a vault entry, if its upstream can issue short-lived credentials. */
  minterFor?: (entry: VaultEntry) => Minter | undefined;
  /** `user@host`: marks what this keyward creates upstream (PostgreSQL roles). */
  owner?: string;
  log?: (entry: Record<string, unknown>) => void;
}

/** Permissions a request can name, and whether each applies to one resource. */
type PermissionTable = Record<string, { resource: boolean }>;

const AGENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,63}$/;
export const MAX_TTL_MS = 24 * 60 * 60_000;

export class Broker extends EventEmitter {
  private readonly sessions = new Map<string, Session>();
  private readonly sessionsByDigest = new Map<string, Session>();
  private readonly grants = new Map<string, Grant>();
  private readonly grantsByDigest = new Map<string, Grant>();
  private readonly consents = new Map<string, ConsentRequest>();
  private readonly now: () => number;
  private readonly random: (n: number) => Buffer;

  constructor(private readonly deps: BrokerDeps) {
    super();
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? pooledRandom;
  }

  private id(prefix: string): string {
    return `${prefix}_${base62FromBytes(this.random(8))}`;
  }

  private async audit(event: AuditEvent): Promise<void> {
    await this.deps.audit.append(event);
  }

  private sessionFields(s: Session): Pick<AuditEvent, 'agent' | 'session' | 'delegator' | 'chain' | 'task'> {
    return { agent: s.agent, session: s.id, delegator: s.delegator, chain: [s.delegator, ...s.chain], task: s.task };
  }

  // ── sessions ────────────────────────────────────────────────────────────────────────────

  /** The session a token belongs to; undefined for anything else (malformed, ended, unknown). */
  sessionForToken(token: string | undefined): Session | undefined {
    if (!token || !isWellFormedToken(token, 'kws')) return undefined;
    const digest = tokenDigest(token);
    const session = this.sessionsByDigest.get(digest.toString('hex'));
    return session && digestsEqual(session.digest, digest) ? session : undefined;
  }

  /** The innermost live session whose root process is `pid` or one of its ancestors. */
  sessionForProcesses(pids: number[]): Session | undefined {
    for (const pid of pids) {
      for (const s of this.sessions.values()) if (s.pid === pid && s.tree) return s;
    }
    return undefined;
  }

  activeSessions(): Session[] {
    return [...this.sessions.values()].filter((s) => this.isLive(s));
  }

  private isLive(session: Session): boolean {
    return this.sessionsByDigest.get(session.digest.toString('hex')) === session;
  }

  async openSession(input: { agent: string; task?: string; pid: number; parent?: Session; tree?: boolean; start?: string }): Promise<{ session: SessionInfo; token: string }> {
    if (!AGENT_NAME.test(input.agent)) {
      throw new DaemonError('bad_request', `"${input.agent}" is not a valid agent name`, {
        hint: 'Use up to 64 letters, digits and . _ : @ / + -, e.g. claude-code or mcp:github.',
      });
    }
    const token = newToken('kws', this.random);
    const digest = tokenDigest(token);
    const parent = input.parent;
    const session: Session = {
      id: this.id('ses'),
      digest,
      agent: input.agent,
      task: input.task?.slice(0, 500),
      delegator: this.deps.delegator,
      parent: parent?.id,
      chain: [...(parent?.chain ?? []), input.agent],
      pid: input.pid,
      tree: input.tree ?? true,
      start: input.start,
      started: this.now(),
      grants: new Set(),
      allowed: new Set(),
    };
    await this.audit({ event: 'session.start', ...this.sessionFields(session), pid: input.pid, detail: parent ? { parent: parent.id } : undefined });
    this.sessions.set(session.id, session);
    this.sessionsByDigest.set(digest.toString('hex'), session);
    this.emit('change');
    return { session: this.sessionInfo(session), token };
  }

  /** Ends a session, its sub-agents' sessions, their grants and pending consent requests. */
  async endSession(session: Session, reason: string, options: { keepReleased?: boolean } = {}): Promise<number> {
    if (!this.sessionsByDigest.has(session.digest.toString('hex'))) return 0;
    // The token stops working at once; the record stays until its grants are revoked, so their
    // audit records still name the agent and its chain.
    this.sessionsByDigest.delete(session.digest.toString('hex'));
    let revoked = 0;
    for (const child of [...this.sessions.values()].filter((s) => s.parent === session.id)) revoked += await this.endSession(child, `parent session ${session.id} ended`);
    for (const id of [...session.grants]) {
      const grant = this.grants.get(id);
      if (grant && !grant.revoked) {
        // A credential helper's session ends as soon as it has printed the minted credential;
        // the tool that asked for it (git, the AWS CLI) uses it afterwards. Such a credential
        // lives on until the grant expires, is revoked, or the daemon stops.
        if (options.keepReleased && grant.minted && grant.released) {
          session.grants.delete(id);
          this.grantsByDigest.delete(grant.digest.toString('hex'));
          continue;
        }
        await this.revokeGrant(grant, `session ended (${reason})`);
        revoked++;
      }
    }
    for (const c of [...this.consents.values()].filter((c) => c.session.id === session.id)) {
      await this.settleConsent(c, { status: 'denied', reason: 'the session ended before anyone answered', needs: this.needs(c.request) }, 'session ended');
    }
    this.sessions.delete(session.id);
    await this.audit({ event: 'session.end', ...this.sessionFields(session), reason, detail: { revoked } });
    this.emit('change');
    return revoked;
  }

  sessionInfo(s: Session): SessionInfo {
    return {
      id: s.id,
      agent: s.agent,
      task: s.task,
      delegator: s.delegator,
      parent: s.parent,
      chain: [s.delegator, ...s.chain],
      pid: s.pid,
      started: new Date(s.started).toISOString(),
      grants: s.grants.size,
    };
  }

  // ── grants ──────────────────────────────────────────────────────────────────────────────

  /** What an agent would have to ask for: shown in denials so it can ask a person. */
  private needs(r: GrantRequest): string {
    return r.mode === 'release' ? `${r.credential}:release` : [r.credential, r.permission, r.resource].filter(Boolean).join(':');
  }

  /**
   * Splits `credential:permission[:resource]`. Permissions may contain colons (`repo:read`), so
   * the longest prefix that names a permission of the credential's provider wins; the rest is
   * the resource (`github:repo:read:acme/app`).
   */
  parseSpec(spec: string, mode: GrantMode): { credential: string; permission: string; resource?: string } {
    const parts = spec.split(':');
    const credential = parts[0];
    const entry = this.deps.vault.describe(credential);
    const minter = entry && this.deps.minterFor?.(entry);
    // A minted credential is scoped upstream, so a release grant of one may name a permission.
    if (mode === 'release' && (!minter || parts.length === 1 || parts.slice(1).join(':') === 'release')) {
      if (parts.length > 1 && parts.slice(1).join(':') !== 'release') throw new DaemonError('bad_request', `a release grant names only a credential, not "${spec}"`);
      return { credential, permission: 'release' };
    }
    if (!entry) throw new DaemonError('unknown_credential', `no vault entry named ${credential}`, { hint: `Add it first: keyward vault add ${credential} --provider <provider>` });
    const profile = this.deps.providers().get(entry.provider) ?? this.deps.providers().get('generic')!;
    const table = this.permissionTable(entry, profile);
    for (let n = parts.length; n >= 2; n--) {
      const permission = parts.slice(1, n).join(':');
      if (table[permission]) {
        const resource = parts.slice(n).join(':') || undefined;
        return { credential, permission, resource };
      }
    }
    const known = Object.keys(table);
    const near = didYouMean(nearest(parts[1] ?? '', known), (p) => `${credential}:${p}`);
    throw new DaemonError('unknown_permission', `"${spec}" names no permission of provider ${profile.name}`, {
      hint: `${near ? `${near} ` : ''}Use ${credential}:<permission>[:<resource>] with one of: ${known.join(', ')}.`,
    });
  }

  /**
   * The permissions a grant on this entry can name: the provider's HTTP permissions, or, where a
   * minter serves the entry, the scopes it can mint (for a proxied minter, those of both).
   */
  private permissionTable(entry: VaultEntry, profile: ProviderProfile): PermissionTable {
    const http: PermissionTable = Object.fromEntries(
      Object.entries(profile.permissions).map(([name, rules]) => [name, { resource: rules.some((rule) => rule.paths.some((p) => p.includes('{resource}'))) }]),
    );
    const minter = this.deps.minterFor?.(entry);
    if (!minter) return http;
    const minted = minter.permissions(profile);
    return minter.proxy ? Object.fromEntries(Object.entries(http).filter(([name]) => minted[name])) : minted;
  }

  /**
   * Checks a request against the vault and the provider profile before any decision. A grant of
   * a minted credential that the proxy cannot inject (AWS, PostgreSQL) is a release grant: the
   * process gets the minted credential, scoped and short-lived, never the root.
   */
  private validate(r: GrantRequest): ProviderProfile {
    const entry = this.deps.vault.describe(r.credential);
    if (!entry)
      throw new DaemonError('unknown_credential', `no vault entry named ${r.credential}`, { hint: `Add it first: keyward vault add ${r.credential} --provider <provider>` });
    const profile = this.deps.providers().get(entry.provider) ?? this.deps.providers().get('generic')!;
    if (r.ttl !== undefined && (!Number.isFinite(r.ttl) || r.ttl <= 0 || r.ttl > MAX_TTL_MS)) {
      throw new DaemonError('bad_request', 'ttl must be between 1 ms and 24 hours');
    }
    const minter = this.deps.minterFor?.(entry);
    if (minter && !minter.proxy && r.mode === 'proxy') r.mode = 'release';
    if (r.mode === 'release' && (!minter || r.permission === 'release')) {
      if (r.permission !== 'release') throw new DaemonError('bad_request', 'release grants have the permission "release"');
      return profile;
    }
    const table = this.permissionTable(entry, profile);
    const permission = table[r.permission];
    if (!permission) {
      const known = Object.keys(table);
      const near = didYouMean(nearest(r.permission, known));
      throw new DaemonError('unknown_permission', `provider ${profile.name} has no permission "${r.permission}"`, {
        hint: `${near ? `${near} ` : ''}Known permissions of ${profile.name}: ${known.join(', ')}.`,
      });
    }
    const needsResource = permission.resource;
    if (needsResource && !r.resource) {
      throw new DaemonError('resource_required', `permission ${r.permission} of ${profile.name} applies to one resource; name it`, {
        hint: `For example --grant ${r.credential}:${r.permission}:owner/repo`,
      });
    }
    if (!needsResource && r.resource) {
      throw new DaemonError('bad_request', `permission ${r.permission} of ${profile.name} takes no resource`);
    }
    if (r.resource !== undefined && (r.resource.length > 200 || /[\s*?]|\.\./.test(r.resource))) {
      throw new DaemonError('bad_request', 'the resource must be a plain name (no spaces, wildcards or "..")');
    }
    if (r.resource !== undefined) {
      // `acme/secret/contents` would slip past a rule on `acme/secret` and still reach it.
      const canonical = canonicalResource(r.resource, profile.resource);
      if (!canonical.ok)
        throw new DaemonError('bad_request', canonical.reason, { hint: `For example ${r.credential}:${r.permission}:${profile.resource?.segments === 2 ? 'owner/repo' : 'name'}` });
      r.resource = canonical.resource;
    }
    return profile;
  }

  private allowKey(r: GrantRequest): string {
    return `${r.credential}|${r.permission}|${r.resource ?? ''}|${r.mode}`;
  }

  /**
   * Asks for a grant: issued, pending a person's answer, or denied. The request and decision
   * records go into the same group commit as the outcome's; the caller hears the outcome only
   * once all of them are durable.
   */
  async requestGrant(session: Session, r: GrantRequest): Promise<GrantOutcome> {
    const profile = this.validate(r);
    const base = { ...this.sessionFields(session), credential: r.credential, permission: r.permission, resource: r.resource, mode: r.mode };
    const written = [this.deps.audit.append({ event: 'grant.request', ...base, ttl: r.ttl })];
    let decision = decide(this.deps.policy(), {
      chain: session.chain,
      credential: r.credential,
      permission: r.permission,
      resource: r.resource,
      mode: r.mode,
      resourceCaseInsensitive: profile.resource?.caseInsensitive,
    });
    if (decision.decision === 'ask' && session.allowed.has(this.allowKey(r))) {
      decision = { ...decision, decision: 'allow', reason: `allowed for this session by a person (policy: ${decision.reason})` };
    }
    written.push(this.deps.audit.append({ event: 'grant.decision', ...base, decision: decision.decision, reason: decision.reason }));
    try {
      if (decision.decision === 'deny') return { status: 'denied', reason: `policy denies it: ${decision.reason}`, needs: this.needs(r) };
      if (decision.decision === 'ask') return await this.askConsent(session, r, decision);
      return await this.issue(session, r, profile, decision);
    } finally {
      await Promise.all(written);
    }
  }

  private async issue(session: Session, r: GrantRequest, profile: ProviderProfile, decision: Decision): Promise<GrantOutcome> {
    if (!this.isLive(session)) return { status: 'denied', reason: 'the session has ended', needs: this.needs(r) };
    const requested = r.ttl ?? this.deps.defaultTtlMs;
    const ttl = Math.min(requested, decision.maxTtl);
    const token = newToken('kwg', this.random);
    const digest = tokenDigest(token);
    const now = this.now();
    const grant: Grant = {
      id: this.id('gr'),
      digest,
      session: session.id,
      credential: r.credential,
      provider: profile.name,
      permission: r.permission,
      resource: r.resource,
      mode: r.mode,
      issued: now,
      expires: now + ttl,
    };
    const entry = this.deps.vault.describe(r.credential);
    const minter = entry && this.deps.minterFor?.(entry);
    if (entry && minter) {
      try {
        grant.minted = await minter.mint({
          root: await this.deps.vault.get(r.credential),
          entry,
          profile,
          owner: this.owner(),
          grant: grant.id,
          permission: r.permission,
          resource: r.resource,
          issued: grant.issued,
          expires: grant.expires,
        });
      } catch (error) {
        // Nothing long-lived is handed out instead: the request fails, naming the upstream's answer.
        await this.audit({
          event: 'grant.mint-failed',
          ...this.sessionFields(session),
          credential: r.credential,
          permission: r.permission,
          resource: r.resource,
          mode: r.mode,
          grant: grant.id,
          reason: (error as Error).message,
        });
        throw error instanceof DaemonError ? error : new DaemonError('mint_failed', `minting a ${minter.kind} credential failed: ${(error as Error).message}`);
      }
      grant.released = grant.mode === 'release';
    }
    await this.audit({
      event: 'grant.issue',
      ...this.sessionFields(session),
      credential: r.credential,
      permission: r.permission,
      resource: r.resource,
      mode: r.mode,
      grant: grant.id,
      ttl,
      expires: new Date(grant.expires).toISOString(),
      decision: decision.decision,
      reason: ttl < requested ? `${decision.reason}; TTL capped at ${Math.round(ttl / 1000)}s by policy` : decision.reason,
      detail: grant.minted ? { upstream: { kind: grant.minted.kind, ...grant.minted.ids }, released: grant.mode === 'release' } : undefined,
    });
    // The session may have ended while the record was written.
    if (!this.isLive(session)) {
      const upstream = await this.revokeUpstream(grant);
      await this.audit({ event: 'grant.revoke', ...this.sessionFields(session), grant: grant.id, credential: r.credential, reason: 'session ended', detail: upstream });
      return { status: 'denied', reason: 'the session has ended', needs: this.needs(r) };
    }
    grant.timer = setTimeout(() => void this.expire(grant), ttl).unref();
    this.grants.set(grant.id, grant);
    this.grantsByDigest.set(digest.toString('hex'), grant);
    session.grants.add(grant.id);
    this.emit('change');
    return { status: 'issued', grant: this.grantInfo(grant), token, env: this.grantEnv(profile, grant, token), reason: decision.reason };
  }

  /** Environment for the agent: the placeholder token in proxy mode; nothing secret ever. */
  private grantEnv(profile: ProviderProfile, grant: Grant, token: string): Record<string, string> {
    // A minted credential released into the environment: scoped to this grant and short-lived.
    if (grant.minted && grant.mode === 'release') return { ...grant.minted.env };
    if (grant.mode !== 'proxy') return {};
    const env: Record<string, string> = {};
    for (const name of [profile.env.key, ...(profile.env.aliases ?? [])]) if (name) env[name] = token;
    const base = this.deps.proxyBase?.(grant.credential);
    if (base && profile.env.baseUrl) env[profile.env.baseUrl] = base + (profile.basePath ?? '');
    return env;
  }

  private async expire(grant: Grant): Promise<void> {
    if (grant.revoked || !this.grants.has(grant.id)) return;
    grant.revoked = 'expired';
    this.forget(grant);
    const session = this.sessions.get(grant.session);
    const upstream = await this.revokeUpstream(grant);
    await this.audit({
      event: 'grant.expire',
      ...(session ? this.sessionFields(session) : { session: grant.session }),
      grant: grant.id,
      credential: grant.credential,
      permission: grant.permission,
      resource: grant.resource,
      detail: upstream,
    });
    this.emit('change');
  }

  private forget(grant: Grant): void {
    if (grant.timer) clearTimeout(grant.timer);
    this.grants.delete(grant.id);
    this.grantsByDigest.delete(grant.digest.toString('hex'));
    this.sessions.get(grant.session)?.grants.delete(grant.id);
  }

  private async revokeGrant(grant: Grant, reason: string): Promise<void> {
    grant.revoked = reason;
    this.forget(grant);
    const session = this.sessions.get(grant.session);
    const upstream = await this.revokeUpstream(grant);
    await this.audit({
      event: 'grant.revoke',
      ...(session ? this.sessionFields(session) : { session: grant.session }),
      grant: grant.id,
      credential: grant.credential,
      permission: grant.permission,
      resource: grant.resource,
      reason,
      detail: upstream,
    });
  }

  private owner(): string {
    return this.deps.owner ?? this.deps.delegator;
  }

  /**
   * Revokes a grant's minted credential upstream, once; returns what happened for the audit
   * record. A failure is recorded, never thrown: the grant is over in keyward either way.
   */
  private async revokeUpstream(grant: Grant): Promise<Record<string, unknown> | undefined> {
    const minted = grant.minted;
    if (!minted) return undefined;
    const ids = { kind: minted.kind, ...minted.ids };
    if (!minted.revoke) return { upstream: { ...ids, revoked: false, note: `${minted.kind} cannot revoke; it ends at ${new Date(minted.expires).toISOString()}` } };
    const revoke = minted.revoke;
    grant.minted = { ...minted, revoke: undefined };
    try {
      await revoke();
      return { upstream: { ...ids, revoked: true } };
    } catch (error) {
      this.deps.log?.({ level: 'error', msg: 'upstream revocation failed', grant: grant.id, error: (error as Error).message });
      return { upstream: { ...ids, revoked: false, error: (error as Error).message } };
    }
  }

  /** A live grant for a token: checked by digest, in constant time, against expiry too. */
  grantForToken(token: string | undefined): Grant | undefined {
    if (!token || !isWellFormedToken(token, 'kwg')) return undefined;
    const digest = tokenDigest(token);
    const grant = this.grantsByDigest.get(digest.toString('hex'));
    if (!grant || !digestsEqual(grant.digest, digest) || grant.revoked) return undefined;
    return grant.expires > this.now() ? grant : undefined;
  }

  sessionOf(grant: Grant): Session | undefined {
    return this.sessions.get(grant.session);
  }

  grantInfo(g: Grant): GrantInfo {
    const s = this.sessions.get(g.session);
    return {
      id: g.id,
      session: g.session,
      agent: s?.agent ?? '?',
      chain: s ? [s.delegator, ...s.chain] : [],
      task: s?.task,
      credential: g.credential,
      provider: g.provider,
      permission: g.permission,
      resource: g.resource,
      mode: g.mode,
      issued: new Date(g.issued).toISOString(),
      expires: new Date(g.expires).toISOString(),
      ...(g.minted ? { upstream: { kind: g.minted.kind, ...g.minted.ids } } : {}),
    };
  }

  listGrants(filter: { session?: string } = {}): GrantInfo[] {
    return [...this.grants.values()].filter((g) => !filter.session || g.session === filter.session).map((g) => this.grantInfo(g));
  }

  /** Revokes grants by id, session, credential, agent glob or all; returns how many. */
  async revoke(
    filter: { grant?: string; session?: string; credential?: string; agent?: (agent: string) => boolean; all?: boolean },
    reason = 'revoked by the user',
  ): Promise<number> {
    const targets = [...this.grants.values()].filter((g) => {
      if (filter.all) return true;
      if (filter.grant) return g.id === filter.grant;
      if (filter.credential) return g.credential === filter.credential;
      if (filter.session) return g.session === filter.session;
      if (filter.agent) return filter.agent(this.sessions.get(g.session)?.agent ?? '');
      return false;
    });
    for (const g of targets) await this.revokeGrant(g, reason);
    if (targets.length) this.emit('change');
    return targets.length;
  }

  /** The secret of a release grant, for the session that holds it. */
  async release(session: Session, grantToken: string): Promise<{ value: string; grant: GrantInfo }> {
    const grant = this.grantForToken(grantToken);
    if (!grant || grant.session !== session.id)
      throw new DaemonError('invalid_grant', "the grant token is not valid for this session (unknown, expired, revoked or another session's)");
    if (grant.mode !== 'release') throw new DaemonError('proxy_only', `grant ${grant.id} is a proxy grant: the key is injected by the proxy and never handed out`);
    const value = grant.minted ? grant.minted.secret : await this.deps.vault.get(grant.credential);
    if (grant.minted) grant.released = true;
    await this.audit({
      event: 'grant.release',
      ...this.sessionFields(session),
      grant: grant.id,
      credential: grant.credential,
      permission: grant.permission,
      mode: 'release',
      reason: grant.minted ? `minted ${grant.minted.kind} credential handed to the agent process` : 'secret handed to the agent process',
      detail: grant.minted ? { upstream: { kind: grant.minted.kind, ...grant.minted.ids } } : undefined,
    });
    return { value, grant: this.grantInfo(grant) };
  }

  // ── consent ─────────────────────────────────────────────────────────────────────────────

  private async askConsent(session: Session, r: GrantRequest, decision: Decision): Promise<GrantOutcome> {
    const now = this.now();
    const consent: ConsentRequest = { id: this.id('cr'), session, request: r, decision, created: now, expires: now + this.deps.consentTimeoutMs, waiters: [] };
    await this.audit({
      event: 'consent.request',
      ...this.sessionFields(session),
      credential: r.credential,
      permission: r.permission,
      resource: r.resource,
      mode: r.mode,
      consent: consent.id,
      reason: decision.reason,
    });
    consent.timer = setTimeout(() => {
      void this.settleConsent(consent, { status: 'denied', reason: 'nobody answered the consent request in time', needs: this.needs(r) }, 'timed out');
    }, this.deps.consentTimeoutMs).unref();
    this.consents.set(consent.id, consent);
    this.emit('consent', this.consentInfo(consent));
    this.emit('change');
    return { status: 'pending', consent: consent.id, expires: new Date(consent.expires).toISOString(), reason: decision.reason };
  }

  consentInfo(c: ConsentRequest): ConsentInfo {
    const entry = this.deps.vault.describe(c.request.credential);
    return {
      id: c.id,
      session: c.session.id,
      agent: c.session.agent,
      delegator: c.session.delegator,
      chain: [c.session.delegator, ...c.session.chain],
      task: c.session.task,
      credential: c.request.credential,
      provider: entry?.provider,
      permission: c.request.permission,
      resource: c.request.resource,
      mode: c.request.mode,
      ttl: Math.min(c.request.ttl ?? this.deps.defaultTtlMs, c.decision.maxTtl),
      policy: { decision: c.decision.decision, reason: c.decision.reason },
      created: new Date(c.created).toISOString(),
      expires: new Date(c.expires).toISOString(),
    };
  }

  pendingConsents(): ConsentInfo[] {
    return [...this.consents.values()]
      .filter((c) => !c.outcome)
      .sort((a, b) => a.created - b.created)
      .map((c) => this.consentInfo(c));
  }

  /**
   * Waits for the outcome of a consent request made by `session`, up to `waitMs`; returns the
   * still-pending state when the wait ends first (the client asks again).
   */
  async waitConsent(session: Session, id: string, waitMs: number): Promise<GrantOutcome> {
    const c = this.consents.get(id);
    if (!c || c.session.id !== session.id) throw new DaemonError('unknown_consent', `no pending consent request ${id} for this session`);
    if (c.outcome) return c.outcome;
    const pending: GrantOutcome = { status: 'pending', consent: c.id, expires: new Date(c.expires).toISOString(), reason: c.decision.reason };
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        c.waiters = c.waiters.filter((w) => w !== done);
        resolve(pending);
      }, waitMs);
      const done = (outcome: GrantOutcome) => {
        clearTimeout(timer);
        resolve(outcome);
      };
      c.waiters.push(done);
    });
  }

  private async settleConsent(c: ConsentRequest, outcome: GrantOutcome, how: string): Promise<void> {
    if (c.outcome) return;
    c.outcome = outcome;
    if (c.timer) clearTimeout(c.timer);
    if (outcome.status === 'denied') {
      await this.audit({
        event: 'consent.answer',
        ...this.sessionFields(c.session),
        consent: c.id,
        credential: c.request.credential,
        permission: c.request.permission,
        resource: c.request.resource,
        decision: 'deny',
        reason: how,
      });
    }
    for (const w of c.waiters) w(outcome);
    c.waiters = [];
    // Keep the settled request briefly so a client polling late still learns the outcome.
    setTimeout(() => this.consents.delete(c.id), 60_000).unref();
    this.emit('consent-settled', c.id);
    this.emit('change');
  }

  /** A person's answer, from `keyward approve` or `keyward consent`. */
  async answerConsent(id: string, answer: ConsentAnswer, approver: string): Promise<{ outcome: GrantOutcome; rule?: string }> {
    const c = this.consents.get(id);
    if (!c) throw new DaemonError('unknown_consent', `no consent request ${id}`, { hint: 'List pending requests with: keyward consent list' });
    if (c.outcome) throw new DaemonError('already_answered', `consent request ${id} was already settled (${c.outcome.status})`);
    if (answer === 'deny') {
      await this.settleConsent(c, { status: 'denied', reason: `denied by ${approver}`, needs: this.needs(c.request) }, `denied by ${approver}`);
      return { outcome: c.outcome! };
    }
    let rule: string | undefined;
    if (answer === 'always') {
      if (!this.deps.addPolicyRule) throw new DaemonError('unsupported', 'this daemon cannot write policy rules');
      const always: PolicyRule = {
        agent: c.session.agent,
        credential: c.request.credential,
        permission: c.request.permission,
        resource: c.request.resource,
        mode: c.request.mode,
        decision: 'allow',
      };
      // A stricter rule (ask or deny) for the same request outranks an allow: say so rather than
      // write a rule that would not stop the asking.
      const policy = this.deps.policy();
      const after = decideFor({ ...policy, rules: [...policy.rules, always] }, c.session.agent, { chain: c.session.chain, ...c.request });
      if (after.decision !== 'allow')
        throw new DaemonError('always_ineffective', `an "always" rule would not take effect: ${after.reason}, and ${after.decision} outranks allow`, {
          hint: 'Change or remove that rule in policy.yaml (keyward policy check shows it), or allow this request once or for the session.',
        });
      rule = await this.deps.addPolicyRule(always);
    }
    if (answer === 'allow-session') c.session.allowed.add(this.allowKey(c.request));
    await this.audit({
      event: 'consent.answer',
      ...this.sessionFields(c.session),
      consent: c.id,
      credential: c.request.credential,
      permission: c.request.permission,
      resource: c.request.resource,
      decision: 'allow',
      reason: `${answer} by ${approver}`,
      detail: rule ? { rule } : undefined,
    });
    const profile = this.validate(c.request);
    let outcome: GrantOutcome;
    try {
      outcome = await this.issue(c.session, c.request, profile, { ...c.decision, decision: 'allow', reason: `${answer} by ${approver} (policy: ${c.decision.reason})` });
    } catch (error) {
      // The upstream refused to mint: the waiting agent hears why instead of waiting for a timeout.
      outcome = { status: 'denied', reason: (error as Error).message, needs: this.needs(c.request) };
    }
    await this.settleConsent(c, outcome, outcome.status === 'denied' ? `${answer}, then refused: ${outcome.reason}` : answer);
    return { outcome, rule };
  }

  // ── lifecycle ───────────────────────────────────────────────────────────────────────────

  /** Ends sessions whose root process has exited (keyward run killed, for example). */
  async reapSessions(isAlive: (pid: number) => boolean): Promise<void> {
    for (const s of [...this.sessions.values()]) {
      if (this.isLive(s) && !isAlive(s.pid)) await this.endSession(s, `process ${s.pid} exited`);
    }
  }

  /**
   * Cancels timers and revokes minted credentials upstream; the daemon is going away and every
   * token dies with it.
   */
  async shutdown(): Promise<void> {
    for (const g of this.grants.values()) if (g.timer) clearTimeout(g.timer);
    for (const c of this.consents.values()) if (c.timer) clearTimeout(c.timer);
    for (const g of [...this.grants.values()].filter((x) => x.minted?.revoke)) await this.revokeGrant(g, 'daemon stopped');
  }

  /**
   * Removes upstream what an earlier run minted and could not revoke (it crashed): every vault
   * entry whose minter keeps track of what it created (PostgreSQL roles). Failures are logged.
   */
  async sweepMinted(): Promise<void> {
    for (const entry of this.deps.vault.list()) {
      const minter = this.deps.minterFor?.(entry);
      if (!minter?.sweep) continue;
      const profile = this.deps.providers().get(entry.provider) ?? this.deps.providers().get('generic')!;
      try {
        const removed = await minter.sweep({ root: await this.deps.vault.get(entry.name), entry, profile, owner: this.owner() }, (grant) => this.grants.has(grant));
        if (removed.length)
          await this.audit({ event: 'mint.sweep', credential: entry.name, reason: 'left by an earlier run of the daemon', detail: { kind: minter.kind, removed } });
      } catch (error) {
        this.deps.log?.({ level: 'warn', msg: 'could not remove credentials an earlier run minted', credential: entry.name, error: (error as Error).message });
      }
    }
  }

  counts(): { sessions: number; grants: number; pending: number } {
    return { sessions: this.sessions.size, grants: this.grants.size, pending: this.pendingConsents().length };
  }
}
