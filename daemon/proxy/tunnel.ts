import { request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { ProxyDeps } from './proxy.js';
import { upstreamOf } from './forward.js';
import { isOwnAddress, targetsSelf } from './admission.js';

/** A TLS socket from an intercepted tunnel, with what the proxy needs to know about it. */
export type InterceptedSocket = TLSSocket & { keywardHost?: string; keywardTcp?: Socket };

/**
 * Interception mode: `CONNECT host:port` from clients that honour HTTPS_PROXY. A host that some
 * live proxy grant's provider answers on is terminated with a certificate from keyward's local
 * CA and its requests are handed to `mitm` (where the grant is checked and the key injected);
 * any other host is tunnelled untouched, or refused when the policy says `egress: deny`.
 */
export class Tunnels {
  constructor(
    private readonly deps: Pick<ProxyDeps, 'broker' | 'providers' | 'policy' | 'ca' | 'audit' | 'log'>,
    /** The HTTP server that receives the requests decrypted from intercepted tunnels. */
    private readonly mitm: Server,
    /** The proxy's own port: a tunnel back to it would make the daemon the caller. */
    private readonly selfPort: () => number = () => 0,
  ) {}

  private refuseLoop(client: Socket, host: string, port: number): void {
    void this.deps.audit
      .append({
        event: 'proxy.request',
        downstream: { method: 'CONNECT', host: `${host}:${port}`, path: '', status: 403 },
        decision: 'deny',
        reason: 'a tunnel to the proxy itself',
      })
      .catch(() => {});
    if (client.writable)
      client.end(
        'HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-type: application/json\r\n\r\n{"error":{"code":"proxy_loop","message":"refused: the CONNECT target is keyward\'s own proxy; requests must come from the calling process itself"}}',
      );
    else client.destroy();
  }

  /** Hosts that some live grant's provider answers on: those CONNECTs are inspected. */
  private interceptedHosts(): Set<string> {
    const hosts = new Set<string>();
    for (const g of this.deps.broker.listGrants()) {
      if (g.mode !== 'proxy') continue;
      const profile = this.deps.providers().get(g.provider);
      const up = profile && upstreamOf(profile);
      if (up) hosts.add(`${up.host}:${up.port}`);
    }
    return hosts;
  }

  connect(req: IncomingMessage, client: Socket, head: Buffer): void {
    client.on('error', () => client.destroy());
    const target = req.url ?? '';
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})$/.exec(target);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) {
      client.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-type: application/json\r\n\r\n{"error":{"code":"bad_connect","message":"CONNECT needs host:port"}}');
      return;
    }
    const host = m[1].replace(/^\[|\]$/g, '').toLowerCase();
    if (targetsSelf(host, port, this.selfPort())) return this.refuseLoop(client, host, port);
    if (this.interceptedHosts().has(`${host}:${port}`)) return this.intercept(client, head, host, port);
    if (this.deps.policy().egress === 'deny') {
      void this.deps.audit
        .append({ event: 'proxy.request', downstream: { method: 'CONNECT', host, path: '', status: 403 }, decision: 'deny', reason: 'egress: deny, and no grant covers this host' })
        .catch(() => {});
      client.end(
        'HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-type: application/json\r\n\r\n{"error":{"code":"egress_denied","message":"policy egress is deny and no grant covers this host"}}',
      );
      return;
    }
    this.passThrough(client, head, host, port);
  }

  private intercept(client: Socket, head: Buffer, host: string, port: number): void {
    const ca = this.deps.ca;
    if (!ca) {
      client.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\n');
      return;
    }
    void ca.contextFor(host).then(
      (secureContext) => {
        if (client.destroyed) return;
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length) client.unshift(head);
        const tls = new TLSSocket(client, { isServer: true, secureContext }) as InterceptedSocket;
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
  }

  /**
   * A plain-HTTP request in absolute form (`GET http://host:port/path`), which clients that read
   * HTTPS_PROXY for every scheme send (npm): no grant applies to plain HTTP (keys are only injected
   * into intercepted TLS), so it is relayed untouched like a CONNECT to an uncovered host, or
   * refused under `egress: deny`.
   */
  relayPlain(req: IncomingMessage, res: ServerResponse, target: string): void {
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      url = new URL('http://invalid.');
    }
    const json = (status: number, code: string, message: string) => {
      res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ error: { code, message } }));
      req.resume();
    };
    if (!url.hostname || url.hostname === 'invalid.') return json(400, 'bad_request', 'not an http:// URL');
    if (this.deps.policy().egress === 'deny') {
      void this.deps.audit
        .append({
          event: 'proxy.request',
          downstream: { method: req.method ?? 'GET', host: url.host, path: url.pathname, status: 403 },
          decision: 'deny',
          reason: 'egress: deny, and no grant covers plain HTTP',
        })
        .catch(() => {});
      return json(403, 'egress_denied', 'policy egress is deny and no grant covers plain HTTP');
    }
    const headers = { ...req.headers };
    for (const h of ['proxy-authorization', 'proxy-connection', 'connection', 'keep-alive', 'te', 'trailer', 'upgrade']) delete headers[h];
    const upstream = httpRequest(
      { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 80), method: req.method, path: url.pathname + url.search, headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.setTimeout(30_000, () => upstream.destroy(new Error('timeout')));
    upstream.on('error', () => (res.headersSent ? res.destroy() : json(502, 'bad_gateway', `cannot reach ${url.host}`)));
    req.pipe(upstream);
  }

  private passThrough(client: Socket, head: Buffer, host: string, port: number): void {
    const upstream = netConnect(port, host, () => {
      // Another name for this machine (127.1, 2130706433, a host name resolving to a local
      // address) is caught once the address is known.
      if (upstream.remotePort === this.selfPort() && isOwnAddress(upstream.remoteAddress ?? '')) {
        upstream.destroy();
        return this.refuseLoop(client, host, port);
      }
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
}
