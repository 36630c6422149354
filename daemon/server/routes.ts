import type { ServerResponse } from 'node:http';
import {
  configApplyBody,
  consentAnswerBody,
  findingBody,
  unlockBody,
  grantBody,
  migrationEventBody,
  openSessionBody,
  resolveBody,
  revokeBody,
  SEAL_LIMIT,
  sealBody,
  vaultAddBody,
  vaultBackupBody,
  vaultRestoreBody,
  vaultUpdateBody,
} from '../api/schema.js';
import type { AuditLog, AuditRecord } from '../audit/log.js';
import { DaemonError } from '../errors.js';
import type { Broker, GrantOutcome, Session } from '../broker/broker.js';
import { parseDuration } from '../../kernel/units.js';
import { globMatch } from '../policy/policy.js';
import type { SealDomain } from '../vault/sealer.js';
import type { Vault } from '../vault/vault.js';
import { timingSafeEqual } from 'node:crypto';
import type { FindingRecorder } from '../watch.js';
import { Router, type Context, type Reply } from './http.js';
import { ancestry, inSessionTree, processStart, sessionTokenInEnvironment } from './identity.js';

export interface RouteDeps {
  broker: Broker;
  vault: Vault;
  audit: AuditLog;
  version: string;
  status: () => Record<string, unknown>;
  reloadPolicy: () => Promise<{ ok: boolean; problems: string[] }>;
  /** A change to keyward's configuration on disk that waits for a person (daemon/config-guard.ts). */
  config: {
    pending: () => { id: string; detected: string; problems: string[]; files: { path: string; change: string; diff: string[] }[] } | null;
    apply: (id: string, by: string) => Promise<{ applied: string }>;
  };
  shutdown: () => void;
  /** Connected event-stream clients (keyward approve), for `status` and for `keyward run`'s hint. */
  approvers: Set<ServerResponse>;
  /** The proxy's URL and CA files, for `keyward run` to put in the agent's environment. */
  proxy: () => { url: string; caCert?: string; bundle?: string } | undefined;
  /** Drops a cached key from the proxy (the entry changed or went away). */
  forgetSecret: (credential: string) => void;
  /** Encrypts migration backups with a key kept in the vault. */
  sealer: { seal(data: Buffer, context: string, domain?: SealDomain): Promise<Buffer>; unseal(data: Buffer, context: string, domain?: SealDomain): Promise<Buffer> };
  /** Writes new findings (from `keyward watch`) to the audit log, once each. */
  findings: FindingRecorder;
  /** Whether the vault cannot be read until a person unlocks it (file vault without passphrase). */
  vaultLocked: () => boolean;
  /** Opens a locked file vault with a passphrase (`keyward vault unlock`). */
  unlockVault: (passphrase: string) => Promise<void>;
}

const health = (deps: RouteDeps) => async (): Promise<Reply> => ({ status: 200, body: { ok: true, version: deps.version, pid: process.pid } });

function outcomeReply(outcome: GrantOutcome): Reply {
  if (outcome.status === 'issued') return { status: 201, body: outcome };
  if (outcome.status === 'pending') return { status: 202, body: outcome };
  throw new DaemonError('denied', outcome.reason, {
    hint: `This grant would be needed: ${outcome.needs}. Ask a person to allow it (keyward approve), or change policy.yaml.`,
    needs: outcome.needs,
  });
}

/**
 * The session a request acts for: a valid session token (else 401), presented by a process of
 * that session's tree (else 403): a token copied out of an agent's environment is useless to any
 * process outside it.
 */
async function requireSession(deps: RouteDeps, ctx: Context): Promise<Session> {
  const session = deps.broker.sessionForToken(ctx.token);
  if (!session) {
    throw new DaemonError(
      'invalid_session',
      ctx.token ? 'the session token is not valid (unknown, ended, or from before a daemon restart)' : 'this route needs a session token (Authorization: Bearer kws_…)',
      { hint: 'Start the agent with `keyward run`, which opens a session and sets KEYWARD_SESSION.' },
    );
  }
  await requireInTree(deps, ctx, session);
  return session;
}

