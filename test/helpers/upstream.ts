import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import forge from 'node-forge';

/**
 * Stand-ins for providers' APIs: real HTTP and HTTPS servers on loopback (the HTTPS one with a
 * test CA of its own). They record what they receive, so tests can check what the proxy sent.
 */
export interface Received {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface Upstream {
  url: string;
  port: number;
  received: Received[];
  close(): Promise<void>;
}

function handler(received: Received[]) {
  return (req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      const entry = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      received.push(entry);
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname.endsWith('/big')) {
        const mb = Number(url.searchParams.get('mb') ?? '100');
        const chunk = Buffer.alloc(1024 * 1024, 'k');
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': mb * chunk.length });
        let sent = 0;
        const pump = () => {
          while (sent < mb) {
            sent++;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        return pump();
      }
      if (url.pathname.endsWith('/sse')) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
        let n = 0;
        const timer = setInterval(() => {
          res.write(`data: event ${n}\n\n`);
          if (++n === 5) {
            clearInterval(timer);
            res.end();
          }
        }, 150);
        return;
      }
      if (url.pathname.endsWith('/echo-auth')) {
        const auth = String(req.headers.authorization ?? req.headers['x-api-key'] ?? '');
        res.writeHead(401, { 'content-type': 'text/html', 'x-echo': auth });
        return void res.end(`<html>invalid key: ${auth} (${auth})</html>`);
      }
      if (/\/mcp\/?$/.test(url.pathname)) return mcp(req, res, body);
      if (url.pathname.endsWith('/hang')) return; // never answers
      if (url.pathname.endsWith('/reset')) return void req.socket.destroy();
      const text = JSON.stringify({ ok: true, method: entry.method, path: entry.path });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  };
}

/**
 * An MCP server over streamable HTTP, as far as the proxy can tell: POST answers with an event
 * stream (a progress notification, then the result after a pause, echoing the Authorization and
 * X-Api-Key headers it got), GET opens a stream that stays quiet for 1.5 s before its one event,
 * DELETE ends the MCP session.
 */
function mcp(req: IncomingMessage, res: ServerResponse, body: string): void {
  if (req.method === 'DELETE') return void res.writeHead(204).end();
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'mcp-session-id': 'mcp-session-1' });
  if (req.method === 'GET') {
    res.write(': stream open\n\n');
    const timer = setTimeout(() => res.end('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/late"}\n\n'), 1500);
    res.on('close', () => clearTimeout(timer));
    return;
  }
  let id: unknown = null;
  try {
    id = (JSON.parse(body) as { id?: unknown }).id ?? null;
  } catch {
    /* not JSON-RPC: answer with id null */
  }
  const seen = { authorization: req.headers.authorization ?? null, apiKey: req.headers['x-api-key'] ?? null };
  res.write('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}\n\n');
  setTimeout(() => res.end(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id, result: { seen } })}\n\n`), 300);
}

async function listen(server: Server, host: string): Promise<number> {
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  return (server.address() as { port: number }).port;
}

export async function httpUpstream(host = '127.0.0.1'): Promise<Upstream> {
  const received: Received[] = [];
  const server = createHttpServer(handler(received));
  const port = await listen(server, host);
  return {
    url: `http://${host}:${port}`,
    port,
    received,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function certificate(
  subject: string,
  issuer: forge.pki.Certificate | undefined,
  issuerKey: ReturnType<typeof generateKeyPairSync>['privateKey'] | undefined,
  ca: boolean,
  ip?: string,
) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = '0' + randomBytes(8).toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 3_600_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ name: 'commonName', value: subject }]);
  cert.setIssuer(issuer ? issuer.subject.attributes : [{ name: 'commonName', value: subject }]);
  cert.setExtensions(
    ca
      ? [
          { name: 'basicConstraints', cA: true },
          { name: 'keyUsage', keyCertSign: true },
        ]
      : [
          { name: 'subjectAltName', altNames: [{ type: 7, ip }] },
          { name: 'extKeyUsage', serverAuth: true },
        ],
  );
  cert.signatureOid = forge.pki.oids.sha256WithRSAEncryption;
  cert.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption;
  const tbs = (forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate(cert);
  cert.tbsCertificate = tbs;
  cert.signature = sign('sha256', Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary'), issuerKey ?? privateKey).toString('binary');
  return { cert, pem: forge.pki.certificateToPem(cert), key: privateKey };
}

/**
 * A server identity for `host` (an IP address) from a fresh test CA, whose certificate is written
 * to `dir/<name>-ca.pem`: what a server behind a private CA (GitHub Enterprise, an internal STS) has.
 */
export function privateCaIdentity(dir: string, host = '127.0.0.1', name = 'private'): { caFile: string; key: string; cert: string } {
  const ca = certificate(`keyward test ${name} CA`, undefined, undefined, true);
  const leaf = certificate(host, ca.cert, ca.key, false, host);
  const caFile = join(dir, `${name}-ca.pem`);
  writeFileSync(caFile, ca.pem);
  return { caFile, key: leaf.key.export({ type: 'pkcs8', format: 'pem' }).toString(), cert: leaf.pem };
}

/** An HTTPS upstream whose certificate comes from a test CA written to `dir/upstream-ca.pem`. */
export async function httpsUpstream(dir: string, host = '127.0.0.2'): Promise<Upstream & { caFile: string }> {
  const ca = certificate('keyward test upstream CA', undefined, undefined, true);
  const leaf = certificate(host, ca.cert, ca.key, false, host);
  const caFile = join(dir, 'upstream-ca.pem');
  writeFileSync(caFile, ca.pem);
  const received: Received[] = [];
  const server = createHttpsServer({ key: leaf.key.export({ type: 'pkcs8', format: 'pem' }), cert: leaf.pem }, handler(received));
  const port = await listen(server, host);
  return {
    url: `https://${host}:${port}`,
    port,
    received,
    caFile,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
