import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AuditLog } from '../audit/log.js';
import type { Broker, Grant, Session } from '../broker/broker.js';
import { isKeywardError } from '../../kernel/errors.js';
import { DaemonError, statusOf } from '../errors.js';
import type { Policy } from '../policy/policy.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { ancestry, TcpPeerResolver } from '../server/identity.js';
import { ConnectionCounter, connectionCaps, peerKey, refusal } from './admission.js';
import type { Vault } from '../vault/vault.js';
import type { LocalCA } from './ca.js';
import { Forwarder, sendError } from './forward.js';
import { handleGranted } from './grant-route.js';
import { McpClients, splitMcpPath } from './mcp.js';
import { handleMcp } from './mcp-route.js';
import { normalizePath } from './rules.js';
import { type InterceptedSocket, Tunnels } from './tunnel.js';

export { KeyScrubber } from './scrubber.js';

/**
 * The credential-injecting proxy: agents hold a placeholder (their grant's `kwg_` token) and the
 * proxy swaps it for the real key on requests the grant allows. Three ways in, on one loopback
 * listener:
 *
 * - base-URL mode: `http://127.0.0.1:PORT/<credential>/<path>` is forwarded to the provider's
 *   upstream (SDKs are pointed here through their base-URL variables): grant-route.ts;
 * - interception mode: `CONNECT host:443` (HTTPS_PROXY): tunnel.ts, then grant-route.ts for the
 *   requests inside an intercepted tunnel;
 * - the MCP route: `http://127.0.0.1:PORT/_mcp/<server>/<path>`, for HTTP MCP servers whose client
 *   holds no token at all; the calling process is identified and granted access: mcp-route.ts.
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

/** What the audit record of a proxied request says about it. */
export type RecordContext = { grant?: Grant; session?: Session; host?: string; path?: string; credential?: string; pid?: number };

/** The process behind a connection: looked up once per connection, its owner read when needed. */
export interface Peer {
  pid?: number;
  /** Owner of the client socket, from /proc/net/tcp. */
  uid?: number;
  ancestors: number[];
  /** uids and start time, for the MCP route; null once found unreadable. */
  owner?: { uids: number[]; start: string } | null;
}

/** What the routes share: the dependencies, the caller lookup, the key cache, forwarding and audit. */
export interface ProxyContext {
  deps: ProxyDeps;
  port(): number;
  peerOf(req: IncomingMessage): Promise<Peer>;
  secretFor(credential: string): Promise<string>;
  forwarder: Forwarder;
  record(context: RecordContext, method: string, status: number, reason?: string): void;
}

const SECRET_CACHE_MS = 60_000;

/** How long a refused connection may stay open for its client to read the answer. */
const REFUSED_LINGER_MS = 1000;

/**
 * Answers a refused connection and closes it. The socket is destroyed shortly after whether or not
 * the client closes its side: a client that never reads (a flood) would otherwise keep every
 * refused connection open, fill the proxy's connection cap and lock out everyone else.
 */
function refuse(socket: Socket, answer: string): void {
  socket.resume();
  socket.end(answer);
  setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
}

export class CredentialProxy {
  private server?: Server;
  private readonly mitm: Server;
  private readonly tunnels: Tunnels;
  private readonly secrets = new Map<string, { value: string; until: number }>();
  private readonly mcp: McpClients;
  private readonly peers = new WeakMap<object, Promise<Peer>>();
  private readonly resolver = new TcpPeerResolver();
  /** Per connection: whether it may be served (its peer is known, of this user, within the caps). */
  private readonly admitted = new WeakMap<Socket, Promise<boolean>>();
  private readonly caps = connectionCaps();
  private readonly perPeer = new ConnectionCounter(this.caps.perPeer);
  private readonly ctx: ProxyContext;
  port = 0;
  /** Set when the configured port was taken and the proxy listens on another one. */
  portFallback?: { requested: number; code: string };