/** Refuses a session token presented by a process outside the session's tree (audited). */
async function requireInTree(deps: RouteDeps, ctx: Context, session: Session): Promise<void> {
  if (ctx.identity === 'off') return;
  const pid = await ctx.peer();
  if (pid !== undefined && inSessionTree(session, ancestry(pid))) return;
  const why = pid === undefined ? 'the calling process could not be identified' : `process ${pid} is not part of session ${session.id}`;
  await deps.audit.append({
    event: 'token.refused',
    pid,
    agent: session.agent,
    session: session.id,
    reason: why,
    detail: { route: `${ctx.req.method} ${ctx.url.pathname}`, socket: ctx.socket },
  });
  throw new DaemonError('foreign_session', `the session token is honoured only inside its session: ${why}`, {
    hint: 'A session token works only for the process keyward run started and its descendants.',
  });
}

function requireUnlocked(deps: RouteDeps): void {
  if (deps.vaultLocked()) {
    throw new DaemonError('vault_locked', 'the vault is locked: the daemon has no passphrase for the file vault, so no grant can be used', {
      hint: 'Open it with: keyward vault unlock',
    });
  }
}

function parseTtl(ttl: number | string | undefined): number | undefined {
  if (ttl === undefined) return undefined;
  if (typeof ttl === 'number') return ttl * 1000; // seconds over the wire
  const ms = parseDuration(ttl);
  if (ms === undefined) throw new DaemonError('bad_request', `ttl "${ttl}" is not a duration (e.g. 15m, 1h)`);
  return ms;
}

/** agent.sock: what agents (and keyward run on their behalf) may do. */
export function agentRoutes(deps: RouteDeps): Router {
  const { broker } = deps;
  return new Router()
    .add('GET', '/v1/health', health(deps))
    .add('POST', '/v1/sessions', async (ctx) => {
      const body = await ctx.body(openSessionBody);
      requireUnlocked(deps);
      const peer = await ctx.peer();
      if (peer === undefined && ctx.identity !== 'off') {
        throw new DaemonError('unknown_caller', 'the calling process could not be identified, so no session is opened', {
          hint: 'On a platform without peer credentials, set security: { requireCallerIdentity: false } in config.yaml (see docs/security-model.md).',
        });
      }
      // The parent is the session whose token is presented (by a process of its tree), or, if the
      // caller descends from a session root or carries KEYWARD_SESSION without presenting it,
      // that session anyway: a sub-agent cannot step out of its delegation chain by dropping a
      // header, detaching (setsid, double fork) or both.
      let parent = ctx.token ? broker.sessionForToken(ctx.token) : undefined;
      if (ctx.token && !parent) throw new DaemonError('invalid_session', 'the parent session token is not valid');
      if (parent) await requireInTree(deps, ctx, parent);
      if (!parent && peer !== undefined) parent = broker.sessionForProcesses(ancestry(peer));
      if (!parent && peer !== undefined) {
        const inherited = sessionTokenInEnvironment(peer);
        if (inherited) {
          parent = broker.sessionForToken(inherited);
          if (!parent) {
            throw new DaemonError('invalid_session', 'the calling process carries KEYWARD_SESSION of a session that is not live', {
              hint: 'A process started inside an agent session opens sub-agent sessions only; outside any session, unset KEYWARD_SESSION first.',
            });
          }
        }
      }
      // The session's root is the caller itself where the kernel says who it is: a process cannot
      // claim another's tree (which would make the reaper keep a session alive through it).
      if (peer !== undefined && body.pid !== undefined && body.pid !== peer) {
        throw new DaemonError('bad_request', `pid ${body.pid} is not the calling process (${peer})`);
      }
      const pid = peer ?? body.pid;
      if (pid === undefined) throw new DaemonError('bad_request', 'pid: the root process of the session is required on this platform');
      const opened = await broker.openSession({ agent: body.agent, task: body.task, pid, parent, start: processStart(pid) });
      return { status: 201, body: { ...opened, approvers: deps.approvers.size, proxy: deps.proxy() } };
    })
    .add('GET', '/v1/sessions/current', async (ctx) => ({ status: 200, body: broker.sessionInfo(await requireSession(deps, ctx)) }))
    .add('DELETE', '/v1/sessions/current', async (ctx) => {
      const session = await requireSession(deps, ctx);
      // keep=released: a credential helper's minted credential outlives the helper (git uses it after).
      const revoked = await broker.endSession(session, 'ended by its process', { keepReleased: ctx.url.searchParams.get('keep') === 'released' });
      return { status: 200, body: { ended: session.id, revoked } };
    })
    .add('POST', '/v1/grants', async (ctx) => {
      const session = await requireSession(deps, ctx);
      const body = await ctx.body(grantBody);
      requireUnlocked(deps);
      const mode = body.mode ?? 'proxy';
      const target =
        body.spec !== undefined
          ? broker.parseSpec(body.spec, mode)
          : { credential: body.credential!, permission: mode === 'release' ? 'release' : body.permission!, resource: body.resource };
      const outcome = await broker.requestGrant(session, { ...target, ttl: parseTtl(body.ttl), mode });
      const reply = outcomeReply(outcome);
      if (outcome.status === 'pending') (reply.body as Record<string, unknown>).approvers = deps.approvers.size;
      return reply;
    })
    .add('GET', '/v1/grants', async (ctx) => ({ status: 200, body: { grants: broker.listGrants({ session: (await requireSession(deps, ctx)).id }) } }))
    .add('DELETE', '/v1/grants/:id', async (ctx) => {
      const session = await requireSession(deps, ctx);
      if (!broker.listGrants({ session: session.id }).some((g) => g.id === ctx.params.id)) {
        throw new DaemonError('unknown_grant', `this session has no grant ${ctx.params.id}`);
      }
      const revoked = await broker.revoke({ grant: ctx.params.id }, 'released by the agent');
      return { status: 200, body: { revoked } };
    })
    .add('GET', '/v1/consent/:id', async (ctx) => {
      const session = await requireSession(deps, ctx);
      const wait = Math.min(Math.max(Number(ctx.url.searchParams.get('wait') ?? '25'), 0), 55) * 1000;
      return outcomeReply(await broker.waitConsent(session, ctx.params.id, wait));
    })
    .add('POST', '/v1/resolve', async (ctx) => {
      const session = await requireSession(deps, ctx);
      const body = await ctx.body(resolveBody);
      const { value, grant } = await broker.release(session, body.grant);
      return { status: 200, body: { value, grant } };
    });
}

