import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, removeDir } from '../helpers/cli.js';
import { holdSession, rawRequest, socketFile, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { githubToken, randomAlnum } from '../helpers/secrets.js';
import { waitFor } from '../helpers/wait.js';

const POLICY = `defaults: { decision: ask, maxTtl: 1h }
rules:
  - { agent: "claude-code", credential: openai, permission: chat, decision: allow, maxTtl: 30m }
  - { agent: "*", credential: github, permission: "repo:read", resource: "acme/*", decision: allow }
  - { agent: "*", credential: github, permission: "repo:write", decision: ask }
  - { agent: "*", credential: prod-db, permission: release, decision: deny }
  - { agent: "release-ok", credential: openai, permission: release, decision: allow }
  - { agent: "mcp:*", credential: openai, permission: chat, decision: allow }
`;

/** A child that prints the variables it got, as JSON. */
const printEnv = (...names: string[]) => [
  '--',
  process.execPath,
  '-e',
  `console.log(JSON.stringify(Object.fromEntries(${JSON.stringify(names)}.map((n) => [n, process.env[n] ?? null]))))`,
];

function allFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...allFiles(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

describe('the broker daemon', () => {
  let d: TestDaemon;
  const openaiKey = `sk-proj-${randomAlnum(40)}T3BlbkFJ${randomAlnum(40)}`;
  const githubKey = githubToken();
  const dbUrl = `postgres://app:${randomAlnum(20)}@db.internal:5432/app`;
  const tokensSeen: string[] = [];

  beforeAll(async () => {
    d = await startDaemon({ files: { 'config/policy.yaml': POLICY, 'config/config.yaml': 'consent: { timeout: 3s }\nproxy: { port: 0 }\n' } });
    expect((await d.cli(['vault', 'add', 'openai', '--provider', 'openai'], { input: openaiKey + '\n' })).code).toBe(0);
    expect((await d.cli(['vault', 'add', 'github', '--provider', 'github', '--from-env', 'GH_SECRET'], { env: { GH_SECRET: githubKey } })).code).toBe(0);
    const file = join(d.home, 'db-url.txt');
    writeFileSync(file, dbUrl + '\n');
    expect((await d.cli(['vault', 'add', 'prod-db', '--provider', 'generic', '--from-file', file])).code).toBe(0);
    removeDir(file);
  });

  afterAll(async () => {
    await d?.stop();
  });

  it('keeps its sockets owner-only in a private directory', () => {
    expect(statSync(join(d.home, 'run')).mode & 0o777).toBe(0o700);
    for (const s of ['agent', 'admin'] as const) {
      const st = statSync(socketFile(d.home, s));
      expect(st.isSocket()).toBe(true);
      expect(st.mode & 0o777).toBe(0o600);
    }
  });

  it('lists vault entries without values', async () => {
    const r = await d.cli(['vault', 'list', '--json']);
    const list = JSON.parse(r.stdout);
    expect(list.entries.map((e: { name: string }) => e.name)).toEqual(['github', 'openai', 'prod-db']);
    expect(list.entries.find((e: { name: string }) => e.name === 'github')).toMatchObject({ provider: 'github', source: 'env:GH_SECRET' });
    expect(r.stdout).not.toContain(openaiKey);
    const text = await d.cli(['vault', 'list']);
    expect(text.stdout).toMatch(/^openai +openai +\d{4}-\d\d-\d\d \d\d:\d\d +- +stdin$/m);
  });

  it('refuses to take a value from the command line, and an empty value', async () => {
    const r = await d.cli(['vault', 'add', 'x', '--provider', 'generic', '--value', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Nonexistent flag: --value');
    expect(r.stderr).not.toContain('nope');
    const empty = await d.cli(['vault', 'add', 'x', '--provider', 'generic'], { input: '\n' });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('the value is empty');
    const names = JSON.parse((await d.cli(['vault', 'list', '--json'])).stdout).entries.map((e: { name: string }) => e.name);
    expect(names).not.toContain('x');
  });

  it('runs an agent with a placeholder token, never the real key, and forwards the exit code', async () => {
    const r = await d.cli([
      'run',
      '--agent',
      'claude-code',
      '--task',
      'fix flaky test',
      '--grant',
      'openai:chat',
      ...printEnv('OPENAI_API_KEY', 'KEYWARD_SESSION', 'KEYWARD_AGENT_SOCK'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const env = JSON.parse(r.stdout);
    expect(env.OPENAI_API_KEY).toMatch(/^kwg_[A-Za-z0-9]{49}$/);
    expect(env.KEYWARD_SESSION).toMatch(/^kws_[A-Za-z0-9]{49}$/);
    expect(env.KEYWARD_AGENT_SOCK).toBe(socketFile(d.home, 'agent'));
    expect(r.stdout).not.toContain(openaiKey);
    tokensSeen.push(env.OPENAI_API_KEY, env.KEYWARD_SESSION);
    const exit = await d.cli(['run', '--agent', 'claude-code', '--grant', 'openai:chat', '--', 'sh', '-c', 'exit 7']);
    expect(exit.code).toBe(7);
  });

  it('refuses a misspelled permission in --grant before the command runs, naming the nearest', async () => {
    const r = await d.cli(['run', '--agent', 'claude-code', '--grant', 'openai:chta', '--', 'sh', '-c', 'echo ran']);
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toContain('ran');
    expect(r.stderr).toContain('"openai:chta" names no permission of provider openai');
    expect(r.stderr).toContain('Did you mean openai:chat?');
  });

  it('ends the session when the command exits, revoking its grants', async () => {
    const r = await d.cli(['run', '--agent', 'claude-code', '--grant', 'openai:chat', '--', process.execPath, BIN, 'grants', '--json'], { env: {} });
    // `keyward grants` inside the session is an admin call: refused. Check from outside instead.
    expect(r.code).toBe(2);
    const after = await d.cli(['grants', '--json']);
    expect(JSON.parse(after.stdout)).toEqual([]);
    const audit = readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8');
    expect(audit).toMatch(/"event":"grant.revoke"[^\n]*"reason":"session ended \(ended by its process\)"/);
  });

  it('releases a secret into the environment only where the policy allows release', async () => {
    const ok = await d.cli(['run', '--agent', 'release-ok', '--env', 'OPENAI_KEY=keyward://openai', ...printEnv('OPENAI_KEY')]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).OPENAI_KEY).toBe(openaiKey);
    const denied = await d.cli(['run', '--agent', 'mcp:postgres', '--env', 'DATABASE_URL=keyward://prod-db', '--', 'true']);
    expect(denied.code).toBe(125);
    expect(denied.stderr).toContain('policy denies it');
    expect(denied.stderr).toContain('prod-db:release');
    expect(denied.stderr).not.toContain(dbUrl);
    const audit = readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8');
    expect(audit).toMatch(/"event":"grant.release"[^\n]*"credential":"openai"/);
  });

  it('waits for consent and proceeds when a person allows it', async () => {
    const child = spawn(process.execPath, [BIN, 'run', '--agent', 'cursor', '--grant', 'github:repo:write:acme/app', ...printEnv('GITHUB_TOKEN')], { env: d.env });
    const exited = new Promise((r) => child.on('exit', r));
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (x: Buffer) => (stderr += x));
    child.stdout.on('data', (x: Buffer) => (stdout += x));
    const id = await waitFor('the consent request', () => /needs your consent.*keyward consent allow (cr_\w+)/.exec(stderr)?.[1]);
    expect(stderr).toContain('open `keyward approve`');
    expect(id).toBeDefined();
    const listed = JSON.parse((await d.cli(['consent', 'list', '--json'])).stdout);
    expect(listed[0]).toMatchObject({ id, agent: 'cursor', credential: 'github', permission: 'repo:write', resource: 'acme/app', mode: 'proxy' });
    expect(listed[0].chain).toEqual([expect.any(String), 'cursor']);
    const allow = await d.cli(['consent', 'allow', id]);
    expect(allow.code, allow.stderr).toBe(0);
    const code = await exited;
    expect(code).toBe(0);
    expect(JSON.parse(stdout).GITHUB_TOKEN).toMatch(/^kwg_/);
  });

  it('denies when a person denies, and when nobody answers in time', async () => {
    const child = spawn(process.execPath, [BIN, 'run', '--agent', 'cursor', '--grant', 'github:repo:write:acme/app', '--', 'true'], { env: d.env });
    const exited = new Promise((r) => child.on('exit', r));
    let stderr = '';
    child.stderr.on('data', (x: Buffer) => (stderr += x));
    const id = await waitFor('the consent request', () => /(cr_\w+)/.exec(stderr)?.[1]);
    await d.cli(['consent', 'deny', id]);
    expect(await exited).toBe(125);
    expect(stderr).toContain('denied by');
    const timeout = await d.cli(['run', '--agent', 'cursor', '--grant', 'github:repo:write:acme/app', '--', 'true'], { timeout: 20_000 });
    expect(timeout.code).toBe(125);
    expect(timeout.stderr).toContain('nobody answered the consent request in time');
  });

  it('lets a process inside a session ask for more, as a sub-agent with a delegation chain', async () => {
    const inner = [process.execPath, BIN, 'run', '--agent', 'mcp:github', '--grant', 'github:repo:read:acme/app', ...printEnv('GITHUB_TOKEN')];
    const r = await d.cli(['run', '--agent', 'claude-code', '--grant', 'openai:chat', '--', ...inner]);
    expect(r.code, r.stderr).toBe(0);
    const audit = readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const issue = audit.filter((a) => a.event === 'grant.issue' && a.agent === 'mcp:github').pop();
    expect(issue.chain.slice(1)).toEqual(['claude-code', 'mcp:github']);
    expect(issue.resource).toBe('acme/app');
    // keyward grant request from inside a session.
    const more = await d.cli(['run', '--agent', 'claude-code', '--grant', 'openai:chat', '--', process.execPath, BIN, 'grant', 'request', 'github:repo:read:acme/lib']);
    expect(more.code, more.stderr).toBe(0);
    expect(more.stdout).toMatch(/^GITHUB_TOKEN=kwg_/m);
  });

  it('applies the strictest decision along the chain: a sub-agent cannot widen its delegator', async () => {
    // mcp:* may use openai:chat, but "cursor" has no rule (ask) and its consent is never given.
    const r = await d.cli(['run', '--agent', 'cursor', '--', process.execPath, BIN, 'run', '--agent', 'mcp:x', '--grant', 'openai:chat', '--', 'true'], { timeout: 20_000 });
    expect(r.code).toBe(125);
    expect(r.stderr).toContain('needs your consent');
  });

  it('refuses admin calls from inside an agent session and audits the refusal', async () => {
    const attempts = [
      ['vault', 'list'],
      ['vault', 'remove', 'openai'],
      ['vault', 'add', 'stolen', '--provider', 'generic', '--from-env', 'HOME'],
      ['consent', 'allow', 'cr_whatever'],
      ['revoke', '--all'],
    ];
    for (const a of attempts) {
      const r = await d.cli(['run', '--agent', 'claude-code', '--grant', 'openai:chat', '--', process.execPath, BIN, ...a]);
      expect(r.code, a.join(' ')).not.toBe(0);
      expect(r.stderr, a.join(' ')).toContain('admin.sock refuses this caller');
    }
    expect(JSON.parse((await d.cli(['vault', 'list', '--json'])).stdout).entries).toHaveLength(3);
    const audit = readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8');
    expect(audit.match(/"event":"admin.refused"/g)!.length).toBeGreaterThanOrEqual(attempts.length);
  });

  it('refuses an admin call by process ancestry alone: KEYWARD_SESSION removed from the environment', async () => {
    const r = await d.cli(['run', '--agent', 'claude-code', '--grant', 'openai:chat', '--', 'env', '-u', 'KEYWARD_SESSION', process.execPath, BIN, 'vault', 'list']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/admin\.sock refuses this caller: process \d+ runs inside agent session ses_\w+ \(claude-code\)/);
    expect(r.stdout).not.toContain('openai');
  });

  it('refuses an admin call by KEYWARD_SESSION alone: a process outside every session tree', async () => {
    const r = await d.cli(['vault', 'list'], { env: { KEYWARD_SESSION: 'kws_copied-from-an-agent' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('admin.sock refuses this caller: the calling process carries KEYWARD_SESSION in its environment');
    expect(r.stdout).not.toContain('openai');
    const audit = readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n');
    expect(JSON.parse(audit.at(-1)!)).toMatchObject({ event: 'admin.refused', reason: 'the calling process carries KEYWARD_SESSION in its environment' });
  });

  it("rejects bad tokens: malformed, unknown, another session's, ended", async () => {
    const bad = await d.api('agent', 'POST', '/v1/grants', { spec: 'openai:chat' }, 'kws_nope');
    expect(bad.status).toBe(401);
    const forged = await d.api('agent', 'POST', '/v1/grants', { spec: 'openai:chat' }, `kws_${randomAlnum(49)}`);
    expect(forged.status).toBe(401);
    const a = await holdSession(d.home, 'claude-code');
    const b = await holdSession(d.home, 'claude-code');
    const rel = await holdSession(d.home, 'release-ok');
    const g = await a.api('POST', '/v1/grants', { credential: 'prod-db', mode: 'release' });
    expect(g.status).toBe(403); // nobody may release prod-db
    expect(g.body.error.needs).toBe('prod-db:release');
    const granted = await rel.api('POST', '/v1/grants', { credential: 'openai', mode: 'release' });
    expect(granted.status, JSON.stringify(granted.body)).toBe(201);
    const other = await b.api('POST', '/v1/resolve', { grant: granted.body.token });
    expect(other.status).toBe(401);
    expect(JSON.stringify(other.body)).not.toContain(openaiKey);
    const mine = await rel.api('POST', '/v1/resolve', { grant: granted.body.token });
    expect(mine).toMatchObject({ status: 200, body: { value: openaiKey } });
    // The session ends when its process exits: the reaper notices within a few seconds.
    // (Its token is refused from here first as another tree's, then as unknown.)
    await rel.close();
    const ended = `"event":"session.end","agent":"release-ok","session":"${rel.session.id}"`;
    await waitFor('the reaper to end the session', () => readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8').includes(ended));
    expect((await d.api('agent', 'POST', '/v1/resolve', { grant: granted.body.token }, rel.token)).status).toBe(401);
    const audit = readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8');
    expect(audit).toContain(`"event":"session.end","agent":"release-ok","session":"${rel.session.id}"`);
    expect(audit).toMatch(new RegExp(`"session":"${rel.session.id}"[^\\n]*"reason":"process \\d+ exited"`));
    await a.close();
    await b.close();
  });

  it('revokes by id, and a revoked or expired grant is worthless', async () => {
    const s = await holdSession(d.home, 'release-ok');
    const g1 = await s.api('POST', '/v1/grants', { credential: 'openai', mode: 'release' });
    expect(g1.status, JSON.stringify(g1.body)).toBe(201);
    const revoke = await d.cli(['revoke', g1.body.grant.id]);
    expect(revoke.stdout).toContain('Revoked 1 grant');
    expect((await s.api('POST', '/v1/resolve', { grant: g1.body.token })).status).toBe(401);
    const g2 = await s.api('POST', '/v1/grants', { credential: 'openai', mode: 'release', ttl: 1 });
    expect(g2.status).toBe(201);
    // Worthless from its expiry on: wait for the daemon's own expiry record, then ask.
    const expired = `"event":"grant.expire","agent":"release-ok","session":"${s.session.id}"`;
    await waitFor('the grant.expire record', () => readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8').includes(expired));
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(g2.body.grant.expires));
    expect((await s.api('POST', '/v1/resolve', { grant: g2.body.token })).status).toBe(401);
    await s.close();
  });

  it('revokes by session and by agent glob, and removing a vault entry revokes its grants', async () => {
    const one = await holdSession(d.home, 'mcp:one');
    const two = await holdSession(d.home, 'mcp:two');
    const three = await holdSession(d.home, 'claude-code');
    for (const s of [one, two, three]) expect((await s.api('POST', '/v1/grants', { spec: 'openai:chat' })).status).toBe(201);
    expect((await d.cli(['revoke', '--session', one.session.id])).stdout).toContain('Revoked 1 grant');
    expect((await d.cli(['revoke', '--agent', 'mcp:*'])).stdout).toContain('Revoked 1 grant');
    const left = JSON.parse((await d.cli(['grants', '--json'])).stdout);
    expect(left.map((g: { agent: string }) => g.agent)).toEqual(['claude-code']);
    expect((await d.cli(['revoke'])).code).toBe(2);
    // A throwaway entry: removing it revokes the grants that use it.
    expect((await d.cli(['vault', 'add', 'tmp', '--provider', 'openai'], { input: 'sk-temporary-value' })).code).toBe(0);
    const asked = await three.api('POST', '/v1/grants', { spec: 'tmp:chat' });
    expect(asked.status).toBe(202); // no rule for tmp: a person decides
    expect((await d.cli(['consent', 'allow', asked.body.consent])).code).toBe(0);
    const grants = JSON.parse((await d.cli(['grants', '--json'])).stdout);
    expect(grants.map((g: { credential: string }) => g.credential).sort()).toEqual(['openai', 'tmp']);
    const rm = await d.cli(['vault', 'remove', 'tmp']);
    expect(rm.stdout).toContain('Removed tmp');
    expect(JSON.parse((await d.cli(['grants', '--json'])).stdout).map((g: { credential: string }) => g.credential)).toEqual(['openai']);
    expect(readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8')).toContain('"reason":"vault entry tmp removed"');
    expect((await d.cli(['vault', 'remove', 'tmp'])).code).toBe(2);
    for (const s of [one, two, three]) await s.close();
  });

  it('serves 1,000 concurrent grant requests, one audit record each, and stays up', async () => {
    const s = await holdSession(d.home, 'claude-code');
    const before = readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8').split('\n').length;
    const replies = await Promise.all(Array.from({ length: 1000 }, () => s.api('POST', '/v1/grants', { spec: 'openai:chat' })));
    const statuses = replies.reduce<Record<number, number>>((n, r) => ({ ...n, [r.status]: (n[r.status] ?? 0) + 1 }), {});
    expect(statuses).toEqual({ 201: 1000 });
    expect(new Set(replies.map((r) => r.body.token)).size).toBe(1000);
    const after = readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8').split('\n').length;
    expect(after - before).toBeGreaterThanOrEqual(3000); // request, decision, issue
    await s.close();
    expect((await d.api('admin', 'GET', '/v1/health')).status).toBe(200);
  });

  it('never writes a secret value or token into its state, runtime or output', async () => {
    const verify = await d.cli(['audit', 'verify']);
    expect(verify.code, verify.stdout).toBe(0);
    const files = [...allFiles(join(d.home, 'state')), ...allFiles(join(d.home, 'config'))];
    const blobs = files.map((f) => readFileSync(f, 'utf8')).concat(d.output());
    for (const text of blobs) {
      for (const secret of [openaiKey, githubKey, dbUrl, ...tokensSeen]) expect(text).not.toContain(secret);
      expect(text).not.toMatch(/kw[gs]_[A-Za-z0-9]{49}/);
    }
    expect(readdirSync(join(d.home, 'run')).sort()).toEqual(['admin.sock', 'agent.sock', 'daemon.pid']);
  });
});

describe('the daemon API on bad input', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startDaemon();
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('answers unknown routes, wrong methods, bad JSON, unknown fields and huge bodies with JSON errors', async () => {
    expect(await d.api('agent', 'GET', '/v1/nope')).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(await d.api('agent', 'PUT', '/v1/sessions')).toMatchObject({ status: 405 });
    const { apiCall } = await import('../helpers/daemon.js');
    const sock = socketFile(d.home, 'agent');
    expect(await apiCall(sock, 'POST', '/v1/sessions', undefined, undefined, '{"agent":')).toMatchObject({ status: 400, body: { error: { code: 'bad_json' } } });
    expect(await d.api('agent', 'POST', '/v1/sessions', { agent: 'x', evil: true, pid: 1 })).toMatchObject({ status: 400, body: { error: { message: 'unknown field "evil"' } } });
    expect(await d.api('agent', 'POST', '/v1/sessions', { agent: 'bad name!', pid: 1 })).toMatchObject({ status: 400 });
    // Refused on its declared length, before the body is read.
    const huge = await rawRequest(sock, 'POST', '/v1/sessions', Buffer.alloc(10 * 1024 * 1024, 'y'), { declareOnly: true });
    expect(huge).toMatchObject({ status: 413, body: { error: { code: 'too_large', message: 'the request body is larger than 65536 bytes' } } });
    expect((await d.api('agent', 'GET', '/v1/health')).status).toBe(200);
  });

  it('takes a body of exactly 64 KiB and refuses one byte more, declared or chunked', async () => {
    const sock = socketFile(d.home, 'agent');
    // A JSON body of exactly `size` bytes that passes the schema only through the size check.
    const body = (size: number) => {
      const frame = JSON.stringify({ agent: 'limit-test', task: '' });
      return Buffer.from(JSON.stringify({ agent: 'limit-test', task: '' }).replace('""', `"${' '.repeat(size - frame.length)}"`));
    };
    expect(body(64 * 1024)).toHaveLength(65536);
    // At the limit: read and parsed (the task is too long for the schema, which says so).
    const at = await rawRequest(sock, 'POST', '/v1/sessions', body(64 * 1024));
    expect(at).toMatchObject({ status: 400, body: { error: { code: 'bad_request', message: expect.stringMatching(/^task: /) } } });
    const above = await rawRequest(sock, 'POST', '/v1/sessions', body(64 * 1024 + 1));
    expect(above).toMatchObject({ status: 413, body: { error: { code: 'too_large' } } });
    // Without a Content-Length the limit is counted as the body arrives.
    const chunkedAt = await rawRequest(sock, 'POST', '/v1/sessions', body(64 * 1024), { chunked: true });
    expect(chunkedAt.status).toBe(400);
    const chunkedAbove = await rawRequest(sock, 'POST', '/v1/sessions', body(64 * 1024 + 1), { chunked: true });
    expect(chunkedAbove).toMatchObject({ status: 413, body: { error: { code: 'too_large' } } });
    expect((await d.api('agent', 'GET', '/v1/health')).status).toBe(200);
  });

  it('keeps serving when a client disconnects mid-request or sends garbage', async () => {
    for (const payload of ['POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"agent"', 'NOT HTTP AT ALL\r\n\r\n', '\u0000\u0001\u0002']) {
      await new Promise<void>((resolve) => {
        const s = connect(socketFile(d.home, 'agent'), () => {
          // Gone as soon as the bytes are sent: mid-request, or right after garbage.
          s.write(payload, () => {
            s.destroy();
            resolve();
          });
        });
        s.on('error', () => resolve());
      });
    }
    expect((await d.api('agent', 'GET', '/v1/health')).status).toBe(200);
  });

  it('survives a slow client: the connection is dropped after the header timeout, others are served meanwhile', async () => {
    const s = connect(socketFile(d.home, 'agent'));
    let closed = false;
    s.on('close', () => (closed = true));
    s.on('error', () => {});
    let answer = '';
    s.on('data', (x: Buffer) => (answer += x.toString('utf8')));
    s.write('GET /v1/health HTTP/1.1\r\nHost: x\r\n');
    expect((await d.api('agent', 'GET', '/v1/health')).status).toBe(200);
    const started = Date.now();
    await waitFor('the slow connection to be dropped', () => closed, { timeoutMs: 20_000 });
    // The header timeout is 10 s, checked every second.
    expect(Date.now() - started).toBeGreaterThan(5_000);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect((await d.api('agent', 'GET', '/v1/health')).status).toBe(200);
  }, 30_000);

  it('explains a vault request it cannot serve without a keychain or file vault', async () => {
    // A daemon with no session bus at all: the keychain is unreachable and no file vault exists.
    const bare = await startDaemon({ env: { DBUS_SESSION_BUS_ADDRESS: '', XDG_RUNTIME_DIR: '' } });
    try {
      const r = await bare.cli(['vault', 'add', 'x', '--provider', 'generic'], { input: 'value\n' });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/keychain/);
      expect(r.stderr).toContain('keyward vault init --file');
      expect(r.stderr).not.toContain('value\n');
    } finally {
      await bare.stop();
      removeDir(bare.home);
    }
  });
});

describe('daemon lifecycle', () => {
  it('is one per user, replaces a stale socket after a crash, and shuts down cleanly on SIGTERM', async () => {
    const d = await startDaemon();
    const second = await d.cli(['daemon', 'start', '--foreground']);
    expect(second.code).toBe(2);
    expect(second.stderr).toContain('already running');
    const idempotent = await d.cli(['daemon', 'start']);
    expect(idempotent.stdout).toContain('already running');
    d.process.kill('SIGKILL');
    await new Promise((r) => d.process.once('exit', r));
    const again = await startDaemon({ home: d.home });
    const status = await again.cli(['daemon', 'status', '--json']);
    expect(JSON.parse(status.stdout).running).toBe(true);
    await again.stop();
    const audit = readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const starts = audit.filter((a) => a.event === 'daemon.start');
    expect(starts[1].detail.previousShutdown).toBe('unclean');
    expect(starts[1].reason).toContain('void');
    expect(audit[audit.length - 1]).toMatchObject({ event: 'daemon.stop', reason: 'received SIGTERM' });
    const stopped = await again.cli(['daemon', 'status']);
    expect(stopped.code).toBe(1);
    removeDir(d.home);
  });

  it('starts in the background on demand and stops on request', async () => {
    const { tempDir, runCli } = await import('../helpers/cli.js');
    const home = tempDir('keyward-bg-');
    const env = { KEYWARD_HOME: home };
    const start = await runCli(['daemon', 'start'], { env });
    expect(start.stdout).toMatch(/keyward daemon started \(pid \d+\)/);
    const pid = Number(/\(pid (\d+)\)/.exec(start.stdout)![1]);
    const stop = await runCli(['daemon', 'stop'], { env });
    expect(stop.stdout).toContain('stopped');
    // Stop returns once the process has gone: its last audit record written, its pid file released.
    expect(() => process.kill(pid, 0)).toThrow();
    expect(existsSync(join(home, 'run', 'daemon.pid'))).toBe(false);
    expect(
      readFileSync(join(home, 'state', 'audit.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .at(-1),
    ).toContain('"event":"daemon.stop"');
    expect((await runCli(['daemon', 'status'], { env })).code).toBe(1);
    // So a start right after finds the place free.
    const again = await runCli(['daemon', 'start'], { env });
    expect(again.stdout, again.stderr).toMatch(/keyward daemon started/);
    expect((await runCli(['daemon', 'stop'], { env })).stdout).toContain('stopped');
    removeDir(home);
  });

  it('writes a systemd user unit that starts the daemon in the foreground', async () => {
    const { tempDir, runCli } = await import('../helpers/cli.js');
    const xdg = tempDir('keyward-xdg-');
    const env = { XDG_CONFIG_HOME: xdg, KEYWARD_HOME: join(xdg, 'kw') };
    const r = await runCli(['daemon', 'install'], { env });
    expect(r.code).toBe(0);
    const unit = readFileSync(join(xdg, 'systemd/user/keyward.service'), 'utf8');
    expect(unit).toMatch(/^ExecStart=".+node[^"]*" ".+bin\/run\.js" daemon start --foreground$/m);
    expect(unit).toContain(`Environment="KEYWARD_HOME=${join(xdg, 'kw')}"`);
    expect(unit).toContain('WantedBy=default.target');
    const off = await runCli(['daemon', 'uninstall'], { env });
    expect(off.stdout).toContain('Removed');
    removeDir(xdg);
  });
});
