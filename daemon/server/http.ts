import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { z } from 'zod';
import { isKeywardError } from '../../kernel/errors.js';
import { DaemonError, errorBody, statusOf } from '../errors.js';
import { unixPeer, type PeerCredentials } from './identity.js';
import { ConnectionCounter, connectionCaps } from './limits.js';

/** Largest request body either socket accepts. */
export const MAX_BODY = 64 * 1024;

export type SocketName = 'agent' | 'admin';

export interface Reply {
  status: number;
  body?: unknown;
}

export interface Context {
  req: IncomingMessage;
  res: ServerResponse;
  socket: SocketName;
  url: URL;
  params: Record<string, string>;
  /** The bearer token of the request, if any. */
  token?: string;
  /** The parsed, schema-checked JSON body (at most `limit` bytes, MAX_BODY unless a route says more). */
  body<S extends z.ZodType>(schema: S, limit?: number): Promise<z.infer<S>>;
  /** The pid of the connecting process, from the kernel (undefined where it cannot tell). */
  peer(): Promise<number | undefined>;
  /** How callers are identified: see IdentityMode. */
  identity: IdentityMode;
}

/**
 * `kernel`: every caller's pid and uid come from the kernel (SO_PEERCRED / LOCAL_PEERPID);
 * `fail-closed`: the platform cannot tell, so admin calls and tokens are refused;
 * `off`: the platform cannot tell and config.yaml says `security: { requireCallerIdentity: false }`.
 */
export type IdentityMode = 'kernel' | 'fail-closed' | 'off';

export type Handler = (ctx: Context) => Promise<Reply | 'streaming'>;

interface Route {
  method: string;
  parts: string[];
  handler: Handler;
}

/** A tiny router: `/v1/consent/:id`-style patterns, exact methods. */
export class Router {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler): this {
    this.routes.push({ method, parts: pattern.split('/').filter(Boolean), handler });
    return this;
  }

  match(method: string, path: string): { handler: Handler; params: Record<string, string> } | 'method' | undefined {
    const parts = path.split('/').filter(Boolean);
    let methodMismatch = false;
    for (const route of this.routes) {
      if (route.parts.length !== parts.length) continue;
      const params: Record<string, string> = {};
      const ok = route.parts.every((p, i) => {
        if (p.startsWith(':')) {
          params[p.slice(1)] = decodeURIComponent(parts[i]);
          return true;
        }
        return p === parts[i];
      });
      if (!ok) continue;
      if (route.method !== method) {
        methodMismatch = true;
        continue;
      }
      return { handler: route.handler, params };
    }
    return methodMismatch ? 'method' : undefined;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body ?? {});
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/** Reads a body up to MAX_BODY; a larger one is refused before it is read in full. */
function readBody(req: IncomingMessage, limit = MAX_BODY): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(new DaemonError('too_large', `the request body is larger than ${limit} bytes`));
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (part: Buffer) => {
      size += part.length;
      if (size > limit) {
        // Stop keeping the body, but not the connection: destroying it here would leave the
        // client without its 413. The rest is discarded as it arrives (bounded by requestTimeout).
        req.removeAllListeners('data');
        req.resume();
        reject(new DaemonError('too_large', `the request body is larger than ${limit} bytes`));
        return;
      }
      parts.push(part);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
    req.on('aborted', () => reject(new DaemonError('aborted', 'the client went away')));
  });
}

export interface ServerOptions {
  socket: SocketName;
  router: Router;
  log: (entry: Record<string, unknown>) => void;
  identity: IdentityMode;
}

/**
 * An HTTP/1.1 server for one Unix socket. Every failure becomes a JSON error; nothing a client
 * sends can take the process down. Slow clients are bounded by the header and request timeouts.
 */