/** A vault entry as a backup holds it: the value with what the tools look it up by. */
interface EntrySnapshot {
  name: string;
  provider: string;
  source: string;
  attributes?: Record<string, string>;
  value: string;
}

const ENTRY_DOMAIN: SealDomain = 'keyward vault entry';
/** A backup is bound to the entry's name as well as to what the caller names (a migration). */
const entryContext = (name: string, context: string) => `${name}\0${context}`;

/** The entry as it is now, read without counting as a use; undefined when there is none. */
async function entrySnapshot(vault: Vault, name: string): Promise<EntrySnapshot | undefined> {
  const meta = vault.describe(name);
  if (!meta) return undefined;
  const value = await vault.store.get(name);
  if (value === null) throw new DaemonError('vault_damaged', `vault entry ${name} is listed but its value is missing from the ${vault.store.kind}`);
  return { name, provider: meta.provider, source: meta.source, ...(meta.attributes ? { attributes: meta.attributes } : {}), value };
}

function sameEntry(a: EntrySnapshot | undefined, b: EntrySnapshot): boolean {
  if (!a) return false;
  const value = Buffer.from(a.value, 'utf8');
  const other = Buffer.from(b.value, 'utf8');
  const sameValue = value.length === other.length && timingSafeEqual(value, other);
  return sameValue && a.provider === b.provider && JSON.stringify(a.attributes ?? {}) === JSON.stringify(b.attributes ?? {});
}

/**
 * admin.sock: what only the person at the keyboard may do. Before routing, the caller's
 * process is checked: anything running inside an agent session is refused (and the refusal is
 * audited), so an agent cannot add or read keys, answer its own consent, or revoke others'.
 */
