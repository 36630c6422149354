import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { randomAlnum } from '../helpers/secrets.js';
import { httpUpstream, type Upstream } from '../helpers/upstream.js';

type ErrorReply = { error: { code: string; message: string; hint?: string; needs?: string } };

const RAW = fileURLToPath(new URL('../helpers/raw-requests.mjs', import.meta.url));
/** The route identifies its caller from the kernel's socket table: Linux with ss. */
const HAS_PEER_LOOKUP = process.platform === 'linux' && spawnSync('sh', ['-c', 'command -v ss']).status === 0;
const IS_ROOT = process.getuid?.() === 0;
const HAS_SETPRIV = spawnSync('sh', ['-c', 'command -v setpriv && command -v curl']).status === 0;

const POLICY = `defaults: { decision: ask, maxTtl: 1h }
rules:
  - { agent: "mcp:github", credential: github-mcp, permission: write, decision: allow, maxTtl: 1h }
  - { agent: "claude-code", credential: github-mcp, permission: write, decision: allow }
  - { agent: "mcp:blocked", credential: blocked-mcp, permission: write, decision: deny }
  - { agent: "mcp:dollar", credential: dollar-mcp, permission: write, decision: allow }
`;

const rpc = (id: number) => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/list' });

describe.skipIf(!HAS_PEER_LOOKUP)('the MCP route: HTTP MCP servers through the proxy, without a token', () => {
  let d: TestDaemon;
  let up: Upstream;
  let port = 0;
  let base = '';
  const githubKey = `ghp_${randomAlnum(36)}`;
  const linearKey = `lin_api_${randomAlnum(40)}`;
  const blockedKey = `sk_live_${randomAlnum(32)}`;
  /** String.replace patterns: they must reach the upstream as they are. */
  const dollarKey = `k$&$'$\`$$${randomAlnum(24)}`;

  const addEntry = async (name: string, value: string, attributes: Record<string, string>) => {
    const r = await d.api('admin', 'POST', '/v1/vault', { name, provider: 'generic', value, source: 'test', attributes });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  };
  const mcpPost = (server: string, id: number, headers: Record<string, string> = {}) =>
    fetch(`${base}/_mcp/${server}/mcp/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: rpc(id),
    });
  const grantsOf = async (agent: string) => {
    const r = await d.api('admin', 'GET', '/v1/grants');
    return { grants: r.body.grants.filter((g: { agent: string }) => g.agent === agent), sessions: r.body.sessions.filter((s: { agent: string }) => s.agent === agent) };
  };

  beforeAll(async () => {
    up = await httpUpstream();
    d = await startDaemon({ files: { 'config/policy.yaml': POLICY, 'config/config.yaml': 'consent: { timeout: 5s }\nproxy: { port: 0, upstreamTimeout: 1s }\n' } });
    await addEntry('github-mcp', githubKey, { helper: 'mcp-http', server: 'github', upstream: up.url, header: 'authorization', prefix: 'Bearer ' });
    await addEntry('linear-mcp', linearKey, { helper: 'mcp-http', server: 'linear', upstream: up.url, header: 'x-api-key', prefix: '' });
    await addEntry('blocked-mcp', blockedKey, { helper: 'mcp-http', server: 'blocked', upstream: up.url, header: 'authorization', prefix: 'Bearer ' });
    await addEntry('dollar-mcp', dollarKey, { helper: 'mcp-http', server: 'dollar', upstream: up.url, header: 'authorization', prefix: 'Token ' });
    const status = await d.api('admin', 'GET', '/v1/status');
    base = status.body.proxy;
    port = Number(new URL(base).port);
  });

  afterAll(async () => {
    await d?.stop();
    await up?.close();
  });

  it('injects the key for a client that holds none, streams the answer and scrubs an echoed key', async () => {
    const t0 = Date.now();
    const r = await mcpPost('github', 1, { authorization: 'Bearer stale-key-from-the-old-config' });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/event-stream');
    expect(r.headers.get('mcp-session-id')).toBe('mcp-session-1');
    const times: number[] = [];
    let text = '';
    const decoder = new TextDecoder();
    for await (const chunk of r.body as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk);
      times.push(Date.now() - t0);
    }
    const events = text
      .split('\n\n')
      .filter(Boolean)
      .map((e) => JSON.parse(e.split('data: ')[1]));
    expect(events[0].method).toBe('notifications/progress');
    expect(events[1]).toEqual({ jsonrpc: '2.0', id: 1, result: { seen: { authorization: 'Bearer [redacted by keyward]', apiKey: null } } });
    expect(times.at(-1)! - times[0]).toBeGreaterThan(200); // the progress event came before the result
    expect(text).not.toContain(githubKey);
    const last = up.received.at(-1)!;
    expect(last).toMatchObject({ method: 'POST', path: '/mcp/', body: rpc(1) });
    expect(last.headers.authorization).toBe(`Bearer ${githubKey}`);
    expect(last.headers.host).toBe(new URL(up.url).host);
  });

  it('injects a key verbatim, whatever characters it holds', async () => {
    const r = await mcpPost('dollar', 13);
    expect(r.status).toBe(200);
    expect(await r.text()).toContain('"authorization":"Token [redacted by keyward]"');
    expect(up.received.at(-1)!.headers.authorization).toBe(`Token ${dollarKey}`);
  });

  it('keeps a quiet event stream open past the upstream timeout, and passes DELETE', async () => {
    const get = await fetch(`${base}/_mcp/github/mcp/`, { headers: { accept: 'text/event-stream' } });
    expect(get.status).toBe(200);
    expect(await get.text()).toContain('notifications/late'); // sent after 1.5 s of silence; the timeout is 1 s
    const del = await fetch(`${base}/_mcp/github/mcp/`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect(up.received.at(-1)).toMatchObject({ method: 'DELETE', path: '/mcp/' });
  });

  it('opens one session per client process, as a child of no one, and reuses its grant', async () => {
    await Promise.all([mcpPost('github', 2), mcpPost('github', 3), mcpPost('github', 4)].map(async (p) => (await p).text()));
    const { grants, sessions } = await grantsOf('mcp:github');
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ pid: process.pid, task: 'MCP over HTTP', chain: [expect.any(String), 'mcp:github'] });
    expect(grants).toHaveLength(1);
    expect(grants[0]).toMatchObject({ credential: 'github-mcp', permission: 'write', mode: 'proxy' });
    // The client's session does not claim its process tree: the person at this keyboard (a
    // child of the client here) can still use admin.sock.
    const status = await d.cli(['daemon', 'status']);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`proxy     ${base}`);
  });

  it('holds a request the policy asks about until a person allows it', async () => {
    const pending = mcpPost('linear', 5);
    let consent: { id: string; agent: string; chain: string[]; credential: string; permission: string } | undefined;
    for (let i = 0; i < 100 && !consent; i++) {
      consent = (await d.api('admin', 'GET', '/v1/consent')).body.pending.find((c: { agent: string }) => c.agent === 'mcp:linear');
      // eslint-disable-next-line no-restricted-syntax -- a fixed sleep, still to be replaced by a state wait (docs/testing.md#known-debt)
      if (!consent) await new Promise((r) => setTimeout(r, 50));
    }
    expect(consent).toMatchObject({ credential: 'linear-mcp', permission: 'write', chain: [expect.any(String), 'mcp:linear'] });
    const answer = await d.cli(['consent', 'allow', consent!.id]);
    expect(answer.code, answer.stderr).toBe(0);
    const r = await pending;
    expect(r.status).toBe(200);
    expect(await r.text()).toContain('"apiKey":"[redacted by keyward]"');
    expect(up.received.at(-1)!.headers['x-api-key']).toBe(linearKey);
  });

  it('answers a denial with what to change, and never reaches the upstream', async () => {
    const before = up.received.length;
    const r = await mcpPost('blocked', 6);
    expect(r.status).toBe(403);
    const body = (await r.json()) as ErrorReply;
    expect(body.error.code).toBe('denied');
    expect(body.error.message).toMatch(/mcp:blocked may not use blocked-mcp: policy denies it/);
    expect(body.error.needs).toBe('blocked-mcp:write');
    expect(body.error.hint).toContain('policy.yaml');
    expect(body.error.hint).toContain('keyward approve');
    expect(up.received.length).toBe(before);
  });

  it('refuses unknown servers, traversal, browsers, rebinding and framing tricks', async () => {
    const unknown = await mcpPost('nothing-here', 7);
    expect(unknown.status).toBe(404);
    const u = (await unknown.json()) as ErrorReply;
    expect(u.error.code).toBe('unknown_mcp_server');
    expect(u.error.hint).toContain('keyward migrate');

    const host = `Host: 127.0.0.1:${port}`;
    const requests = [
      `GET /_mcp/github/../linear/mcp/ HTTP/1.1\r\n${host}\r\nConnection: close\r\n\r\n`,
      `GET /_mcp/github/mcp/%2e%2e/%2e%2e/linear/mcp HTTP/1.1\r\n${host}\r\nConnection: close\r\n\r\n`,
      `GET /_mcp/github%2F..%2Flinear/mcp HTTP/1.1\r\n${host}\r\nConnection: close\r\n\r\n`,
      `POST /_mcp/github/mcp/ HTTP/1.1\r\n${host}\r\nOrigin: https://evil.example\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
      `GET /_mcp/github/mcp/ HTTP/1.1\r\n${host}\r\nSec-Fetch-Site: cross-site\r\nConnection: close\r\n\r\n`,
      `GET /_mcp/github/mcp/ HTTP/1.1\r\nHost: evil.example:${port}\r\nConnection: close\r\n\r\n`,
      `POST /_mcp/github/mcp/ HTTP/1.1\r\n${host}\r\nX-HTTP-Method-Override: PUT\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
      `POST /_mcp/github/mcp/ HTTP/1.1\r\n${host}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n`,
      `GET /_mcp/bad%20name/mcp HTTP/1.1\r\n${host}\r\nConnection: close\r\n\r\n`,
      `GET /_mcp HTTP/1.1\r\n${host}\r\nConnection: close\r\n\r\n`,
    ];
    const before = up.received.length;
    const r = spawnSync(process.execPath, [RAW, String(port), JSON.stringify(requests)], { encoding: 'utf8' });
    const answers = JSON.parse(r.stdout) as { status: number; body: string }[];
    expect(answers.map((a) => a.status)).toEqual([400, 400, 400, 403, 403, 403, 403, 400, 404, 404]);
    const codes = answers.map((a) => JSON.parse(a.body).error.code);
    expect(codes[7]).toMatch(/^(ambiguous_length|bad_http)$/); // Node's parser may refuse it first
    codes[7] = 'ambiguous_length';
    expect(codes).toEqual([
      'bad_path',
      'bad_path',
      'bad_path',
      'browser_request',
      'browser_request',
      'bad_host',
      'method_override',
      'ambiguous_length',
      'unknown_mcp_server',
      'unknown_mcp_server',
    ]);
    expect(up.received.length).toBe(before);
  });

  it.skipIf(!IS_ROOT || !HAS_SETPRIV)('refuses a process of another user', async () => {
    const before = up.received.length;
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'curl', '-sS', '-X', 'POST', '-d', rpc(8), `${base}/_mcp/github/mcp/`], {
      encoding: 'utf8',
    });
    const body = JSON.parse(r.stdout);
    expect(body.error.code).toBe('foreign_user');
    expect(up.received.length).toBe(before);
  });

  it('makes a client run inside keyward run the sub-agent of that session, ended with it', async () => {
    const code = `const r = await fetch(${JSON.stringify(`${base}/_mcp/github/mcp/`)}, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ${JSON.stringify(rpc(9))} });
      console.log(JSON.stringify({ status: r.status, pid: process.pid })); await r.text();`;
    const run = await d.cli(['run', '--agent', 'claude-code', '--', process.execPath, '--input-type=module', '-e', code]);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.status).toBe(200);
    const audit = readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const started = audit.find((a) => a.event === 'session.start' && a.agent === 'mcp:github' && a.pid === out.pid);
    expect(started.chain).toEqual([expect.any(String), 'claude-code', 'mcp:github']);
    const used = audit.filter((a) => a.event === 'proxy.request' && a.session === started.session);
    expect(used).toHaveLength(1);
    expect(used[0].chain).toEqual([expect.any(String), 'claude-code', 'mcp:github']);
    // The client has exited and its parent session ended: its session is gone too.
    let sessions = [{}];
    for (let i = 0; i < 60 && sessions.length; i++) {
      sessions = (await grantsOf('mcp:github')).sessions.filter((s: { pid: number }) => s.pid === out.pid);
      // eslint-disable-next-line no-restricted-syntax -- a fixed sleep, still to be replaced by a state wait (docs/testing.md#known-debt)
      if (sessions.length) await new Promise((r) => setTimeout(r, 100));
    }
    expect(sessions).toEqual([]);
  });

  it('asks the policy again after a revoke: a new grant, or a denial once the rule is gone', async () => {
    const first = (await grantsOf('mcp:github')).grants.map((g: { id: string }) => g.id);
    expect(first).toHaveLength(1);
    const revoke = await d.cli(['revoke', '--agent', 'mcp:*']);
    expect(revoke.code, revoke.stderr).toBe(0);
    expect((await grantsOf('mcp:github')).grants).toHaveLength(0);
    const again = await mcpPost('github', 10);
    expect(again.status).toBe(200);
    await again.text();
    const second = (await grantsOf('mcp:github')).grants.map((g: { id: string }) => g.id);
    expect(second).toHaveLength(1);
    expect(second[0]).not.toBe(first[0]);

    writeFileSync(join(d.home, 'config', 'policy.yaml'), POLICY.replace('decision: allow, maxTtl: 1h', 'decision: deny'));
    expect((await d.api('admin', 'POST', '/v1/policy/reload')).status).toBe(200);
    // The live grant still works until it is revoked; then the policy decides again.
    expect((await mcpPost('github', 11)).status).toBe(200);
    await d.cli(['revoke', '--agent', 'mcp:*']);
    const denied = await mcpPost('github', 12);
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as ErrorReply).error.code).toBe('denied');
  });

  it('audits every request with agent, chain, credential and downstream, and never the key', async () => {
    const text = readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8');
    const audit = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const proxied = audit.filter((a) => a.event === 'proxy.request' && a.agent === 'mcp:github');
    expect(proxied.length).toBeGreaterThanOrEqual(8);
    expect(proxied[0]).toMatchObject({
      credential: 'github-mcp',
      permission: 'write',
      decision: 'allow',
      downstream: { method: 'POST', host: '127.0.0.1', path: '/mcp/', status: 200 },
    });
    expect(proxied[0].chain).toEqual([expect.any(String), 'mcp:github']);
    expect(proxied[0].grant).toMatch(/^gr_/);
    expect(proxied.some((a) => a.downstream.method === 'DELETE' && a.downstream.status === 204)).toBe(true);
    const refused = audit.filter((a) => a.event === 'proxy.request' && a.decision === 'deny');
    expect(refused.find((a) => a.agent === 'mcp:blocked')).toMatchObject({ credential: 'blocked-mcp', downstream: { status: 403 } });
    expect(refused.find((a) => a.reason?.includes('Origin'))).toMatchObject({ downstream: { path: '/_mcp/github/mcp/', status: 403 } });
    expect(audit.filter((a) => a.event === 'session.start' && a.agent === 'mcp:github').length).toBeGreaterThanOrEqual(2);
    for (const secret of [githubKey, linearKey, blockedKey, dollarKey]) {
      expect(text).not.toContain(secret);
      expect(d.output()).not.toContain(secret);
    }
    expect(text).not.toMatch(/kw[gs]_[A-Za-z0-9]{49}/);
  });
});
