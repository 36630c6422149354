import type { IncomingHttpHeaders } from 'node:http';
import type { Broker, Grant, Session } from '../broker/broker.js';
import type { ProviderProfile } from '../providers/types.js';
import type { VaultEntry } from '../vault/vault.js';
import { DaemonError } from '../errors.js';
import { allowedBy } from './rules.js';

/**
 * The token-less route for HTTP MCP servers: `http://127.0.0.1:PORT/_mcp/<server>/<path>`.
 *
 * `keyward migrate` rewrites an MCP client's HTTP server that carried a static key to this URL,
 * and stores the key as a vault entry whose attributes say where it goes:
 * `{helper: "mcp-http", server, upstream, header, prefix}`. The client holds nothing, not even a
 * placeholder: the proxy identifies the calling process from the kernel's socket table, opens a
 * session for it as agent `mcp:<server>`, asks the broker for a grant (policy, consent and audit
 * as for any agent) and injects `prefix + secret` into `header` on the way to `upstream`.
 *
 * Entry names cannot start with `_` (ENTRY_NAME), so `/_mcp/` never shadows `/<credential>/`.
 */
export const MCP_PREFIX = '/_mcp';
export const MCP_HELPER = 'mcp-http';
/** Server names: one URL segment, and short enough that `mcp:<server>` is a valid agent name. */
export const MCP_SERVER = /^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$/;
/** What streamable HTTP needs: POST for messages, GET for the event stream, DELETE to end the MCP session. */
const MCP_METHODS = ['GET', 'POST', 'DELETE'];
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]{1,64}$/;
/** Headers that frame or route the request: a key injected there would break or redirect it. */
const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'upgrade',
  'accept-encoding',
]);

export interface McpTarget {
  server: string;
  /** The vault entry holding the key. */
  credential: string;
  /** scheme://host[:port] */
  upstream: string;
  /** Lower-case header name the key goes in. */
  header: string;
  /** Text before the key in that header ("Bearer "), possibly empty. */
  prefix: string;
}

/** `/_mcp/<server>/<rest>` split, or undefined for paths outside the route. `path` is normalised. */
export function splitMcpPath(path: string): { server: string; rest: string } | undefined {
  if (path !== MCP_PREFIX && !path.startsWith(`${MCP_PREFIX}/`)) return undefined;
  const after = path.slice(MCP_PREFIX.length + 1);
  const slash = after.indexOf('/');
  const server = decodeURIComponent(slash === -1 ? after : after.slice(0, slash));
  return { server, rest: slash === -1 ? '/' : after.slice(slash) };
}

/**
 * Why a request looks like it comes from a web page, or undefined. A page in the user's browser
 * can send requests to loopback (and, after DNS rebinding, read the answers); the browser is a
 * process of this user, so the identity check alone would let any web page use the key. Browsers
 * send `Sec-Fetch-Site` on every request and `Origin` on every POST; MCP clients send neither.
 * (`Sec-Fetch-Mode` is no sign: Node's own fetch sends it.)
 */
export function browserSignal(headers: IncomingHttpHeaders): string | undefined {
  for (const h of ['origin', 'sec-fetch-site']) if (headers[h] !== undefined) return h === 'origin' ? 'an Origin header' : 'a Sec-Fetch-Site header';
  return undefined;
}

/** The vault entry for `server`, checked: exactly one, with well-formed attributes. */
export function mcpTarget(entries: VaultEntry[], server: string): McpTarget {
  if (entries.length === 0) {
    throw new DaemonError('unknown_mcp_server', `no vault entry for the HTTP MCP server "${server}"`, {
      hint: `Run keyward migrate on the MCP client's config: it moves the server's key into the vault and points the client here. If the entry was removed, run keyward migrate again (keyward migrate undo restores the original config).`,
    });
  }
  if (entries.length > 1) {
    const names = entries.map((e) => e.name).join(', ');
    throw new DaemonError('ambiguous_mcp_server', `several vault entries are for the HTTP MCP server "${server}": ${names}`, {
      hint: `Keep one: keyward vault remove <name> (see them with keyward vault list).`,
    });
  }
  const entry = entries[0];
  const a = entry.attributes ?? {};
  const bad = (what: string) =>
    new DaemonError('bad_mcp_entry', `vault entry ${entry.name} (HTTP MCP server "${server}") has ${what}`, {
      hint: 'Run keyward migrate again for this MCP client, or remove the entry (keyward vault remove) and migrate.',
    });
  let origin: string;
  try {
    const u = new URL(a.upstream ?? '');
    if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.username || u.password || u.pathname !== '/' || u.search || u.hash) throw new Error('not an origin');
    origin = u.origin;
  } catch {
    throw bad('no valid upstream (scheme://host[:port], nothing after it)');
  }
  const header = a.header ?? '';
  if (!HEADER_NAME.test(header) || RESERVED_HEADERS.has(header)) throw bad(`no usable header name (a lower-case header other than ${[...RESERVED_HEADERS].join(', ')})`);
  const prefix = a.prefix ?? '';
  if (!/^[\x20-\x7e]{0,100}$/.test(prefix) || prefix.includes('{secret}')) throw bad('a prefix that is not plain printable text of up to 100 characters');
  return { server, credential: entry.name, upstream: origin, header, prefix };
}

/**
 * The permission an MCP client is granted: one that allows GET, POST and DELETE on any path, with
 * no resource. The generic provider's `write` does; providers without one fall back to any that
 * does (`all`), and undefined means the entry's provider cannot serve an MCP server.
 */