export function adminRoutes(deps: RouteDeps): Router {
  const { broker, vault } = deps;
  const guarded = (handler: (ctx: Context) => Promise<Reply | 'streaming'>) => async (ctx: Context) => {
    await requireOutsideSessions(deps, ctx);
    return handler(ctx);
  };
  return new Router()
    .add('GET', '/v1/health', health(deps))
    .add(
      'GET',
      '/v1/status',
      guarded(async () => ({ status: 200, body: deps.status() })),
    )
    .add(
      'GET',
      '/v1/vault',
      guarded(async () => ({ status: 200, body: { entries: vault.list(), backend: vault.store.kind } })),
    )
    .add(
      'POST',
      '/v1/vault',
      guarded(async (ctx) => {
        const body = await ctx.body(vaultAddBody);
        const entry = await vault.add(body.name, body.provider, body.value, body.source ?? 'api', { replace: body.replace, attributes: body.attributes });
        deps.forgetSecret(entry.name);
        await deps.audit.append({
          event: 'vault.add',
          credential: entry.name,
          detail: { provider: entry.provider, source: entry.source, backend: vault.store.kind, replaced: Boolean(body.replace) },
        });
        return { status: 201, body: { entry } };
      }),
    )
    .add(
      'PATCH',
      '/v1/vault/:name',
      guarded(async (ctx) => {
        const body = await ctx.body(vaultUpdateBody);
        const name = ctx.params.name;
        // Grants issued under the old provider or attributes end: they were scoped by those.
        const revoked = await broker.revoke({ credential: name }, `vault entry ${name} changed`);
        const entry = vault.update(name, body);
        deps.forgetSecret(name);
        await deps.audit.append({
          event: 'vault.update',
          credential: name,
          detail: { provider: entry.provider, attributes: Object.keys(body.attributes ?? {}), revokedGrants: revoked },
        });
        return { status: 200, body: { entry } };
      }),
    )
    .add(
      'POST',
      '/v1/vault/:name/backup',
      guarded(async (ctx) => {
        const body = await ctx.body(vaultBackupBody);
        const snapshot = await entrySnapshot(vault, ctx.params.name);
        if (!snapshot) throw new DaemonError('not_found', `no vault entry named ${ctx.params.name}`, { hint: 'See the entries with: keyward vault list' });
        const sealed = await deps.sealer.seal(Buffer.from(JSON.stringify(snapshot), 'utf8'), entryContext(ctx.params.name, body.context), ENTRY_DOMAIN);
        return { status: 200, body: { backup: sealed.toString('base64') } };
      }),
    )
    .add(
      'POST',
      '/v1/vault/:name/restore',
      guarded(async (ctx) => {
        const body = await ctx.body(vaultRestoreBody);
        const name = ctx.params.name;
        const open = async (sealed: string, context: string): Promise<EntrySnapshot> => {
          const data = await deps.sealer.unseal(Buffer.from(sealed, 'base64'), entryContext(name, context), ENTRY_DOMAIN);
          const snapshot = JSON.parse(data.toString('utf8')) as EntrySnapshot;
          if (snapshot.name !== name) throw new DaemonError('bad_request', `the backup is not of vault entry ${name}`);
          return snapshot;
        };
        const previous = await open(body.backup, body.context);
        if (body.expect && !body.force) {
          const expected = await open(body.expect, body.expectContext ?? body.context);
          if (!sameEntry(await entrySnapshot(vault, name), expected)) {
            throw new DaemonError('conflict', `vault entry ${name} changed after the backup was taken; it is left as it is`, {
              hint: 'Restore it anyway with --force, or set it by hand with keyward vault add --replace.',
            });
          }
        }
        // Grants issued for the value being replaced end with it.
        const revoked = await broker.revoke({ credential: name }, `vault entry ${name} restored`);
        const entry = await vault.add(name, previous.provider, previous.value, previous.source, {
          replace: true,
          ...(previous.attributes ? { attributes: previous.attributes } : {}),
        });
        deps.forgetSecret(name);
        await deps.audit.append({
          event: 'vault.restore',
          credential: name,
          reason: body.context.slice(0, 200),
          detail: { provider: entry.provider, source: entry.source, backend: vault.store.kind, revokedGrants: revoked },
        });
        return { status: 200, body: { entry } };
      }),
    )
    .add(
      'DELETE',
      '/v1/vault/:name',
      guarded(async (ctx) => {
        const name = ctx.params.name;
        if (!vault.has(name)) throw new DaemonError('not_found', `no vault entry named ${name}`, { hint: 'See the entries with: keyward vault list' });
        const revoked = await broker.revoke({ credential: name }, `vault entry ${name} removed`);
        await vault.remove(name);
        deps.forgetSecret(name);
        await deps.audit.append({ event: 'vault.remove', credential: name, detail: { revokedGrants: revoked } });
        return { status: 200, body: { removed: name } };
      }),
    )
    .add(
      'GET',
      '/v1/grants',
      guarded(async () => ({ status: 200, body: { grants: broker.listGrants(), sessions: broker.activeSessions().map((s) => broker.sessionInfo(s)) } })),
    )
    .add(
      'POST',
      '/v1/revoke',
      guarded(async (ctx) => {
        const body = await ctx.body(revokeBody);
        const agent = body.agent;
        const revoked = await broker.revoke({ grant: body.grant, session: body.session, all: body.all, agent: agent ? (a) => globMatch(agent, a) : undefined });
        return { status: 200, body: { revoked } };
      }),
    )
    .add(
      'POST',
      '/v1/findings',
      guarded(async (ctx) => {
        const body = await ctx.body(findingBody);
        const record = await deps.findings.record({ ...body, by: 'keyward watch', pid: await ctx.peer() });
        return record
          ? { status: 201, body: { recorded: true, seq: record.seq } }
          : { status: 200, body: { recorded: false, reason: 'this secret in this file is in the audit log already' } };
      }),
    )
    .add(
      'GET',
      '/v1/consent',
      guarded(async () => ({ status: 200, body: { pending: broker.pendingConsents() } })),
    )
    .add(
      'POST',
      '/v1/consent/:id',
      guarded(async (ctx) => {
        const body = await ctx.body(consentAnswerBody);
        const peer = await ctx.peer();
        const { outcome, rule } = await broker.answerConsent(ctx.params.id, body.answer, peer ? `pid ${peer}` : 'the user');
        // The grant token goes to the waiting agent only, never to the approver.
        const summary =
          outcome.status === 'issued' ? { status: 'issued', grant: outcome.grant } : { status: outcome.status, reason: 'reason' in outcome ? outcome.reason : undefined };
        return { status: 200, body: { outcome: summary, rule } };
      }),
    )
    .add(
      'POST',
      '/v1/seal',
      guarded(async (ctx) => {
        const body = await ctx.body(sealBody, SEAL_LIMIT + 1024);
        return { status: 200, body: { data: (await deps.sealer.seal(Buffer.from(body.data, 'base64'), body.context)).toString('base64') } };
      }),
    )
    .add(
      'POST',
      '/v1/unseal',
      guarded(async (ctx) => {
        const body = await ctx.body(sealBody, SEAL_LIMIT + 1024);
        return { status: 200, body: { data: (await deps.sealer.unseal(Buffer.from(body.data, 'base64'), body.context)).toString('base64') } };
      }),
    )
    .add(
      'POST',
      '/v1/events/migration',
      guarded(async (ctx) => {
        const body = await ctx.body(migrationEventBody);
        await deps.audit.append({ event: body.event, credential: body.credential, reason: body.reason, detail: body.detail });
        return { status: 201, body: { recorded: true } };
      }),
    )
    .add(
      'POST',
      '/v1/policy/reload',
      guarded(async () => {
        const r = await deps.reloadPolicy();
        if (!r.ok)
          throw new DaemonError('invalid_policy', `policy.yaml was not loaded: ${r.problems[0]}`, {
            hint: 'Fix it (keyward policy check shows every problem); the last good policy stays in force.',
          });
        return { status: 200, body: { reloaded: true } };
      }),
    )
    .add(
      'GET',
      '/v1/config/pending',
      guarded(async () => ({ status: 200, body: { pending: deps.config.pending() } })),
    )
    .add(
      'POST',
      '/v1/config/apply',
      guarded(async (ctx) => {
        const body = await ctx.body(configApplyBody);
        const peer = await ctx.peer();
        return { status: 200, body: await deps.config.apply(body.id, peer ? `a person over admin.sock (pid ${peer})` : 'a person over admin.sock') };
      }),
    )
    .add(
      'GET',
      '/v1/events',
      guarded(async (ctx) => {
        streamEvents(deps, ctx.res);
        return 'streaming';
      }),
    )
    .add(
      'POST',
      '/v1/vault/unlock',
      guarded(async (ctx) => {
        const body = await ctx.body(unlockBody);
        if (!deps.vaultLocked()) return { status: 200, body: { unlocked: true, already: true } };
        try {
          await deps.unlockVault(body.passphrase);
        } catch (error) {
          await deps.audit.append({ event: 'vault.unlock', decision: 'deny', pid: await ctx.peer(), reason: 'wrong passphrase' });
          throw error;
        }
        await deps.audit.append({ event: 'vault.unlock', decision: 'allow', pid: await ctx.peer() });
        return { status: 200, body: { unlocked: true } };
      }),
    )
    .add(
      'POST',
      '/v1/shutdown',
      guarded(async () => {
        setImmediate(deps.shutdown);
        return { status: 202, body: { stopping: true } };
      }),
    );
}

