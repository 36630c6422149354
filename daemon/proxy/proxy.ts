import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, createServer, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { TLSSocket, createSecureContext, rootCertificates } from 'node:tls';
import type { AuditLog } from '../audit/log.js';
import { BrokerError, type Broker, type Grant, type Session } from '../broker/broker.js';
import type { Policy } from '../policy/policy.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { ProviderProfile } from '../providers/types.js';
import type { Vault } from '../vault/vault.js';
import type { LocalCA } from './ca.js';
import { ProxyError } from './errors.js';
import { MCP_HELPER, MCP_SERVER, McpClients, browserSignal, mcpPermission, mcpProfile, mcpTarget, splitMcpPath } from './mcp.js';
import { METHOD_OVERRIDES, allowedBy, normalizePath, permissionFor } from './rules.js';
import { PEER_LOOKUP_SUPPORTED, TcpPeerResolver, ancestry, processOwner } from '../server/identity.js';

/**
 * The credential-injecting proxy: agents hold a placeholder (their grant's `kwg_` token) and the
 * proxy swaps it for the real key on requests the grant allows. Two ways in, on one loopback
 * listener:
 *
 * - base-URL mode: `http://127.0.0.1:PORT/<credential>/<path>` is forwarded to the provider's
 *   upstream (SDKs are pointed here through their base-URL variables);
 * - interception mode: `CONNECT host:443` (HTTPS_PROXY). Hosts with a live grant are terminated
 *   with a certificate from keyward's local CA and inspected; others are tunnelled untouched, or
 *   refused when the policy says `egress: deny`;
 * - the MCP route: `http://127.0.0.1:PORT/_mcp/<server>/<path>`, for HTTP MCP servers whose client
 *   holds no token at all; the calling process is identified and granted access (see mcp.ts).
 *
 * The proxy enforces; it never decides: grants come from the broker and the policy.
 */
export interface ProxyDeps {
  broker: Broker;
  vault: Vault;
  audit: AuditLog;
  providers: () => ProviderRegistry;
  policy: () => Policy;
  ca?: LocalCA;
  log: (entry: Record<string, unknown>) => void;
  /** Largest request body forwarded, in bytes. */
  maxBody?: number;
  /** Milliseconds an upstream may take to answer before a 504. */
  upstreamTimeout?: number;
  /**
   * Check that requests come from the grant's session (default true; Linux only). The MCP route
   * always identifies its caller: it has no token to check instead.
   */
  checkPeer?: boolean;
  /** Loopback port to listen on; 0 (the default) for any free port. */
  port?: number;
  /** Milliseconds a consent request waits for a person (the MCP route holds requests that long). */
  consentTimeout?: number;
}

type RecordContext = { grant?: Grant; session?: Session; host?: string; path?: string; credential?: string; pid?: number };

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'accept-encoding']);
const TOKEN = /kwg_[A-Za-z0-9]{49}/;
const DEFAULT_MAX_BODY = 64 * 1024 * 1024;
const SECRET_CACHE_MS = 60_000;
/** What an echoed key is replaced with where the client holds no placeholder (the MCP route). */
const REDACTED = '[redacted by keyward]';

/** Replaces every occurrence of the key in a stream, holding back only what could start one. */
export class KeyScrubber extends Transform {
  private held = Buffer.alloc(0);
  private readonly key: Buffer;
  private readonly placeholder: Buffer;

  constructor(key: string, placeholder: string) {
    super();
    this.key = Buffer.from(key);
    this.placeholder = Buffer.from(placeholder);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let data = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    const parts: Buffer[] = [];
    let at = 0;
    for (let i = data.indexOf(this.key); i !== -1; i = data.indexOf(this.key, at)) {
      parts.push(data.subarray(at, i), this.placeholder);
      at = i + this.key.length;
    }
    data = data.subarray(at);
    // Keep back the longest tail that is a prefix of the key: it may complete in the next chunk.
    let keep = 0;
    for (let n = Math.min(this.key.length - 1, data.length); n > 0; n--) {
      if (data.subarray(data.length - n).equals(this.key.subarray(0, n))) {
        keep = n;
        break;
      }
    }
    parts.push(data.subarray(0, data.length - keep));
    this.held = Buffer.from(data.subarray(data.length - keep));
    const out = Buffer.concat(parts);
    if (out.length) this.push(out);
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.held.length) this.push(this.held);
    done();
  }
}

