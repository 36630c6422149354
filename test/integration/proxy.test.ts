import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { randomAlnum } from '../helpers/secrets.js';
import { httpUpstream, httpsUpstream, type Upstream } from '../helpers/upstream.js';
import { waitFor as waitForState } from '../helpers/wait.js';

const RAW = fileURLToPath(new URL('../helpers/raw-requests.mjs', import.meta.url));
const HAS_CURL = spawnSync('sh', ['-c', 'command -v curl']).status === 0;

/** A node one-liner run inside `keyward run`: prints JSON. */
const nodeScript = (code: string) => ['--', process.execPath, '--input-type=module', '-e', code];

describe('the credential-injecting proxy', () => {
  let d: TestDaemon;
  let openaiUp: Upstream;
  let githubUp: Upstream & { caFile: string };
  const openaiKey = `sk-proj-${randomAlnum(40)}T3BlbkFJ${randomAlnum(40)}`;
  const githubKey = `ghp_${randomAlnum(36)}`;
  let proxyPort = 0;

  beforeAll(async () => {
    const { tempDir } = await import('../helpers/cli.js');
    const home = tempDir('keyward-proxy-');
    openaiUp = await httpUpstream();
    githubUp = await httpsUpstream(home);
    d = await startDaemon({
      home,
      files: {
        'config/providers.keep': '',
        'config/policy.yaml': `defaults: { decision: deny }
rules:
  - { agent: "*", credential: openai, permission: chat, decision: allow }
  - { agent: "*", credential: github, permission: "repo:read", resource: "acme/*", decision: allow }
  - { agent: "*", credential: github, permission: "repo:write", decision: ask }
`,
        'config/config.yaml': 'consent: { timeout: 5s }\nproxy: { maxBody: 1MB, upstreamTimeout: 2s, port: 0 }\n',
      },
      env: {},
    });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(home, 'config', 'providers'), { recursive: true });
    writeFileSync(join(home, 'config', 'providers', 'openai.yaml'), `upstream: ${openaiUp.url}\n`);
    writeFileSync(join(home, 'config', 'providers', 'github.yaml'), `upstream: ${githubUp.url}\nca: ${githubUp.caFile}\n`);
    await d.api('admin', 'POST', '/v1/policy/reload');
    expect((await d.cli(['vault', 'add', 'openai', '--provider', 'openai'], { input: openaiKey })).code).toBe(0);
    expect((await d.cli(['vault', 'add', 'github', '--provider', 'github'], { input: githubKey })).code).toBe(0);
    const status = JSON.parse((await d.cli(['daemon', 'status', '--json'])).stdout);
    proxyPort = Number(new URL(status.detail.proxy).port);
  });

  afterAll(async () => {
    await d?.stop();
    await openaiUp?.close();
    await githubUp?.close();
  });

  it('base-URL mode: an SDK-style client reaches the upstream with the real key while holding a placeholder', async () => {
    const code = `
      const env = { key: process.env.OPENAI_API_KEY, base: process.env.OPENAI_BASE_URL };
      const r = await fetch(env.base + '/chat/completions', { method: 'POST', headers: { authorization: 'Bearer ' + env.key, 'content-type': 'application/json' }, body: '{"model":"x"}' });
      console.log(JSON.stringify({ env, status: r.status, body: await r.json(), all: JSON.stringify(process.env) }));`;
    const r = await d.cli(['run', '--agent', 'agent-js', '--grant', 'openai:chat', ...nodeScript(code)]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.env.key).toMatch(/^kwg_/);
    expect(out.env.base).toBe(`http://127.0.0.1:${proxyPort}/openai/v1`);
    expect(out.status).toBe(200);
    expect(out.all).not.toContain(openaiKey);
    const last = openaiUp.received.at(-1)!;
    expect(last).toMatchObject({ method: 'POST', path: '/v1/chat/completions', body: '{"model":"x"}' });
    expect(last.headers.authorization).toBe(`Bearer ${openaiKey}`);
    expect(JSON.stringify(last.headers)).not.toContain('kwg_');
  });

  it.skipIf(!HAS_CURL)('interception mode: real curl through HTTPS_PROXY gets the real key injected, only within scope', async () => {
    const inScope = await d.cli([
      'run',
      '--agent',
      'curl-agent',
      '--grant',
      'github:repo:read:acme/app',
      '--',
      'sh',
      '-c',
      `curl -sS -w '\\n%{http_code}' -H "Authorization: Bearer $GITHUB_TOKEN" ${githubUp.url}/repos/acme/app/issues`,
    ]);
    expect(inScope.code, inScope.stderr).toBe(0);
    expect(inScope.stdout.trim().split('\n').pop()).toBe('200');
    const last = githubUp.received.at(-1)!;
    expect(last).toMatchObject({ method: 'GET', path: '/repos/acme/app/issues' });
    expect(last.headers.authorization).toBe(`Bearer ${githubKey}`);
    const before = githubUp.received.length;
    const outOfScope = await d.cli([
      'run',
      '--agent',
      'curl-agent',
      '--grant',
      'github:repo:read:acme/app',
      '--',
      'sh',
      '-c',
      `curl -sS -X POST -H "Authorization: Bearer $GITHUB_TOKEN" ${githubUp.url}/repos/acme/app/issues; echo; curl -sS -H "Authorization: Bearer $GITHUB_TOKEN" ${githubUp.url}/repos/other/app`,
    ]);
    const [post, other] = outOfScope.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(post.error).toMatchObject({ code: 'out_of_scope', needs: 'github:repo:write:acme/app' });
    expect(post.error.consent).toMatch(/^cr_/); // policy says ask: a person sees it in keyward approve
    expect(other.error).toMatchObject({ code: 'out_of_scope', needs: 'github:repo:read:other/app' });
    // Inside the tunnel, the Host header must name the tunnel's host.
    const spoofed = await d.cli([
      'run',
      '--agent',
      'curl-agent',
      '--grant',
      'github:repo:read:acme/app',
      '--',
      'sh',
      '-c',
      `curl -sS -H 'Host: api.other.example' -H "Authorization: Bearer $GITHUB_TOKEN" ${githubUp.url}/repos/acme/app`,
    ]);
    expect(JSON.parse(spoofed.stdout).error.code).toBe('host_mismatch');
    expect(githubUp.received.length).toBe(before);
  });

  it.skipIf(!HAS_CURL)('tunnels hosts without a grant untouched', async () => {
    const r = await d.cli([
      'run',
      '--agent',
      'curl-agent',
      '--',
      'sh',
      '-c',
      `curl -sS --cacert ${githubUp.caFile} -H 'Authorization: Bearer own-token' ${githubUp.url}/repos/x/y`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(githubUp.received.at(-1)!.headers.authorization).toBe('Bearer own-token');
  });

  it('refuses a token after revoke, after expiry, and from another session', async () => {
    const code = (mode: string) => `
      const go = () => fetch(process.env.OPENAI_BASE_URL + '/models', { headers: { authorization: 'Bearer ' + process.env.OPENAI_API_KEY } }).then((r) => r.status);
      ${mode}`;
    const child = spawn(
      process.execPath,
      [
        BIN,
        'run',
        '--agent',
        'a2',
        '--grant',
        'openai:chat',
        '--ttl',
        '2s',
        ...nodeScript(
          code(`
      console.log(JSON.stringify({ token: process.env.OPENAI_API_KEY, before: await go() }));
      await new Promise((r) => setTimeout(r, 2500));
      console.log(JSON.stringify({ expired: await go() }));
      await new Promise((r) => process.stdin.on('data', r));
      console.log(JSON.stringify({ revoked: await go() }));`),
        ),
      ],
      { env: d.env },
    );
    let out = '';
    child.stdout.on('data', (x: Buffer) => (out += x));
    const exited = new Promise((r) => child.on('exit', r));
    await waitForState('the request after expiry', () => out.includes('expired'), { timeoutMs: 10_000 });
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0].before).toBe(200);
    expect(lines[1].expired).toBe(401);
    // The same token, from another agent's session.
    const token = lines[0].token;
    const thief = await d.cli([
      'run',
      '--agent',
      'thief',
      ...nodeScript(`
      const r = await fetch('http://127.0.0.1:${proxyPort}/openai/v1/models', { headers: { authorization: 'Bearer ${token}' } });
      console.log(JSON.stringify({ status: r.status, body: await r.json() }));`),
    ]);
    expect(JSON.parse(thief.stdout).status).toBe(401); // expired, whoever asks
    child.stdin.end('go\n');
    await exited;

    const holder = spawn(
      process.execPath,
      [BIN, 'run', '--agent', 'holder', '--grant', 'openai:chat', ...nodeScript(`console.log(process.env.OPENAI_API_KEY); await new Promise((r) => process.stdin.on('data', r));`)],
      { env: d.env },
    );
    let live = '';
    holder.stdout.on('data', (x: Buffer) => (live += x));
    await waitForState('the holder to print its grant token', () => live.includes('kwg_'));
    const stolen = live.trim();
    const other = await d.cli([
      'run',
      '--agent',
      'thief',
      ...nodeScript(`
      const r = await fetch('http://127.0.0.1:${proxyPort}/openai/v1/models', { headers: { authorization: 'Bearer ${stolen}' } });
      console.log(JSON.stringify({ status: r.status, body: await r.json() }));`),
    ]);
    expect(JSON.parse(other.stdout)).toMatchObject({ status: 403, body: { error: { code: 'foreign_session' } } });
    const grants = JSON.parse((await d.cli(['grants', '--json'])).stdout);
    const holderGrant = grants.find((g: { agent: string }) => g.agent === 'holder');
    await d.cli(['revoke', holderGrant.id]);
    const afterRevoke = await d.cli([
      'run',
      '--agent',
      'thief',
      ...nodeScript(`
      const r = await fetch('http://127.0.0.1:${proxyPort}/openai/v1/models', { headers: { authorization: 'Bearer ${stolen}' } });
      console.log(r.status);`),
    ]);
    expect(afterRevoke.stdout.trim()).toBe('401');
    holder.stdin.end('x');
  });

  it('does not let path, host, method or framing tricks widen a grant', async () => {
    const requests = [
      'GET /openai/v1/../v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {{token}}\r\nConnection: close\r\n\r\n',
      'GET /openai/v1/%2e%2e/admin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {{token}}\r\nConnection: close\r\n\r\n',
      'GET /openai/v1/models%2F..%2F..%2Fadmin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {{token}}\r\nConnection: close\r\n\r\n',
      'GET http://evil.example/v1/models HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer {{token}}\r\nConnection: close\r\n\r\n',
      'POST /openai/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {{token}}\r\nX-HTTP-Method-Override: DELETE\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
      'POST /openai/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {{token}}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\nGET /openai/v1/files HTTP/1.1\r\nHost: x\r\n\r\n',
      'DELETE /openai/v1/files/file-1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {{token}}\r\nConnection: close\r\n\r\n',
      'GET /github/repos/acme/app HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {{token}}\r\nConnection: close\r\n\r\n',
      'GET //openai//v1//models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {{token}}\r\nConnection: close\r\n\r\n',
    ];
    const before = openaiUp.received.length;
    const r = await d.cli(['run', '--agent', 'tricky', '--grant', 'openai:chat', '--', process.execPath, RAW, String(proxyPort), JSON.stringify(requests)]);
    const answers = JSON.parse(r.stdout) as { status: number; body: string }[];
    expect(answers.map((a) => a.status)).toEqual([400, 400, 400, 400, 403, 400, 403, 403, 200]);
    expect(answers[4].body).toContain('method_override');
    expect(answers[6].body).toContain('"needs":"openai:all"');
    expect(answers[7].body).toContain('wrong_credential');
    // Only the last (canonical //→/ form of an allowed path) reached the upstream.
    expect(openaiUp.received.slice(before).map((x) => `${x.method} ${x.path}`)).toEqual(['GET /v1/models']);
  });

  it('streams a 100 MB download and server-sent events, and scrubs an echoed key', async () => {
    const code = `
      const base = process.env.OPENAI_BASE_URL, auth = { authorization: 'Bearer ' + process.env.OPENAI_API_KEY };
      const big = await fetch(base + '/models/big?mb=100', { headers: auth });
      let bytes = 0; for await (const c of big.body) bytes += c.length;
      const t0 = Date.now(); const sse = await fetch(base + '/models/sse', { headers: auth });
      const times = []; const dec = new TextDecoder(); let text = '';
      for await (const c of sse.body) { text += dec.decode(c); times.push(Date.now() - t0); }
      const echo = await fetch(base + '/models/echo-auth', { headers: auth });
      console.log(JSON.stringify({ bytes, events: text.match(/event \\d/g), first: times[0], last: times.at(-1), echo: { status: echo.status, header: echo.headers.get('x-echo'), body: await echo.text() }, token: process.env.OPENAI_API_KEY }));`;
    const r = await d.cli(['run', '--agent', 'streamer', '--grant', 'openai:chat', ...nodeScript(code)], { timeout: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.bytes).toBe(100 * 1024 * 1024);
    expect(out.events).toEqual(['event 0', 'event 1', 'event 2', 'event 3', 'event 4']);
    expect(out.last - out.first).toBeGreaterThan(400); // arrived as they were sent, not all at the end
    expect(out.echo.status).toBe(401);
    expect(out.echo.body).not.toContain(openaiKey);
    expect(out.echo.body).toBe(`<html>invalid key: Bearer ${out.token} (Bearer ${out.token})</html>`);
    expect(out.echo.header).toBe(`Bearer ${out.token}`);
  }, 150_000);

  it('answers upstream hangs and resets, oversized bodies and bad CONNECT lines clearly, and keeps serving', async () => {
    const code = `
      const base = process.env.OPENAI_BASE_URL, auth = { authorization: 'Bearer ' + process.env.OPENAI_API_KEY };
      const hang = await fetch(base + '/models/hang', { headers: auth });
      const reset = await fetch(base + '/models/reset', { headers: auth });
      // 2 MB declared, 1 KiB sent: the proxy must answer 413 without waiting for the rest; a
      // connection closed without an answer throws and fails the run.
      const { request } = await import('node:http');
      const big = await new Promise((resolve, reject) => {
        const u = new URL(base + '/chat/completions');
        const q = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { ...auth, 'content-length': 2 * 1024 * 1024 } }, (res) => {
          res.resume();
          resolve(res.statusCode);
        });
        q.on('error', reject);
        q.write('x'.repeat(1024));
      });
      const many = await Promise.all(Array.from({ length: 500 }, () => fetch(base + '/models', { headers: auth }).then((r) => r.status)));
      console.log(JSON.stringify({ hang: [hang.status, (await hang.json()).error.code], reset: [reset.status, (await reset.json()).error.code], big, ok: many.filter((s) => s === 200).length }));`;
    const r = await d.cli(['run', '--agent', 'faults', '--grant', 'openai:chat', ...nodeScript(code)], { timeout: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.hang).toEqual([504, 'upstream_timeout']);
    expect(out.reset).toEqual([502, 'upstream_error']);
    expect(out.big).toBe(413);
    expect(out.ok).toBe(500);
    for (const line of ['CONNECT nonsense HTTP/1.1\r\n\r\n', 'CONNECT host:99999 HTTP/1.1\r\n\r\n', 'GARBAGE\r\n\r\n']) {
      const status = await new Promise<string>((resolve) => {
        const s = connect(proxyPort, '127.0.0.1', () => s.write(line));
        let data = '';
        s.on('data', (x: Buffer) => (data += x));
        s.on('close', () => resolve(data.split('\r\n')[0]));
        s.on('error', () => resolve('error'));
      });
      expect(status, line).toMatch(/^HTTP\/1\.1 400/);
    }
    // A TLS handshake that stops halfway does not hold anything up.
    const half = connect(proxyPort, '127.0.0.1', () => half.write(`CONNECT 127.0.0.2:${githubUp.port} HTTP/1.1\r\nHost: x\r\n\r\n\u0016\u0003\u0001\u0000`));
    half.on('error', () => {});
    const health = await d.api('admin', 'GET', '/v1/health');
    expect(health.status).toBe(200);
    half.destroy();
  }, 90_000);

  it('audits every proxied request with agent, chain, grant and downstream, and never the key', async () => {
    const audit = readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const proxied = audit.filter((a) => a.event === 'proxy.request');
    expect(proxied.length).toBeGreaterThan(500);
    const ok = proxied.find((a) => a.agent === 'agent-js');
    expect(ok).toMatchObject({
      credential: 'openai',
      permission: 'chat',
      downstream: { method: 'POST', host: '127.0.0.1', path: '/v1/chat/completions', status: 200 },
      decision: 'allow',
    });
    expect(ok.chain).toEqual([expect.any(String), 'agent-js']);
    expect(ok.grant).toMatch(/^gr_/);
    const refused = proxied.find((a) => a.agent === 'tricky' && a.downstream.status === 403);
    expect(refused.decision).toBe('deny');
    const everything = [
      readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8'),
      d.output(),
      ...readdirSync(join(d.home, 'config'))
        .filter((f) => f.endsWith('.pem') || f.endsWith('.json') || f.endsWith('.yaml'))
        .map((f) => readFileSync(join(d.home, 'config', f), 'utf8')),
    ].join('\n');
    expect(everything).not.toContain(openaiKey);
    expect(everything).not.toContain(githubKey);
    expect(everything).not.toMatch(/kwg_[A-Za-z0-9]{49}/);
  });
});
