import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { createSecureContext, rootCertificates } from 'node:tls';
import type { Grant, Session } from '../broker/broker.js';
import type { KeywardError } from '../../kernel/errors.js';
import { DaemonError, errorBody, statusOf } from '../errors.js';
import type { ProviderProfile } from '../providers/types.js';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { KeyScrubber } from './scrubber.js';

/**
 * Forwarding to the upstream: the only network I/O of the proxy. Headers are copied minus
 * hop-by-hop ones and every grant token, the key is injected (`injectKey`, pure), and the answer
 * streams back with any echo of the key replaced.
 */

/** A keyward grant token anywhere in a header or query. */
export const GRANT_TOKEN = /kwg_[A-Za-z0-9]{49}/;
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'accept-encoding',
]);
const DEFAULT_MAX_BODY = 64 * 1024 * 1024;
/** What an echoed key is replaced with where the client holds no placeholder (the MCP route). */
const REDACTED = '[redacted by keyward]';

export interface Upstream {
  host: string;
  port: number;
  https: boolean;
}

/** Host, port and scheme of a provider's upstream, or undefined when it has none (or a bad one). */
export function upstreamOf(profile: ProviderProfile): Upstream | undefined {
  if (!profile.upstream) return undefined;
  try {
    const u = new URL(profile.upstream);
    return { host: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)), https: u.protocol === 'https:' };
  } catch {
    return undefined;
  }
}

/** Where a request goes, and what it carries. */
export interface ForwardTarget {
  path: string;
  query: string;
  /** host:port; the upstream's when a profile is given. */
  host: string;
  profile?: ProviderProfile;
  /** The key to inject; undefined for an untouched request in an intercepted tunnel. */
  secret?: string;
  /** The grant token the client sent in the key's place. */
  placeholder?: string;
  grant?: Grant;
  session?: Session;
}

/**
 * The request's headers and query as they go upstream: hop-by-hop headers and every grant token
 * dropped, the key injected where the provider takes it. Pure.
 */
export function injectKey(
  incoming: IncomingHttpHeaders,
  query: string,
  target: Pick<ForwardTarget, 'profile' | 'secret' | 'placeholder'>,
): { headers: OutgoingHttpHeaders; query: string } {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (HOP_BY_HOP.has(name) || value === undefined) continue;
    // The placeholder never leaves, nor does any other grant token: drop every header that
    // carries one where keyward injects a key.
    const text = Array.isArray(value) ? value.join(',') : value;
    if (target.placeholder && text.includes(target.placeholder)) continue;
    if (target.secret !== undefined && GRANT_TOKEN.test(text)) continue;
    if (name === 'authorization' && target.placeholder && /^basic /i.test(String(value))) continue;
    headers[name] = value;
  }
  const withoutPlaceholder = (q: string, placeholder: string) => {
    const params = new URLSearchParams(q.replace(/^\?/, ''));
    for (const [k, v] of [...params]) if (v.includes(placeholder)) params.delete(k);
    return params;
  };
  const { profile, secret, placeholder } = target;
  if (profile && secret !== undefined) {
    const inject = profile.inject;
    // A function as replacement: a key holding `$&` or `$'` must go in verbatim.
    if ('header' in inject) headers[inject.header.toLowerCase()] = inject.value.replace('{secret}', () => secret);
    else if ('basic' in inject) {
      const user = inject.basic.username.replace('{secret}', () => secret);
      const pass = inject.basic.password.replace('{secret}', () => secret);
      headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    } else {
      const params = withoutPlaceholder(query, placeholder ?? '\u0000');
      params.set(inject.query, secret);
      query = `?${params.toString()}`;
    }
  }
  if (placeholder && query.includes(placeholder)) {
    const params = withoutPlaceholder(query, placeholder);
    query = params.toString() ? `?${params.toString()}` : '';
  }
  return { headers, query };
}

export type Recorder = (context: { grant?: Grant; session?: Session; host: string; path: string }, method: string, status: number, reason?: string) => void;

/** Connection pools to upstreams, one per provider profile, and the forwarding itself. */
export class Forwarder {
  private readonly agents = new Map<string, HttpAgent | HttpsAgent>();

  constructor(
    private readonly options: {
      /** Largest request body forwarded, in bytes. */
      maxBody?: number;
      /** Milliseconds an upstream may take to answer before a 504. */
      upstreamTimeout?: number;
      record: Recorder;
    },
  ) {}

  close(): void {
    for (const a of this.agents.values()) a.destroy();
  }

  private agentFor(profile: ProviderProfile, https: boolean): HttpAgent | HttpsAgent {
    const key = `${profile.name}|${profile.upstream}|${profile.ca ?? ''}`;
    let agent = this.agents.get(key);
    if (!agent) {
      // An extra CA goes in through a secure context: as a `ca` option, Node would concatenate the
      // whole bundle into the agent's pool key on every request.
      agent = https
        ? new HttpsAgent({
            keepAlive: true,
            maxSockets: 256,
            ...(profile.ca ? { secureContext: createSecureContext({ ca: [...rootCertificates, readFileSync(profile.ca, 'utf8')] }) } : {}),
          })
        : new HttpAgent({ keepAlive: true, maxSockets: 256 });
      this.agents.set(key, agent);
    }
    return agent;
  }