export function mcpPermission(profile: ProviderProfile): string | undefined {
  const names = ['write', 'all', ...Object.keys(profile.permissions).filter((n) => n !== 'write' && n !== 'all')];
  return names.find((name) => {
    const rules = profile.permissions[name];
    if (!rules || rules.some((r) => r.paths.some((p) => p.includes('{resource}')))) return false;
    return MCP_METHODS.every((m) => ['/', '/mcp', '/a/b/c/'].every((p) => allowedBy(rules, m, p)));
  });
}

/** A provider profile for one MCP server: the entry's permissions, the attributes' upstream and injection. */
export function mcpProfile(base: ProviderProfile, target: McpTarget): ProviderProfile {
  return {
    name: `mcp:${target.server}`,
    description: `HTTP MCP server ${target.server}`,
    upstream: target.upstream,
    basePath: '',
    inject: { header: target.header, value: `${target.prefix}{secret}` },
    env: {},
    permissions: base.permissions,
  };
}

export type McpAccess = { ok: true; grant: Grant; session: Session } | { ok: false; session: Session; error: DaemonError };

interface Client {
  sessionToken: string;
  session: Session;
  grantToken?: string;
  granting?: Promise<McpAccess>;
}

/**
 * One broker session per MCP client process and server, opened on its first request, and the
 * grant it holds. The session's root is the client's pid, so the daemon's reaper ends it when
 * the client exits; a client started inside a `keyward run` session becomes its sub-agent
 * (`ada → claude-code → mcp:github`). Every request re-checks the grant, so revocation and expiry
 * take effect at once; the next request then asks the policy again.
 */
export class McpClients {
  private readonly clients = new Map<string, Client>();
  private readonly opening = new Map<string, Promise<Client>>();

  constructor(
    private readonly broker: Broker,
    /** Milliseconds a consent request may wait for a person before the broker denies it. */
    private readonly consentTimeoutMs: number,
  ) {}

  /**
   * A live grant for this client, or why not. Concurrent requests of one client (MCP keeps an
   * event stream open beside its POSTs) share one session and one grant request.
   */
  async access(caller: { target: McpTarget; permission: string; pid: number; start: string; ancestors: number[] }): Promise<McpAccess> {
    const client = await this.client(caller);
    const live = client.grantToken ? this.broker.grantForToken(client.grantToken) : undefined;
    if (live && live.credential === caller.target.credential && live.permission === caller.permission) return { ok: true, grant: live, session: client.session };
    client.granting ??= this.obtain(client, caller.target, caller.permission).finally(() => (client.granting = undefined));
    return client.granting;
  }

  private async client(caller: { target: McpTarget; pid: number; start: string; ancestors: number[] }): Promise<Client> {
    const key = `${caller.target.server}|${caller.pid}|${caller.start}`;
    const known = this.clients.get(key);
    if (known && this.broker.sessionForToken(known.sessionToken)) return known;
    let opening = this.opening.get(key);
    if (!opening) {
      opening = this.open(key, caller).finally(() => this.opening.delete(key));
      this.opening.set(key, opening);
    }
    return opening;
  }

  private async open(key: string, caller: { target: McpTarget; pid: number; ancestors: number[] }): Promise<Client> {
    // Forget clients whose sessions ended (the process exited, or its parent session ended).
    for (const [k, c] of this.clients) if (!this.broker.sessionForToken(c.sessionToken)) this.clients.delete(k);
    const parent = this.broker.sessionForProcesses(caller.ancestors);
    const { token } = await this.broker.openSession({ agent: `mcp:${caller.target.server}`, task: 'MCP over HTTP', pid: caller.pid, parent, tree: false });
    const session = this.broker.sessionForToken(token);
    if (!session) throw new DaemonError('session_ended', 'the session for this MCP client ended as it was opened', { hint: 'Send the request again.' });
    const client = { sessionToken: token, session };
    this.clients.set(key, client);
    return client;
  }

  private async obtain(client: Client, target: McpTarget, permission: string): Promise<McpAccess> {
    const { session } = client;
    let outcome = await this.broker.requestGrant(session, { credential: target.credential, permission, mode: 'proxy' });
    // The policy says ask: hold the request until a person answers (keyward approve) or the
    // broker's consent timeout denies it; a little longer, so that the broker's answer arrives.
    if (outcome.status === 'pending') outcome = await this.broker.waitConsent(session, outcome.consent, this.consentTimeoutMs + 1000);
    if (outcome.status === 'issued') {
      client.grantToken = outcome.token;
      const grant = this.broker.grantForToken(outcome.token);
      if (grant) return { ok: true, grant, session };
      outcome = { status: 'denied', reason: 'the grant ended as it was issued', needs: `${target.credential}:${permission}` };
    }
    const chain = session.chain.join(' → ');
    const rule = `- { agent: "${session.agent}", credential: ${target.credential}, permission: ${permission}, decision: allow }`;
    const hint = `Allow it in policy.yaml, e.g. ${rule}${session.chain.length > 1 ? ` (every agent in the chain ${chain} must be allowed)` : ''}, or run keyward approve and allow it when asked ("for this session" covers this client until it exits).`;
    if (outcome.status === 'pending') {
      return {
        ok: false,
        session,
        error: new DaemonError('consent_timeout', `nobody answered the consent request ${outcome.consent} in time`, { needs: `${target.credential}:${permission}`, hint }),
      };
    }
    return { ok: false, session, error: new DaemonError('denied', `${chain} may not use ${target.credential}: ${outcome.reason}`, { needs: outcome.needs, hint }) };
  }
}