export function createApiServer(options: ServerOptions): Server {
  const peers = new WeakMap<Socket, PeerCredentials | null>();
  const credentials = (socket: Socket): PeerCredentials | undefined => {
    let c = peers.get(socket);
    if (c === undefined) peers.set(socket, (c = unixPeer(socket) ?? null));
    return c ?? undefined;
  };
  const ownUid = process.getuid?.();
  const refused = new WeakSet<Socket>();
  // Timeouts are checked every second (Node's default is every 30 s), so a slow client is cut off
  // close to the limit.
  const server = createServer({ headersTimeout: 10_000, requestTimeout: 15_000, connectionsCheckingInterval: 1000 }, async (req, res) => {
    if (refused.has(req.socket)) return void req.socket.destroy();
    const started = performance.now();
    let status = 500;
    try {
      const url = new URL(req.url ?? '/', 'http://keyward.local');
      // The socket file is owner-only; a process of another user (root, or one that was handed
      // the descriptor) is refused all the same.
      const caller = credentials(req.socket);
      if (caller && ownUid !== undefined && caller.uid !== ownUid) {
        throw new DaemonError('foreign_user', `${options.socket}.sock serves only uid ${ownUid}; the caller (pid ${caller.pid}) runs as uid ${caller.uid}`);
      }
      const found = options.router.match(req.method ?? 'GET', url.pathname);
      if (found === undefined) throw new DaemonError('not_found', `no route ${req.method} ${url.pathname} on ${options.socket}.sock`);
      if (found === 'method') throw new DaemonError('method_not_allowed', `${req.method} is not allowed on ${url.pathname}`);
      const auth = req.headers.authorization;
      const ctx: Context = {
        req,
        res,
        socket: options.socket,
        url,
        params: found.params,
        token: auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined,
        async body(schema, limit) {
          const raw = await readBody(req, limit);
          let value: unknown;
          try {
            value = raw.length ? JSON.parse(raw.toString('utf8')) : {};
          } catch {
            throw new DaemonError('bad_json', 'the request body is not valid JSON');
          }
          const parsed = schema.safeParse(value);
          if (!parsed.success) {
            const issue = parsed.error.issues[0];
            const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
            const detail = issue.code === 'unrecognized_keys' ? `unknown field "${issue.keys[0]}"` : issue.message;
            throw new DaemonError('bad_request', `${where}${detail}`);
          }
          return parsed.data;
        },
        peer() {
          return Promise.resolve(caller?.pid);
        },
        identity: options.identity,
      };
      const reply = await found.handler(ctx);
      if (reply === 'streaming') {
        status = 200;
        return;
      }
      status = reply.status;
      sendJson(res, reply.status, reply.body);
    } catch (error) {
      if (isKeywardError(error)) {
        status = statusOf(error);
        sendJson(res, status, errorBody(error));
      } else {
        status = 500;
        options.log({ level: 'error', msg: 'handler failed', error: error instanceof Error ? error.message : String(error) });
        sendJson(
          res,
          500,
          errorBody(new DaemonError('internal', 'the daemon hit an internal error; it keeps running', { hint: 'Run `keyward daemon status`; the daemon log has details.' })),
        );
      }
    } finally {
      options.log({
        level: 'debug',
        socket: options.socket,
        method: req.method,
        path: (req.url ?? '').split('?')[0],
        status,
        ms: Math.round((performance.now() - started) * 10) / 10,
      });
    }
  });
  // Caps: a flood of connections (from an agent, say) is refused before it takes the daemon's
  // descriptors; each process gets a share, so keyward run and keyward approve still connect.
  const caps = connectionCaps();
  const perPeer = new ConnectionCounter(caps.unixPerPeer);
  server.maxConnections = caps.unix;
  server.on('connection', (socket: Socket) => {
    const caller = credentials(socket);
    if (caller && !perPeer.admit(`pid:${caller.pid}`, socket)) {
      options.log({ level: 'warn', msg: `${options.socket}.sock: too many connections from one process`, pid: caller.pid, cap: caps.unixPerPeer });
      // The refusal is an answer the client can read, not a reset: it is written at once and the
      // connection is closed; the request it carries is never handled.
      refused.add(socket);
      const body = JSON.stringify(
        errorBody(
          new DaemonError('too_many_connections', `${options.socket}.sock: pid ${caller.pid} already holds ${caps.unixPerPeer} connections`, {
            hint: 'Wait for answers before sending more requests, or reuse connections (keep-alive).',
          }),
        ),
      );
      socket.end(`HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      setTimeout(() => socket.destroy(), 1000).unref();
    }
  });
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 50;
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const timeout = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const body = timeout ? '{"error":{"code":"timeout","message":"the request was not sent in time"}}' : '{"error":{"code":"bad_http","message":"malformed HTTP request"}}';
    socket.end(
      `HTTP/1.1 ${timeout ? '408 Request Timeout' : '400 Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  return server;
}
