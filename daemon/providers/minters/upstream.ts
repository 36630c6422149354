import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createSecureContext, rootCertificates } from 'node:tls';

export interface UpstreamAnswer {
  status: number;
  text: string;
}

const agents = new Map<string, HttpsAgent>();

/**
 * An agent per CA file: the system's CAs plus the PEM file a provider profile names in `ca:`
 * (an upstream behind a private CA: GitHub Enterprise Server, an internal STS endpoint), or the
 * system's alone (''). Never a shared agent: its pool would hand a connection verified against
 * one profile's CA to a request of another profile that does not trust it.
 */
function agentFor(caFile: string | undefined): HttpsAgent {
  const key = caFile ?? '';
  let agent = agents.get(key);
  if (!agent) {
    const secureContext = caFile ? createSecureContext({ ca: [...rootCertificates, readFileSync(caFile, 'utf8')] }) : undefined;
    agents.set(key, (agent = new HttpsAgent({ keepAlive: true, maxSockets: 16, ...(secureContext ? { secureContext } : {}) })));
  }
  return agent;
}

/**
 * One request from a minter to its upstream, answered with the status and the body as text.
 * Honours the profile's `ca:`, which the global fetch cannot; gives up after `timeoutMs`.
 * Rejects with the transport's error (a refused connection, a certificate the CAs do not vouch
 * for, the timeout); the caller turns it into a `mint_failed` naming the upstream.
 */
export function upstreamRequest(url: URL, init: { method: string; headers: Record<string, string>; body?: string; ca?: string; timeoutMs?: number }): Promise<UpstreamAnswer> {
  return new Promise((resolve, reject) => {
    const https = url.protocol === 'https:';
    const options = {
      method: init.method,
      headers: { ...init.headers, ...(init.body !== undefined ? { 'content-length': String(Buffer.byteLength(init.body)) } : {}) },
      signal: AbortSignal.timeout(init.timeoutMs ?? 10_000),
      ...(https ? { agent: agentFor(init.ca) } : { agent: false as const }),
    };
    const onAnswer = (res: import('node:http').IncomingMessage) => {
      const parts: Buffer[] = [];
      res.on('data', (part: Buffer) => parts.push(part));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    };
    const req = https ? httpsRequest(url, options, onAnswer) : httpRequest(url, options, onAnswer);
    req.on('error', reject);
    req.end(init.body);
  });
}

/** A transport failure as a person reads it: the cause's code and message, not `fetch failed`. */
export function transportError(error: unknown): string {
  const e = error as NodeJS.ErrnoException & { cause?: unknown };
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError') return 'no answer in time';
  return [e?.code, e?.message].filter(Boolean).join(': ') || String(error);
}