  constructor(private readonly deps: ProxyDeps) {
    this.mcp = new McpClients(deps.broker, deps.consentTimeout ?? 2 * 60_000);
    const record = this.record.bind(this);
    this.ctx = {
      deps,
      port: () => this.port,
      peerOf: (req) => this.peerOf(req),
      secretFor: (credential) => this.secretFor(credential),
      forwarder: new Forwarder({ maxBody: deps.maxBody, upstreamTimeout: deps.upstreamTimeout, record }),
      record,
    };
    // Requests decrypted from intercepted CONNECT tunnels land here.
    this.mitm = createServer((req, res) => void this.handle(req, res, (req.socket as InterceptedSocket).keywardHost));
    this.mitm.on('clientError', (_e, socket) => socket.destroy());
    this.tunnels = new Tunnels(deps, this.mitm, () => this.port);
  }

  async listen(): Promise<number> {
    const server = createServer({ connectionsCheckingInterval: 1000, headersTimeout: 15_000, requestTimeout: 0 }, (req, res) => void this.handle(req, res, undefined));
    // Beyond the cap the kernel's connection is accepted and closed at once.
    server.maxConnections = this.caps.total;
    server.on('connection', (socket: Socket) => this.admit(socket));
    server.on('connect', (req, socket: Socket, head: Buffer) => {
      void this.admission(socket).then((ok) => ok && this.tunnels.connect(req, socket, head));
    });
    server.on('clientError', (_error: NodeJS.ErrnoException, socket) => {
      if (socket.writable)
        socket.end(
          'HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 73\r\n\r\n{"error":{"code":"bad_http","message":"malformed request or CONNECT line"}}',
        );
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
      this.deps.log({
        level: 'warn',
        msg: `proxy port ${requested} is not available (${code}); listening on a free port instead. MCP clients pointed at port ${requested} cannot reach keyward until it is free and the daemon restarted`,
        port: requested,
        code,
      });
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
    this.ctx.forwarder.close();
  }

  /** The process behind a TCP connection and its ancestors, looked up once per connection. */
  private peerOfSocket(tcp: Socket): Promise<Peer> {
    let p = this.peers.get(tcp);
    if (!p) this.peers.set(tcp, (p = this.resolver.lookup(tcp).then(({ pid, uid }) => ({ pid, uid, ancestors: pid === undefined ? [] : ancestry(pid) }))));
    return p;
  }

  /** The process behind a request's TCP connection (for a tunnelled request, the tunnel's client). */
  private peerOf(req: IncomingMessage): Promise<Peer> {
    const socket = req.socket as InterceptedSocket;
    return this.peerOfSocket(socket.keywardTcp ?? socket);
  }

  /**
   * Attributes a new connection to its process before anything on it is served: another user's,
   * the daemon's own (a loop back through the proxy), or one over its peer's share is closed.
   */
  private admit(socket: Socket): void {
    socket.on('error', () => socket.destroy());
    this.admitted.set(
      socket,
      this.peerOfSocket(socket).then((peer) => {
        const why = refusal(peer, process.getuid?.());
        if (why) {
          this.deps.log({ level: 'warn', msg: 'proxy connection refused', reason: why, pid: peer.pid });
          if (peer.pid === process.pid) socket.destroy();
          else {
            const body = JSON.stringify({ error: { code: 'foreign_user', message: `refused: ${why}` } });
            refuse(socket, `HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
          }
          return false;
        }
        if (!this.perPeer.admit(peerKey(peer), socket)) {
          this.deps.log({ level: 'warn', msg: 'proxy connection refused: too many connections from one process', pid: peer.pid, cap: this.caps.perPeer });
          const body = `{"error":{"code":"too_many_connections","message":"this process holds ${this.caps.perPeer} connections to the proxy already"}}`;
          refuse(socket, `HTTP/1.1 429 Too Many Requests\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
          return false;
        }
        return true;
      }),
    );
  }

  private admission(socket: Socket): Promise<boolean> {
    return this.admitted.get(socket) ?? Promise.resolve(true);
  }

  private async secretFor(credential: string): Promise<string> {
    const cached = this.secrets.get(credential);
    if (cached && cached.until > Date.now()) return cached.value;
    const value = await this.deps.vault.get(credential);
    this.secrets.set(credential, { value, until: Date.now() + SECRET_CACHE_MS });
    return value;
  }

  /**
   * One proxied request. `intercepted` is the CONNECT target (host:port) for requests from an
   * intercepted tunnel, undefined for requests sent to the listener itself.
   */
  private async handle(req: IncomingMessage, res: ServerResponse, intercepted: string | undefined): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const context: RecordContext = {};
    const tcp = (req.socket as InterceptedSocket).keywardTcp ?? req.socket;
    if (!(await this.admission(tcp))) {
      req.resume();
      return;
    }
    try {
      let target = req.url ?? '/';
      if (intercepted) {
        // Inside a tunnel, an absolute-form target or a Host header must name the tunnel's host.
        const [tHost, tPort] = intercepted.split(':');
        if (/^https?:\/\//i.test(target)) {
          const u = new URL(target);
          if (u.hostname.toLowerCase() !== tHost || Number(u.port || 443) !== Number(tPort))
            throw new DaemonError('host_mismatch', 'the request names another host than its tunnel');
          target = u.pathname + u.search;
        }
        const hostHeader = (req.headers.host ?? '').toLowerCase();
        if (hostHeader && hostHeader !== tHost && hostHeader !== `${tHost}:${tPort}`)
          throw new DaemonError('host_mismatch', `Host header ${hostHeader} does not match the tunnel to ${tHost}`);
      } else if (/^http:\/\//i.test(target) && !carriesKeywardToken(req)) {
        // Plain HTTP sent to the proxy (npm sends it to HTTPS_PROXY): relayed as CONNECT is. A
        // request holding a grant or session token is not: the token is for this proxy alone.
        return this.tunnels.relayPlain(req, res, target);
      } else if (!target.startsWith('/')) {
        throw new DaemonError('absolute_form', 'this is not an open proxy: send requests to /<credential>/<path>, or use CONNECT');
      }
      const normalized = normalizePath(target);
      if (!normalized.ok) throw new DaemonError('bad_path', `refused: ${normalized.reason}`);
      const mcp = intercepted ? undefined : splitMcpPath(normalized.path);
      if (mcp) {
        context.path = `/_mcp/${mcp.server}${mcp.rest}`;
        await handleMcp(this.ctx, this.mcp, req, res, { method, ...mcp, query: normalized.query }, context);
      } else {
        await handleGranted(this.ctx, req, res, { method, path: normalized.path, query: normalized.query, intercepted }, context);
      }
    } catch (error) {
      this.fail(req, res, error, context, method);
    }
  }

  /** Answers a refused or failed request with a JSON error, and audits it. */
  private fail(req: IncomingMessage, res: ServerResponse, error: unknown, context: RecordContext, method: string): void {
    const e = isKeywardError(error) ? error : new DaemonError('proxy_error', error instanceof Error ? error.message : String(error));
    if (!res.headersSent) sendError(res, e, true);
    else res.destroy();
    req.resume();
    this.record(context, method, statusOf(e), e.message);
  }

  /** One audit record per proxied request; written in the background (it never delays a response). */
  private record(context: RecordContext, method: string, status: number, reason?: string): void {
    const { grant, session } = context;
    void this.deps.audit
      .append({
        event: 'proxy.request',
        ...(session ? { agent: session.agent, session: session.id, delegator: session.delegator, chain: [session.delegator, ...session.chain], task: session.task } : {}),
        ...(grant
          ? { grant: grant.id, credential: grant.credential, permission: grant.permission, resource: grant.resource }
          : context.credential
            ? { credential: context.credential }
            : {}),
        ...(context.pid !== undefined && !session ? { pid: context.pid } : {}),
        downstream: { method, host: context.host ?? '?', path: context.path ?? '?', status },
        decision: reason ? 'deny' : 'allow',
        ...(reason ? { reason } : {}),
      })
      .catch((e) => this.deps.log({ level: 'error', msg: 'audit of a proxied request failed', error: String(e) }));
  }
}

/** A grant or session token anywhere in the request's headers. */
function carriesKeywardToken(req: IncomingMessage): boolean {
  return Object.values(req.headers).some((v) => (Array.isArray(v) ? v : [v ?? '']).some((x) => /kw[gs]_[A-Za-z0-9]{20}/.test(x)));
}