  forward(req: IncomingMessage, res: ServerResponse, target: ForwardTarget): Promise<void> {
    const maxBody = this.options.maxBody ?? DEFAULT_MAX_BODY;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBody) throw new DaemonError('too_large', `the request body is larger than ${maxBody} bytes`);
    const profile = target.profile;
    const up = profile ? upstreamOf(profile)! : { host: target.host.split(':')[0], port: Number(target.host.split(':')[1]), https: true };
    const { headers, query } = injectKey(req.headers, target.query, target);
    headers.host = up.port === (up.https ? 443 : 80) ? up.host : `${up.host}:${up.port}`;
    headers['accept-encoding'] = 'identity'; // so that an echoed key can be found and replaced
    if (req.headers['content-length'] !== undefined) headers['content-length'] = req.headers['content-length'];
    const basePath = profile ? new URL(profile.upstream).pathname.replace(/\/$/, '') : '';
    const requestFn = up.https ? httpsRequest : httpRequest;
    const record = (status: number, reason?: string) => {
      if (target.grant) this.options.record({ grant: target.grant, session: target.session, host: up.host, path: target.path }, req.method ?? 'GET', status, reason);
    };
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
          timeout: this.options.upstreamTimeout ?? 60_000,
        },
        (upstreamRes) => {
          const outHeaders: OutgoingHttpHeaders = {};
          for (const [name, value] of Object.entries(upstreamRes.headers)) {
            if (value === undefined || (HOP_BY_HOP.has(name) && name !== 'content-length')) continue;
            outHeaders[name] = value;
          }
          const mask = target.placeholder ?? REDACTED;
          const secret = target.secret;
          const scrub = secret ? new KeyScrubber(secret, mask) : undefined;
          let body: NodeJS.ReadableStream = upstreamRes;
          if (scrub) {
            delete outHeaders['content-length']; // a replacement can change the length
            for (const [name, value] of Object.entries(outHeaders)) if (value !== undefined) outHeaders[name] = scrub.header(value);
            // Identity was asked for; an upstream that compresses anyway is decoded here, so that a
            // compressed echo of the key cannot pass the scrubber. An encoding keyward cannot read
            // is refused rather than passed on unread.
            const encoding = String(upstreamRes.headers['content-encoding'] ?? 'identity')
              .trim()
              .toLowerCase();
            const decoder =
              encoding === 'gzip' || encoding === 'x-gzip' ? createGunzip() : encoding === 'deflate' ? createInflate() : encoding === 'br' ? createBrotliDecompress() : undefined;
            if (decoder) {
              delete outHeaders['content-encoding'];
              decoder.on('error', () => res.destroy());
              body = upstreamRes.pipe(decoder);
            } else if (encoding !== 'identity' && encoding !== '') {
              upstreamRes.destroy();
              sendError(
                res,
                new DaemonError('upstream_error', `the upstream ${up.host} answered in an encoding keyward cannot check for the key (${encoding.slice(0, 40)})`),
                false,
              );
              record(502, 'unreadable content-encoding');
              resolve();
              return;
            }
          }
          // An event stream may rightly stay quiet for long (MCP's GET stream waits for server
          // messages); the upstream timeout is for the answer to start, not for its pauses.
          if (/^text\/event-stream/i.test(String(upstreamRes.headers['content-type'] ?? ''))) upstreamReq.setTimeout(0);
          res.writeHead(upstreamRes.statusCode ?? 502, outHeaders);
          (scrub ? body.pipe(scrub) : upstreamRes).pipe(res);
          upstreamRes.on('error', () => res.destroy());
          res.on('close', () => {
            upstreamRes.destroy();
            resolve();
          });
          record(upstreamRes.statusCode ?? 0);
        },
      );
      upstreamReq.on('timeout', () => upstreamReq.destroy(Object.assign(new Error('upstream timed out'), { code: 'ETIMEDOUT' })));
      upstreamReq.on('error', (error: NodeJS.ErrnoException) => {
        const timedOut = error.code === 'ETIMEDOUT';
        const failure = timedOut
          ? new DaemonError('upstream_timeout', `the upstream ${up.host} did not answer in time`)
          : new DaemonError('upstream_error', `the upstream ${up.host} failed: ${error.code ?? error.message}`);
        if (!res.headersSent) sendError(res, failure, false);
        else res.destroy();
        record(failure.status, `upstream ${timedOut ? 'timed out' : 'failed'}`);
        resolve();
      });
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBody) {
          upstreamReq.destroy();
          if (!res.headersSent) sendError(res, new DaemonError('too_large', `the request body is larger than ${maxBody} bytes`), true);
          req.destroy();
        }
      });
      req.pipe(upstreamReq);
      req.on('aborted', () => upstreamReq.destroy());
    });
  }
}

/** A JSON error answer: `{error: {code, message, ...details}}` with the code's status. */
export function sendError(res: ServerResponse, error: KeywardError, close: boolean): void {
  const body = JSON.stringify(errorBody(error));
  res.writeHead(statusOf(error), { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(close ? { connection: 'close' } : {}) });
  res.end(body);
}
