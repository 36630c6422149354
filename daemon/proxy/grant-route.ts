import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Grant, Session } from '../broker/broker.js';
import { DaemonError } from '../errors.js';
import type { ProviderProfile } from '../providers/types.js';
import { PEER_LOOKUP_SUPPORTED, inSessionTree } from '../server/identity.js';
import { GRANT_TOKEN, upstreamOf } from './forward.js';
import type { ProxyContext, RecordContext } from './proxy.js';
import { allowedBy, checkFraming, permissionFor } from './rules.js';

/**
 * Requests that carry a grant token where the SDK put its key: base-URL mode
 * (`/<credential>/<path>`) and requests inside an intercepted tunnel. The token must be live, held
 * by the calling process's session, for this credential and host, and its permission must allow
 * the method and path; then the real key replaces it on the way upstream.
 */
export async function handleGranted(
  ctx: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  request: { method: string; path: string; query: string; intercepted?: string },
  context: RecordContext,
): Promise<void> {
  const { method, query, intercepted } = request;
  let path = request.path;
  let credentialFromPath: string | undefined;
  if (!intercepted) {
    const slash = path.indexOf('/', 1);
    credentialFromPath = decodeURIComponent(path.slice(1, slash === -1 ? undefined : slash));
    path = slash === -1 ? '/' : path.slice(slash);
  }
  const found = findToken(req, query);
  if (!found) {
    if (intercepted) return ctx.forwarder.forward(req, res, { path, query, host: intercepted });
    throw new DaemonError('no_grant_token', 'no keyward grant token in the request', {
      hint: 'Start the agent with keyward run --grant <credential>:<permission>, which sets the placeholder where the SDK reads its key.',
    });
  }
  const { broker } = ctx.deps;
  const grant = broker.grantForToken(found.token);
  if (!grant) throw new DaemonError('invalid_grant', 'the grant token is not valid: unknown, expired, revoked, or from before a daemon restart');
  const session = broker.sessionOf(grant);
  if (!session) throw new DaemonError('invalid_grant', "the grant's session has ended");
  // A token is a bearer capability, but only inside its session: the connecting process
  // must descend from the session's root (a token copied to another agent is useless).
  if (ctx.deps.checkPeer !== false && PEER_LOOKUP_SUPPORTED) {
    const { pid, ancestors } = await ctx.peerOf(req);
    if (pid === undefined || !inSessionTree(session, ancestors)) {
      throw new DaemonError(
        'foreign_session',
        pid === undefined ? 'the calling process could not be identified' : `process ${pid} is not part of the session that holds this grant`,
      );
    }
  }
  const profile = ctx.deps.providers().get(grant.provider);
  const up = profile && upstreamOf(profile);
  if (!profile || !up) throw new DaemonError('no_upstream', `provider ${grant.provider} has no upstream configured`);
  Object.assign(context, { grant, session, host: up.host, path });
  if (grant.mode !== 'proxy') throw new DaemonError('release_grant', 'a release grant cannot be used through the proxy');
  if (credentialFromPath !== undefined && credentialFromPath !== grant.credential) {
    throw new DaemonError('wrong_credential', `the grant is for ${grant.credential}, not ${credentialFromPath}`);
  }
  if (intercepted && intercepted !== `${up.host}:${up.port}`) throw new DaemonError('wrong_host', `the grant for ${grant.credential} does not cover ${intercepted}`);
  checkFraming(req.headers, method, query);
  const rules = profile.permissions[grant.permission] ?? [];
  if (!allowedBy(rules, method, path, grant.resource, profile.resource)) {
    await denyOutOfScope(ctx, res, { grant, session, profile, method, path, host: up.host });
    return;
  }
  // A minted credential (a GitHub App installation token) where the entry mints one, never the root.
  const secret = grant.minted?.secret ?? (await ctx.secretFor(grant.credential));
  await ctx.forwarder.forward(req, res, { path, query, host: `${up.host}:${up.port}`, profile, secret, placeholder: found.token, grant, session });
}

/** The first keyward grant token in any header, or in the query string. */
function findToken(req: IncomingMessage, query: string): { token: string; header?: string } | undefined {
  for (const [name, value] of Object.entries(req.headers)) {
    const v = Array.isArray(value) ? value.join(',') : value;
    if (!v) continue;
    const m = GRANT_TOKEN.exec(v);
    if (m) return { token: m[0], header: name };
    if (name === 'authorization' && /^basic /i.test(v)) {
      const decoded = Buffer.from(v.slice(6).trim(), 'base64').toString('utf8');
      const b = GRANT_TOKEN.exec(decoded);
      if (b) return { token: b[0], header: name };
    }
  }
  const q = GRANT_TOKEN.exec(decodeURIComponent(query.replace(/\+/g, ' ')));
  return q ? { token: q[0] } : undefined;
}

/** 403 naming the grant that would be needed; step-up consent where the policy says ask. */
async function denyOutOfScope(
  ctx: ProxyContext,
  res: ServerResponse,
  r: { grant: Grant; session: Session; profile: ProviderProfile; method: string; path: string; host: string },
): Promise<void> {
  const { grant, session } = r;
  const needed = permissionFor(r.profile, r.method, r.path);
  const needs = needed ? [grant.credential, needed.permission, needed.resource].filter(Boolean).join(':') : undefined;
  let consent: string | undefined;
  if (needed) {
    try {
      const outcome = await ctx.deps.broker.requestGrant(session, { credential: grant.credential, permission: needed.permission, resource: needed.resource, mode: 'proxy' });
      if (outcome.status === 'pending') consent = outcome.consent;
    } catch {
      /* the denial below stands */
    }
  }
  const message = `grant ${grant.id} (${[grant.credential, grant.permission, grant.resource].filter(Boolean).join(':')}) does not allow ${r.method} ${r.path}`;
  const hint = consent
    ? `A person was asked (keyward approve). Wait for it with GET /v1/consent/${consent} on KEYWARD_AGENT_SOCK, or run: keyward grant request ${needs}`
    : needs
      ? `Ask for it: keyward grant request ${needs}`
      : undefined;
  const body = JSON.stringify({ error: { code: 'out_of_scope', message, ...(needs ? { needs } : {}), ...(consent ? { consent } : {}), ...(hint ? { hint } : {}) } });
  res.writeHead(403, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
  ctx.record({ grant, session, host: r.host, path: r.path }, r.method, 403, message);
}