/** Server-sent events for `keyward approve`: a snapshot, then every change as it happens. */
function streamEvents(deps: RouteDeps, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
  res.socket?.setTimeout(0);
  const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const snapshot = () => ({ pending: deps.broker.pendingConsents(), grants: deps.broker.listGrants() });
  send('snapshot', snapshot());
  const onChange = () => send('snapshot', snapshot());
  const onAudit = (record: AuditRecord) => send('audit', record);
  deps.broker.on('change', onChange);
  const listeners = auditListeners(deps.audit);
  listeners.add(onAudit);
  const ping = setInterval(() => res.write(': ping\n\n'), 15_000).unref();
  deps.approvers.add(res);
  res.on('close', () => {
    clearInterval(ping);
    deps.broker.off('change', onChange);
    listeners.delete(onAudit);
    deps.approvers.delete(res);
  });
}

const auditFanout = new WeakMap<AuditLog, Set<(r: AuditRecord) => void>>();
/** Lets several event streams follow the audit log. */
export function auditListeners(audit: AuditLog): Set<(r: AuditRecord) => void> {
  let set = auditFanout.get(audit);
  if (!set) {
    set = new Set();
    const listeners = set;
    auditFanout.set(audit, set);
    audit.onRecord = (r) => {
      for (const l of listeners) l(r);
    };
  }
  return set;
}

