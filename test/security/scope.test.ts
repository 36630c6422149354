import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cli.js';
import { HAS_KEYRING, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { randomAlnum } from '../helpers/secrets.js';

/**
 * Attacks on the scope of a grant and on the echo scrubber, made from inside `keyward run` by a
 * real agent process against the real daemon and proxy:
 * - attack 6: a deny on `acme/secret` bypassed with an extra segment or another letter case;
 * - method override through the query (`?_method=DELETE` on a read grant);
 * - attack 9: the key echoed base64-encoded, percent-encoded or gzip-compressed.
 */

const nodeScript = (code: string) => ['--', process.execPath, '--input-type=module', '-e', code];

describe.skipIf(!HAS_KEYRING)('scope that cannot be widened, and an echo scrubber that reads encodings', () => {
  let d: TestDaemon;
  let upstream: Server;
  const received: { method: string; url: string; auth: string }[] = [];
  const githubKey = `ghp_${randomAlnum(36)}`;
  const openaiKey = `sk-proj-${randomAlnum(40)}T3BlbkFJ${randomAlnum(40)}+/=?`;

  beforeAll(async () => {
    // An upstream that echoes the Authorization header it got, in the encodings an agent could
    // ask for, and compresses even when told not to.
    upstream = createServer((req, res) => {
      const auth = String(req.headers.authorization ?? '');
      received.push({ method: req.method ?? '', url: req.url ?? '', auth });
      const key = auth.replace(/^Bearer /, '');
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname.endsWith('/echo')) {
        const body = JSON.stringify({
          b64header: Buffer.from(auth).toString('base64'),
          b64: Buffer.from(key).toString('base64'),
          b64url: Buffer.from(`x${key}`).toString('base64url'),
          b64shift: Buffer.from(`xy${key}`).toString('base64'),
          pct: encodeURIComponent(key),
          pctAll: [...Buffer.from(key)].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join(''),
          hex: Buffer.from(key).toString('hex'),
        });
        res.writeHead(200, { 'content-type': 'application/json', 'x-debug': Buffer.from(key).toString('base64') });
        return void res.end(body);
      }
      if (url.pathname.endsWith('/gzip')) {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
        return void res.end(gzipSync(`your key is ${key} and again ${Buffer.from(key).toString('base64')}`));
      }
      if (url.pathname.endsWith('/zstd')) {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'zstd' });
        return void res.end('opaque');
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, method: req.method, url: req.url }));
    });
    // Longer than the gaps between tests: the proxy keeps upstream connections alive.
    upstream.keepAliveTimeout = 120_000;
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const port = (upstream.address() as AddressInfo).port;
    const home = tempDir('keyward-sec-scope-');
    mkdirSync(join(home, 'config', 'providers'), { recursive: true });
    writeFileSync(join(home, 'config', 'providers', 'github.yaml'), `upstream: http://127.0.0.1:${port}\n`);
    writeFileSync(join(home, 'config', 'providers', 'openai.yaml'), `upstream: http://127.0.0.1:${port}\n`);
    d = await startDaemon({
      home,
      files: {
        'config/policy.yaml': `defaults: { decision: deny }
rules:
  - { agent: "*", credential: github, permission: "repo:read", resource: "acme/*", decision: allow }
  - { agent: "*", credential: github, permission: "repo:read", resource: "acme/secret", decision: deny }
  - { agent: "*", credential: openai, permission: all, decision: allow }
`,
      },
    });
    expect((await d.cli(['vault', 'add', 'github', '--provider', 'github'], { input: githubKey })).code).toBe(0);
    expect((await d.cli(['vault', 'add', 'openai', '--provider', 'openai'], { input: openaiKey })).code).toBe(0);
  });

  afterAll(async () => {
    await d?.stop();
    await new Promise((r) => upstream?.close(r));
  });

  it('refuses a resource with an extra segment, so a deny on acme/secret cannot be stepped around', async () => {
    const r = await d.cli(['run', '--agent', 'attacker', '--grant', 'github:repo:read:acme/secret/contents', '--', 'true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('has 3 segments');
    // The same request as the agent makes it over agent.sock.
    const session = await d.api('agent', 'POST', '/v1/sessions', { agent: 'attacker' });
    const grant = await d.api('agent', 'POST', '/v1/grants', { credential: 'github', permission: 'repo:read', resource: 'acme/secret/contents' }, session.body.token);
    expect(grant.status).toBe(400);
    expect(JSON.stringify(grant.body)).not.toContain('kwg_');
  });

  it('matches resources without regard to case where the provider does: ACME/SECRET is acme/secret', async () => {
    const r = await d.cli(['run', '--agent', 'attacker', '--grant', 'github:repo:read:ACME/SECRET', '--', 'true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/denied|denies/);
    const ok = await d.cli(['run', '--agent', 'reader', '--grant', 'github:repo:read:Acme/App', '--', 'true']);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('a grant on acme/app reaches /repos/Acme/App but not another repository under another case', async () => {
    const code = `
      const base = process.env.GITHUB_API_URL, h = { authorization: 'Bearer ' + process.env.GITHUB_TOKEN };
      const a = await fetch(base + '/repos/Acme/App/issues', { headers: h });
      const b = await fetch(base + '/repos/ACME/SECRET/issues', { headers: h });
      console.log(JSON.stringify([a.status, b.status]));`;
    const r = await d.cli(['run', '--agent', 'reader', '--grant', 'github:repo:read:acme/app', ...nodeScript(code)]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([200, 403]);
  });

  it('refuses a method override in the query (?_method=DELETE on a read grant) before anything reaches the upstream', async () => {
    const before = received.length;
    const code = `
      const base = process.env.GITHUB_API_URL, h = { authorization: 'Bearer ' + process.env.GITHUB_TOKEN };
      const out = [];
      for (const q of ['_method=DELETE', 'X-HTTP-Method-Override=PUT', '_HttpMethod=PATCH']) {
        const r = await fetch(base + '/repos/acme/app?' + q, { headers: h });
        out.push([r.status, (await r.json()).error?.code]);
      }
      const x = await fetch(base + '/repos/acme/app', { headers: { ...h, 'x-original-method': 'DELETE' } });
      out.push([x.status, (await x.json()).error?.code]);
      console.log(JSON.stringify(out));`;
    const r = await d.cli(['run', '--agent', 'reader', '--grant', 'github:repo:read:acme/app', ...nodeScript(code)]);
    expect(r.code, r.stderr).toBe(0);
    for (const [status, errorCode] of JSON.parse(r.stdout)) {
      expect(status).toBeGreaterThanOrEqual(400);
      expect(errorCode).toBe('method_override');
    }
    expect(received.length).toBe(before);
  });

  it('scrubs base64, URL-safe base64, percent-encoded and hex echoes of the key, in the body and in headers', async () => {
    const code = `
      const r = await fetch(process.env.OPENAI_BASE_URL + '/echo', { headers: { authorization: 'Bearer ' + process.env.OPENAI_API_KEY } });
      console.log(JSON.stringify({ status: r.status, headers: Object.fromEntries(r.headers), body: await r.text() }));`;
    const r = await d.cli(['run', '--agent', 'echo', '--grant', 'openai:all', ...nodeScript(code)]);
    expect(r.code, r.stderr).toBe(0);
    expect(received.at(-1)!.auth).toBe(`Bearer ${openaiKey}`); // the upstream did get the real key
    const out = JSON.parse(r.stdout);
    expect(out.status).toBe(200);
    const seen = JSON.stringify(out);
    const raw = Buffer.from(openaiKey);
    for (const form of [
      openaiKey,
      raw.toString('base64').slice(0, -4),
      Buffer.from(`Bearer ${openaiKey}`).toString('base64').slice(12, -4),
      Buffer.from(`x${openaiKey}`).toString('base64url').slice(4, -4),
      Buffer.from(`xy${openaiKey}`).toString('base64').slice(4, -4),
      encodeURIComponent(openaiKey),
      raw.toString('hex'),
      [...raw].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join(''),
    ]) {
      expect(seen).not.toContain(form);
    }
  });

  it('decodes a gzip answer the upstream sent although identity was asked for, and scrubs it; refuses an encoding it cannot read', async () => {
    const code = `
      const h = { authorization: 'Bearer ' + process.env.OPENAI_API_KEY };
      const g = await fetch(process.env.OPENAI_BASE_URL + '/gzip', { headers: h });
      const z = await fetch(process.env.OPENAI_BASE_URL + '/zstd', { headers: h });
      console.log(JSON.stringify({ g: [g.status, g.headers.get('content-encoding'), await g.text()], z: [z.status, await z.text()] }));`;
    const r = await d.cli(['run', '--agent', 'echo', '--grant', 'openai:all', ...nodeScript(code)]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.g[0], JSON.stringify(out)).toBe(200);
    expect(out.g[1]).toBeNull();
    expect(out.g[2]).toMatch(/^your key is kwg_\w+ and again kwg_\S+$/);
    expect(out.z[0]).toBe(502);
    expect(out.z[1]).toContain('zstd');
    expect(JSON.stringify(out)).not.toContain(openaiKey);
  });
});