/** The first keyward grant token in any header, or in the query string. */
function findToken(req: IncomingMessage, query: string): { token: string; header?: string } | undefined {
  for (const [name, value] of Object.entries(req.headers)) {
    const v = Array.isArray(value) ? value.join(',') : value;
    if (!v) continue;
    const m = TOKEN.exec(v);
    if (m) return { token: m[0], header: name };
    if (name === 'authorization' && /^basic /i.test(v)) {
      const decoded = Buffer.from(v.slice(6).trim(), 'base64').toString('utf8');
      const b = TOKEN.exec(decoded);
      if (b) return { token: b[0], header: name };
    }
  }
  const q = TOKEN.exec(decodeURIComponent(query.replace(/\+/g, ' ')));
  return q ? { token: q[0] } : undefined;
}

function upstreamHost(profile: ProviderProfile): { host: string; port: number; https: boolean } | undefined {
  if (!profile.upstream) return undefined;
  try {
    const u = new URL(profile.upstream);
    return { host: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)), https: u.protocol === 'https:' };
  } catch {
    return undefined;
  }
}

export class CredentialProxy {
  private server?: Server;
  private readonly mitm: Server;
  private readonly secrets = new Map<string, { value: string; until: number }>();
  private readonly agents = new Map<string, HttpAgent | HttpsAgent>();
  private readonly mcp: McpClients;
  port = 0;
  /** Set when the configured port was taken and the proxy listens on another one. */
  portFallback?: { requested: number; code: string };

  constructor(private readonly deps: ProxyDeps) {
    this.mcp = new McpClients(deps.broker, deps.consentTimeout ?? 2 * 60_000);
    // Requests decrypted from intercepted CONNECT tunnels land here.
    this.mitm = createServer((req, res) => void this.handle(req, res, (req.socket as TLSSocket & { keywardHost?: string }).keywardHost));
    this.mitm.on('clientError', (_e, socket) => socket.destroy());
  }