async function requireOutsideSessions(deps: RouteDeps, ctx: Context): Promise<void> {
  if (ctx.identity === 'off') return;
  const pid = await ctx.peer();
  // When in doubt, deny: a caller we cannot identify is treated as a possible agent.
  let inside: Session | undefined;
  let why: string;
  if (pid === undefined) {
    why =
      ctx.identity === 'fail-closed'
        ? 'this platform gives no peer identity, so admin calls are refused (security.requireCallerIdentity in config.yaml)'
        : 'the calling process could not be identified';
  } else {
    inside = deps.broker.sessionForProcesses(ancestry(pid));
    const environment = sessionTokenInEnvironment(pid);
    why = inside
      ? `process ${pid} runs inside agent session ${inside.id} (${inside.agent})`
      : environment === undefined
        ? `the environment of process ${pid} cannot be read`
        : 'the calling process carries KEYWARD_SESSION in its environment';
    if (!inside && environment === null) return;
  }
  await deps.audit.append({
    event: 'admin.refused',
    pid,
    ...(inside ? { agent: inside.agent, session: inside.id, chain: [inside.delegator, ...inside.chain] } : {}),
    reason: why,
    detail: { route: `${ctx.req.method} ${ctx.url.pathname}` },
  });
  throw new DaemonError('admin_refused', `admin.sock refuses this caller: ${why}`, {
    hint: 'Administrative commands (vault, consent answers, revoke) must be run by you, outside any `keyward run` session.',
  });
}
