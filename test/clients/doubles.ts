import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySigV4 } from '../helpers/aws-doubles.js';

/**
 * Loopback stand-ins for the remote APIs the clients call. Each answers only when it receives
 * the real key (401 otherwise, as the real API would), and records what it was sent, so a test
 * can tell the key a client held from the key that reached the API.
 */

export function listen(server: Server, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as AddressInfo).port)));
}

function close(server: Server): Promise<void> {
  return new Promise((r) => {
    server.closeAllConnections();
    server.close(() => r());
  });
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString('utf8')));
    req.on('end', () => resolve(text));
  });
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function events(res: ServerResponse, list: { event?: string; data: unknown }[]): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const e of list) res.write(`${e.event ? `event: ${e.event}\n` : ''}data: ${typeof e.data === 'string' ? e.data : JSON.stringify(e.data)}\n\n`);
  res.end();
}

export interface ModelCall {
  api: 'anthropic' | 'openai';
  method: string;
  path: string;
  /** The key the request carried (x-api-key or the bearer token), as it arrived. */
  key: string;
  stream: boolean;
  /** Whether that was the real key. */
  authorized: boolean;
}

export interface ModelApi {
  url: string;
  calls: ModelCall[];
  close(): Promise<void>;
}

/** What the doubles answer: a client that prints it got its answer from the double. */
export const REPLY = 'pong from the double';

/**
 * The Anthropic Messages API (`POST /v1/messages`, streaming or not; `count_tokens`) and the
 * OpenAI Chat Completions API (`POST /v1/chat/completions`, streaming or not) on one server.
 */
export async function modelApi(keys: { anthropic: string; openai: string }): Promise<ModelApi> {
  const calls: ModelCall[] = [];
  const server = createServer((req, res) => {
    void body(req).then((text) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      let request: { stream?: boolean; model?: string } = {};
      try {
        request = JSON.parse(text || '{}');
      } catch {
        /* not JSON: answered below as the API would */
      }
      const stream = request.stream === true;
      const model = request.model ?? 'model';
      if (path.startsWith('/v1/chat/') || path === '/v1/models') {
        const key = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
        calls.push({ api: 'openai', method: req.method ?? '', path, key, stream, authorized: key === keys.openai });
        if (key !== keys.openai) return json(res, 401, { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' } });
        if (path !== '/v1/chat/completions') return json(res, 404, { error: { message: 'not here', type: 'invalid_request_error' } });
        const base = { id: 'chatcmpl-1', created: Math.floor(Date.now() / 1000), model };
        if (!stream) {
          return json(res, 200, {
            ...base,
            object: 'chat.completion',
            choices: [{ index: 0, message: { role: 'assistant', content: REPLY }, finish_reason: 'stop' }],
            usage: { prompt_tokens: 1, completion_tokens: 4, total_tokens: 5 },
          });
        }
        const chunk = (delta: object, finish: string | null) => ({ data: { ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] } });
        return events(res, [
          chunk({ role: 'assistant', content: '' }, null),
          ...REPLY.split(/(?= )/).map((t) => chunk({ content: t }, null)),
          chunk({}, 'stop'),
          { data: '[DONE]' },
        ]);
      }
      const key = String(req.headers['x-api-key'] ?? String(req.headers.authorization ?? '').replace(/^Bearer /, ''));
      calls.push({ api: 'anthropic', method: req.method ?? '', path, key, stream, authorized: key === keys.anthropic });
      if (key !== keys.anthropic) return json(res, 401, { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } });
      if (path === '/v1/messages/count_tokens') return json(res, 200, { input_tokens: 1 });
      if (path !== '/v1/messages') return json(res, 404, { type: 'error', error: { type: 'not_found_error', message: `no ${path} here` } });
      const message = { id: 'msg_1', type: 'message', role: 'assistant', model, stop_sequence: null };
      if (!stream) return json(res, 200, { ...message, content: [{ type: 'text', text: REPLY }], stop_reason: 'end_turn', usage: { input_tokens: 1, output_tokens: 4 } });
      return events(res, [
        { event: 'message_start', data: { type: 'message_start', message: { ...message, content: [], stop_reason: null, usage: { input_tokens: 1, output_tokens: 1 } } } },
        { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } },
        ...REPLY.split(/(?= )/).map((t) => ({ event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } } })),
        { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
        { event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 4 } } },
        { event: 'message_stop', data: { type: 'message_stop' } },
      ]);
    });
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, calls, close: () => close(server) };
}

export interface StsCall {
  action: string;
  accessKeyId?: string;
  verified: boolean;
  why?: string;
}

/**
 * AWS STS's GetCallerIdentity, answering only requests whose SigV4 signature verifies with the
 * secret of the one access key it knows (test/helpers/aws-doubles.ts verifySigV4).
 */
export async function stsDouble(key: { accessKeyId: string; secret: string }): Promise<{ url: string; calls: StsCall[]; close(): Promise<void> }> {
  const calls: StsCall[] = [];
  const server = createServer((req, res) => {
    void body(req).then((text) => {
      const params = Object.fromEntries(new URLSearchParams(text));
      const check = verifySigV4(req, Buffer.from(text), 'sts', (id) => (id === key.accessKeyId ? { secret: key.secret } : undefined));
      calls.push({ action: params.Action, accessKeyId: check.accessKeyId, verified: check.ok, why: check.why });
      res.setHeader('content-type', 'text/xml');
      if (!check.ok) {
        res.writeHead(403);
        return res.end(`<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>${check.why}</Message></Error></ErrorResponse>`);
      }
      if (params.Action !== 'GetCallerIdentity') {
        res.writeHead(400);
        return res.end(`<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>not here</Message></Error></ErrorResponse>`);
      }
      res.end(
        '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>' +
          `<Arn>arn:aws:iam::123456789012:user/ada</Arn><UserId>${key.accessKeyId}</UserId><Account>123456789012</Account>` +
          '</GetCallerIdentityResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></GetCallerIdentityResponse>',
      );
    });
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, calls, close: () => close(server) };
}