  async listen(): Promise<number> {
    const server = createServer({ connectionsCheckingInterval: 1000, headersTimeout: 15_000, requestTimeout: 0 }, (req, res) => void this.handle(req, res, undefined));
    server.on('connect', (req, socket: Socket, head: Buffer) => this.connect(req, socket, head));
    server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 73\r\n\r\n{"error":{"code":"bad_http","message":"malformed request or CONNECT line"}}');
      else socket.destroy();
    });
    const bind = (port: number) =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
    const requested = this.deps.port ?? 0;
    try {
      await bind(requested);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      if (requested === 0 || (code !== 'EADDRINUSE' && code !== 'EACCES')) throw error;
      // Serving on another port beats not serving: keyward run tells its agents where the proxy
      // is. Clients configured with the fixed port (MCP clients rewritten by keyward migrate)
      // cannot reach this daemon until the port is free and the daemon restarted; the status says so.
      this.deps.log({ level: 'warn', msg: `proxy port ${requested} is not available (${code}); listening on a free port instead. MCP clients pointed at port ${requested} cannot reach keyward until it is free and the daemon restarted`, port: requested, code });
      await bind(0);
      this.portFallback = { requested, code };
    }
    this.server = server;
    this.port = (server.address() as { port: number }).port;
    return this.port;
  }

  /** Base URL for a credential in base-URL mode (the provider's base path is appended by the broker). */
  baseUrl(credential: string): string | undefined {
    return this.port ? `http://127.0.0.1:${this.port}/${encodeURIComponent(credential)}` : undefined;
  }

  get url(): string | undefined {
    return this.port ? `http://127.0.0.1:${this.port}` : undefined;
  }

  forget(credential: string): void {
    this.secrets.delete(credential);
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => {
      if (!this.server) return r();
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
    this.mitm.closeAllConnections();
    for (const a of this.agents.values()) a.destroy();
  }

  // ── interception ──────────────────────────────────────────────────────────────────────────

  /** Hosts that some live grant's provider answers on: those CONNECTs are inspected. */
  private interceptedHosts(): Set<string> {
    const hosts = new Set<string>();
    for (const g of this.deps.broker.listGrants()) {
      if (g.mode !== 'proxy') continue;
      const profile = this.deps.providers().get(g.provider);
      const up = profile && upstreamHost(profile);
      if (up) hosts.add(`${up.host}:${up.port}`);
    }
    return hosts;
  }

  private connect(req: IncomingMessage, client: Socket, head: Buffer): void {
    client.on('error', () => client.destroy());
    const target = req.url ?? '';
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})$/.exec(target);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) {
      client.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-type: application/json\r\n\r\n{"error":{"code":"bad_connect","message":"CONNECT needs host:port"}}');
      return;
    }
    const host = m[1].replace(/^\[|\]$/g, '').toLowerCase();
    if (this.interceptedHosts().has(`${host}:${port}`)) {
      if (!this.deps.ca) {
        client.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\n');
        return;
      }
      const ca = this.deps.ca;
      void ca.contextFor(host).then(
        (secureContext) => {
          if (client.destroyed) return;
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          if (head.length) client.unshift(head);
          const tls = new TLSSocket(client, { isServer: true, secureContext }) as TLSSocket & { keywardHost?: string; keywardTcp?: Socket };
          tls.keywardHost = `${host}:${port}`;
          tls.keywardTcp = client;
          tls.on('error', () => tls.destroy());
          // A handshake that stops halfway must not hold the socket forever.
          const timer = setTimeout(() => tls.destroy(), 15_000).unref();
          tls.once('secure', () => clearTimeout(timer));
          this.mitm.emit('connection', tls);
        },
        (error: unknown) => {
          this.deps.log({ level: 'error', msg: 'could not mint a certificate for an intercepted host', host, error: error instanceof Error ? error.message : String(error) });
          client.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\n');
        },
      );
      return;
    }
    if (this.deps.policy().egress === 'deny') {
      void this.deps.audit.append({ event: 'proxy.request', downstream: { method: 'CONNECT', host, path: '', status: 403 }, decision: 'deny', reason: 'egress: deny, and no grant covers this host' }).catch(() => {});
      client.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-type: application/json\r\n\r\n{"error":{"code":"egress_denied","message":"policy egress is deny and no grant covers this host"}}');
      return;
    }
    const upstream = netConnect(port, host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.setTimeout(30_000, () => upstream.destroy());
    upstream.on('error', () => {
      if (client.writable && !upstream.readable) client.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\n\r\n');
      client.destroy();
    });
    client.on('close', () => upstream.destroy());
  }

  // ── requests ──────────────────────────────────────────────────────────────────────────────

  private readonly peers = new WeakMap<object, Promise<Peer>>();
  private readonly resolver = new TcpPeerResolver(() => this.port);

  /** The process behind a request's TCP connection and its ancestors, looked up once per connection. */
  private peerOf(req: IncomingMessage): Promise<Peer> {
    const socket = req.socket as Socket & { keywardTcp?: Socket };
    const tcp = socket.keywardTcp ?? socket;
    let p = this.peers.get(tcp);
    if (!p) this.peers.set(tcp, (p = this.resolver.lookup(tcp).then((pid) => ({ pid, ancestors: pid === undefined ? [] : ancestry(pid) }))));
    return p;
  }

  private async secretFor(credential: string): Promise<string> {
    const cached = this.secrets.get(credential);
    if (cached && cached.until > Date.now()) return cached.value;
    const value = await this.deps.vault.get(credential);
    this.secrets.set(credential, { value, until: Date.now() + SECRET_CACHE_MS });
    return value;
  }

  private agentFor(profile: ProviderProfile, https: boolean): HttpAgent | HttpsAgent {
    const key = `${profile.name}|${profile.upstream}|${profile.ca ?? ''}`;
    let agent = this.agents.get(key);
    if (!agent) {
      // An extra CA goes in through a secure context: as a `ca` option, Node would concatenate the
      // whole bundle into the agent's pool key on every request.
      agent = https
        ? new HttpsAgent({ keepAlive: true, maxSockets: 256, ...(profile.ca ? { secureContext: createSecureContext({ ca: [...rootCertificates, readFileSync(profile.ca, 'utf8')] }) } : {}) })
        : new HttpAgent({ keepAlive: true, maxSockets: 256 });
      this.agents.set(key, agent);
    }
    return agent;
  }

  /**
   * One proxied request. `intercepted` is the CONNECT target (host:port) for requests from an
   * intercepted tunnel, undefined in base-URL mode.
   */
  private async handle(req: IncomingMessage, res: ServerResponse, intercepted: string | undefined): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    let context: RecordContext = {};
    try {
      let target = req.url ?? '/';
      if (intercepted) {
        // Inside a tunnel, an absolute-form target or a Host header must name the tunnel's host.
        const [tHost, tPort] = intercepted.split(':');
        if (/^https?:\/\//i.test(target)) {
          const u = new URL(target);
          if (u.hostname.toLowerCase() !== tHost || Number(u.port || 443) !== Number(tPort)) throw new ProxyError(400, 'host_mismatch', 'the request names another host than its tunnel');
          target = u.pathname + u.search;
        }
        const hostHeader = (req.headers.host ?? '').toLowerCase();
        if (hostHeader && hostHeader !== tHost && hostHeader !== `${tHost}:${tPort}`) throw new ProxyError(400, 'host_mismatch', `Host header ${hostHeader} does not match the tunnel to ${tHost}`);
      } else if (!target.startsWith('/')) {
        throw new ProxyError(400, 'absolute_form', 'this is not an open proxy: send requests to /<credential>/<path>, or use CONNECT');
      }
      const normalized = normalizePath(target);
      if (!normalized.ok) throw new ProxyError(400, 'bad_path', `refused: ${normalized.reason}`);
      let path = normalized.path;
      if (!intercepted) {
        const mcp = splitMcpPath(path);
        if (mcp) return await this.handleMcp(req, res, method, mcp.server, mcp.rest, normalized.query);
      }
      let credentialFromPath: string | undefined;
      if (!intercepted) {
        const slash = path.indexOf('/', 1);
        credentialFromPath = decodeURIComponent(path.slice(1, slash === -1 ? undefined : slash));
        path = slash === -1 ? '/' : path.slice(slash);
      }
      const found = findToken(req, normalized.query);
      if (!found) {
        if (intercepted) return this.forward(req, res, { path, query: normalized.query, host: intercepted });
        throw new ProxyError(401, 'no_grant_token', 'no keyward grant token in the request', { hint: 'Start the agent with keyward run --grant <credential>:<permission>, which sets the placeholder where the SDK reads its key.' });
      }
      const grant = this.deps.broker.grantForToken(found.token);
      if (!grant) throw new ProxyError(401, 'invalid_grant', 'the grant token is not valid: unknown, expired, revoked, or from before a daemon restart');
      const session = this.deps.broker.sessionOf(grant);
      if (!session) throw new ProxyError(401, 'invalid_grant', 'the grant\'s session has ended');
      // A token is a bearer capability, but only inside its session: the connecting process
      // must descend from the session's root (a token copied to another agent is useless).
      if (this.deps.checkPeer !== false && PEER_LOOKUP_SUPPORTED) {
        const { pid, ancestors } = await this.peerOf(req);
        if (pid === undefined || !ancestors.includes(session.pid)) {
          throw new ProxyError(403, 'foreign_session', pid === undefined ? 'the calling process could not be identified' : `process ${pid} is not part of the session that holds this grant`);
        }
      }
      const profile = this.deps.providers().get(grant.provider);
      const up = profile && upstreamHost(profile);
      if (!profile || !up) throw new ProxyError(502, 'no_upstream', `provider ${grant.provider} has no upstream configured`);
      context = { grant, session, host: up.host, path };
      if (grant.mode !== 'proxy') throw new ProxyError(403, 'release_grant', 'a release grant cannot be used through the proxy');
      if (credentialFromPath !== undefined && credentialFromPath !== grant.credential) {
        throw new ProxyError(403, 'wrong_credential', `the grant is for ${grant.credential}, not ${credentialFromPath}`);
      }
      if (intercepted && intercepted !== `${up.host}:${up.port}`) throw new ProxyError(403, 'wrong_host', `the grant for ${grant.credential} does not cover ${intercepted}`);
      checkFraming(req, method);
      const rules = profile.permissions[grant.permission] ?? [];
      if (!allowedBy(rules, method, path, grant.resource, profile.resource)) {
        await this.denyOutOfScope(res, grant, session, profile, method, path, up.host);
        return;
      }
      const secret = await this.secretFor(grant.credential);
      await this.forward(req, res, { path, query: normalized.query, host: `${up.host}:${up.port}`, profile, secret, placeholder: found.token, grant, session });
    } catch (error) {
      this.fail(req, res, error, context, method);
    }
  }

  /** Answers a refused or failed request with a JSON error, and audits it. */
  private fail(req: IncomingMessage, res: ServerResponse, error: unknown, context: RecordContext, method: string): void {
    const e =
      error instanceof ProxyError
        ? error
        : error instanceof BrokerError
          ? new ProxyError(error.status, error.code, error.message, error.hint ? { hint: error.hint } : {})
          : new ProxyError(502, 'proxy_error', error instanceof Error ? error.message : String(error));
    if (!res.headersSent) {
      const body = JSON.stringify({ error: { code: e.code, message: e.message, ...e.extra } });
      res.writeHead(e.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' });
      res.end(body);
    } else res.destroy();
    req.resume();
    this.record(context, method, e.status, e.message);
  }

  /**
   * `/_mcp/<server>/<rest>`: an HTTP MCP server's requests, from a client that holds no token.
   * Who may use it is decided from who is calling: a process of this user (never a browser),
   * granted access by the policy or a person as agent `mcp:<server>`.
   */
  private async handleMcp(req: IncomingMessage, res: ServerResponse, method: string, server: string, rest: string, query: string): Promise<void> {
    const context: RecordContext = { path: `/_mcp/${server}${rest}` };
    try {
      // A web page must not borrow the key: the browser is a process of this user too.
      const browser = browserSignal(req.headers);
      if (browser) throw new ProxyError(403, 'browser_request', `refused: the request carries ${browser}, so it comes from a web browser; web pages may not use MCP keys`, { hint: 'MCP clients send neither Origin nor Sec-Fetch-Site; call this route from the MCP client, not from a web page.' });
      // DNS rebinding: a page on evil.example re-pointed at 127.0.0.1 still sends its own host name.
      const host = String(req.headers.host ?? '').toLowerCase();
      if (host !== `127.0.0.1:${this.port}` && host !== `localhost:${this.port}`) {
        throw new ProxyError(403, 'bad_host', `refused: the Host header must be 127.0.0.1:${this.port} or localhost:${this.port}`);
      }
      if (!MCP_SERVER.test(server)) {
        throw new ProxyError(404, 'unknown_mcp_server', `"${server.slice(0, 100)}" is not an MCP server name`, { hint: `Use the URL keyward migrate wrote: http://127.0.0.1:${this.port}/_mcp/<server>/<path>.` });
      }
      checkFraming(req, method);

      // The caller: a live process of this OS user, from the kernel's socket table. Fail closed.
      if (!PEER_LOOKUP_SUPPORTED) {
        throw new ProxyError(403, 'peer_lookup_unsupported', `the MCP route needs to identify the calling process, which keyward can do only on Linux`, { hint: 'On this platform, start the MCP server through keyward run instead (see docs/integrations/mcp-clients.md).' });
      }
      const peer = await this.peerOf(req);
      if (peer.pid === undefined) throw new ProxyError(403, 'unknown_caller', 'the calling process could not be identified', { hint: 'keyward reads it with ss (iproute2): check that ss is installed. Processes of other users are never identified.' });
      context.pid = peer.pid;
      peer.owner ??= processOwner(peer.pid) ?? null;
      const uid = process.getuid?.();
      if (!peer.owner || peer.owner.uids.some((u) => u !== uid)) {
        throw new ProxyError(403, 'foreign_user', `process ${peer.pid} is not a live process of the user the daemon runs as`);
      }

      const target = mcpTarget(this.deps.vault.find({ helper: MCP_HELPER, server }), server);
      context.credential = target.credential;
      context.host = new URL(target.upstream).hostname;
      context.path = rest;
      const entry = this.deps.vault.describe(target.credential);
      const providers = this.deps.providers();
      const base = (entry && providers.get(entry.provider)) ?? providers.get('generic')!;
      const permission = mcpPermission(base);
      if (!permission) {
        throw new ProxyError(502, 'bad_mcp_entry', `vault entry ${target.credential} has provider ${base.name}, which has no permission allowing GET, POST and DELETE on every path`, { hint: 'Store MCP keys with the generic provider: run keyward migrate again for this MCP client.' });
      }
      const profile = mcpProfile(base, target);

      const access = await this.mcp.access({ target, permission, pid: peer.pid, start: peer.owner.start, ancestors: peer.ancestors });
      context.session = access.session;
      if (!access.ok) throw access.error;
      context.grant = access.grant;
      if (!allowedBy(profile.permissions[permission] ?? [], method, rest)) {
        throw new ProxyError(403, 'out_of_scope', `${method} is not allowed by permission ${permission} of ${target.credential}`);
      }
      const secret = await this.secretFor(target.credential);
      await this.forward(req, res, { path: rest, query, host: context.host, profile, secret, grant: access.grant, session: access.session });
    } catch (error) {
      this.fail(req, res, error, context, method);
    }
  }

  /** 403 naming the grant that would be needed; step-up consent where the policy says ask. */
  private async denyOutOfScope(res: ServerResponse, grant: Grant, session: Session, profile: ProviderProfile, method: string, path: string, host: string): Promise<void> {
    const needed = permissionFor(profile, method, path);
    const needs = needed ? [grant.credential, needed.permission, needed.resource].filter(Boolean).join(':') : undefined;
    let consent: string | undefined;
    if (needed) {
      try {
        const outcome = await this.deps.broker.requestGrant(session, { credential: grant.credential, permission: needed.permission, resource: needed.resource, mode: 'proxy' });
        if (outcome.status === 'pending') consent = outcome.consent;
      } catch {
        /* the denial below stands */
      }
    }
    const message = `grant ${grant.id} (${[grant.credential, grant.permission, grant.resource].filter(Boolean).join(':')}) does not allow ${method} ${path}`;
    const body = JSON.stringify({
      error: {
        code: 'out_of_scope',
        message,
        ...(needs ? { needs } : {}),
        ...(consent ? { consent, hint: `A person was asked (keyward approve). Wait for it with GET /v1/consent/${consent} on KEYWARD_AGENT_SOCK, or run: keyward grant request ${needs}` } : needs ? { hint: `Ask for it: keyward grant request ${needs}` } : {}),
      },
    });
    res.writeHead(403, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    this.record({ grant, session, host, path }, method, 403, message);
  }

  private forward(
    req: IncomingMessage,
    res: ServerResponse,
    target: { path: string; query: string; host: string; profile?: ProviderProfile; secret?: string; placeholder?: string; grant?: Grant; session?: Session },
  ): Promise<void> {
    const maxBody = this.deps.maxBody ?? DEFAULT_MAX_BODY;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBody) throw new ProxyError(413, 'too_large', `the request body is larger than ${maxBody} bytes`);
    const profile = target.profile;
    const up = profile ? upstreamHost(profile)! : { host: target.host.split(':')[0], port: Number(target.host.split(':')[1]), https: true };
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (HOP_BY_HOP.has(name) || value === undefined) continue;
      // The placeholder never leaves, nor does any other grant token: drop every header that
      // carries one where keyward injects a key.
      const text = Array.isArray(value) ? value.join(',') : value;
      if (target.placeholder && text.includes(target.placeholder)) continue;
      if (target.secret !== undefined && TOKEN.test(text)) continue;
      if (name === 'authorization' && target.placeholder && /^basic /i.test(String(value))) continue;
      headers[name] = value;
    }
    headers.host = up.port === (up.https ? 443 : 80) ? up.host : `${up.host}:${up.port}`;
    headers['accept-encoding'] = 'identity'; // so that an echoed key can be found and replaced
    if (req.headers['content-length'] !== undefined) headers['content-length'] = req.headers['content-length'];
    let query = target.query;
    if (profile && target.secret !== undefined) {
      const inject = profile.inject;
      // A function as replacement: a key holding `$&` or `$'` must go in verbatim.
      const secret = target.secret;
      if ('header' in inject) headers[inject.header.toLowerCase()] = inject.value.replace('{secret}', () => secret);
      else if ('basic' in inject) {
        const user = inject.basic.username.replace('{secret}', () => secret);
        const pass = inject.basic.password.replace('{secret}', () => secret);
        headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
      } else {
        const params = new URLSearchParams(query.replace(/^\?/, ''));
        for (const [k, v] of [...params]) if (v.includes(target.placeholder ?? '\u0000')) params.delete(k);
        params.set(inject.query, target.secret);
        query = `?${params.toString()}`;
      }
    }
    if (target.placeholder && query.includes(target.placeholder)) {
      const params = new URLSearchParams(query.replace(/^\?/, ''));
      for (const [k, v] of [...params]) if (v.includes(target.placeholder)) params.delete(k);
      query = params.toString() ? `?${params.toString()}` : '';
    }
    const basePath = profile ? new URL(profile.upstream).pathname.replace(/\/$/, '') : '';
    const requestFn = up.https ? httpsRequest : httpRequest;
    return new Promise((resolve) => {
      const upstreamReq = requestFn(
        {
          host: up.host,
          port: up.port,
          method: req.method,
          path: basePath + target.path + query,
          headers,
          agent: profile ? this.agentFor(profile, up.https) : undefined,
          servername: up.https && !isIP(up.host) ? up.host : undefined,
          timeout: this.deps.upstreamTimeout ?? 60_000,
        },
        (upstreamRes) => {
          const outHeaders: OutgoingHttpHeaders = {};
          for (const [name, value] of Object.entries(upstreamRes.headers)) {
            if (value === undefined || (HOP_BY_HOP.has(name) && name !== 'content-length')) continue;
            outHeaders[name] = value;
          }
          const mask = target.placeholder ?? REDACTED;
          const scrub = target.secret ? new KeyScrubber(target.secret, mask) : undefined;
          if (scrub) delete outHeaders['content-length']; // a replacement can change the length
          for (const [name, value] of Object.entries(outHeaders)) {
            if (target.secret && typeof value === 'string' && value.includes(target.secret)) outHeaders[name] = value.split(target.secret).join(mask);
            else if (target.secret && Array.isArray(value)) outHeaders[name] = value.map((v) => v.split(target.secret!).join(mask));
          }
          // An event stream may rightly stay quiet for long (MCP's GET stream waits for server
          // messages); the upstream timeout is for the answer to start, not for its pauses.
          if (/^text\/event-stream/i.test(String(upstreamRes.headers['content-type'] ?? ''))) upstreamReq.setTimeout(0);
          res.writeHead(upstreamRes.statusCode ?? 502, outHeaders);
          (scrub ? upstreamRes.pipe(scrub) : upstreamRes).pipe(res);
          upstreamRes.on('error', () => res.destroy());
          res.on('close', () => {
            upstreamRes.destroy();
            resolve();
          });
          if (target.grant) this.record({ grant: target.grant, session: target.session, host: up.host, path: target.path }, req.method ?? 'GET', upstreamRes.statusCode ?? 0);
        },
      );
      upstreamReq.on('timeout', () => upstreamReq.destroy(Object.assign(new Error('upstream timed out'), { code: 'ETIMEDOUT' })));
      upstreamReq.on('error', (error: NodeJS.ErrnoException) => {
        const status = error.code === 'ETIMEDOUT' ? 504 : 502;
        if (!res.headersSent) {
          const body = JSON.stringify({ error: { code: status === 504 ? 'upstream_timeout' : 'upstream_error', message: `the upstream ${up.host} ${status === 504 ? 'did not answer in time' : `failed: ${error.code ?? error.message}`}` } });
          res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        } else res.destroy();
        if (target.grant) this.record({ grant: target.grant, session: target.session, host: up.host, path: target.path }, req.method ?? 'GET', status, `upstream ${status === 504 ? 'timed out' : 'failed'}`);
        resolve();
      });
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBody) {
          upstreamReq.destroy();
          if (!res.headersSent) {
            res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
            res.end(JSON.stringify({ error: { code: 'too_large', message: `the request body is larger than ${maxBody} bytes` } }));
          }
          req.destroy();
        }
      });
      req.pipe(upstreamReq);
      req.on('aborted', () => upstreamReq.destroy());
    });
  }

  /** One audit record per proxied request; written in the background (it never delays a response). */
  private record(context: RecordContext, method: string, status: number, reason?: string): void {
    const { grant, session } = context;
    void this.deps.audit
      .append({
        event: 'proxy.request',
        ...(session ? { agent: session.agent, session: session.id, delegator: session.delegator, chain: [session.delegator, ...session.chain], task: session.task } : {}),
        ...(grant ? { grant: grant.id, credential: grant.credential, permission: grant.permission, resource: grant.resource } : context.credential ? { credential: context.credential } : {}),
        ...(context.pid !== undefined && !session ? { pid: context.pid } : {}),
        downstream: { method, host: context.host ?? '?', path: context.path ?? '?', status },
        decision: reason ? 'deny' : 'allow',
        ...(reason ? { reason } : {}),
      })
      .catch((e) => this.deps.log({ level: 'error', msg: 'audit of a proxied request failed', error: String(e) }));
  }
}

/** The process behind a connection: looked up once per connection, its owner read when needed. */
interface Peer {
  pid?: number;
  ancestors: number[];
  /** uids and start time, for the MCP route; null once found unreadable. */
  owner?: { uids: number[]; start: string } | null;
}

/** Method overrides and ambiguous framing, refused on every route that injects a key. */
function checkFraming(req: IncomingMessage, method: string): void {
  for (const h of METHOD_OVERRIDES) {
    const v = req.headers[h];
    if (v !== undefined && String(v).toUpperCase() !== method) throw new ProxyError(403, 'method_override', `refused: ${h} would change the method to ${v}`);
  }
  // Request smuggling: the two length headers disagree about where the body ends.
  if (req.headers['content-length'] !== undefined && req.headers['transfer-encoding'] !== undefined) {
    throw new ProxyError(400, 'ambiguous_length', 'refused: both Content-Length and Transfer-Encoding');
  }
}
