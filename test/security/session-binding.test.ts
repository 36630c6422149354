import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, removeDir } from '../helpers/cli.js';
import { holdSession, type TestDaemon } from '../helpers/daemon.js';
import { HAS_CURL, HAS_SETSID, IS_LINUX, addEntry, auditText, script, securityDaemon, until } from './fixture.js';

/**
 * Session tokens are honoured only from the session's own process tree; a process that carries
 * KEYWARD_SESSION or descends from a session root opens sub-agent sessions only.
 */
const POLICY = `rules:
  - { agent: "victim", credential: db, permission: release, decision: allow }
  - { agent: "thief", credential: db, permission: release, decision: deny }
`;

describe.skipIf(!IS_LINUX)('tokens bound to their session', () => {
  let d: TestDaemon;
  const secret = 'postgres://app:' + 'p'.repeat(20) + '@db.internal/app';

  beforeAll(async () => {
    d = await securityDaemon({ policy: POLICY });
    await addEntry(d, 'db', secret);
  });
  afterAll(async () => {
    await d?.stop();
    if (d) removeDir(d.home);
  });

  it("attack 5: KEYWARD_SESSION read from an agent's /proc/<pid>/environ is useless to a process outside its session", async () => {
    // The victim: an agent started by keyward run, sleeping.
    const run = spawn(process.execPath, [BIN, 'run', '--agent', 'victim', '--', 'sleep', '60'], { env: d.env, stdio: 'ignore' });
    const agentPid = await until(() => {
      const r = spawnSync('pgrep', ['-P', String(run.pid)], { encoding: 'utf8' });
      return r.stdout.trim() ? Number(r.stdout.trim().split('\n')[0]) : undefined;
    }, 'the agent process');
    const environ = await until(() => {
      const text = readFileSync(`/proc/${agentPid}/environ`, 'utf8');
      return text.includes('KEYWARD_SESSION=') ? text : undefined;
    }, 'the agent environment');
    const stolen = /KEYWARD_SESSION=([^\0]+)/.exec(environ)![1];

    // The thief (this test process, outside the session) uses it on agent.sock.
    const grant = await d.api('agent', 'POST', '/v1/grants', { credential: 'db', mode: 'release' }, stolen);
    expect(grant.status, JSON.stringify(grant.body)).toBe(403);
    expect(grant.body.error.code).toBe('foreign_session');
    const info = await d.api('agent', 'GET', '/v1/sessions/current', undefined, stolen);
    expect(info.status).toBe(403);
    // Nor can it open a session "under" the victim to borrow its chain.
    const sub = await d.api('agent', 'POST', '/v1/sessions', { agent: 'thief' }, stolen);
    expect(sub.status).toBe(403);
    expect(JSON.stringify([grant.body, info.body, sub.body])).not.toContain(secret);
    const audit = auditText(d);
    expect(audit).toMatch(/"event":"token\.refused"[^\n]*"agent":"victim"[^\n]*"route":"POST \/v1\/grants"/);
    expect(audit).not.toMatch(/"event":"grant\.release"[^\n]*"agent":"victim"/);
    run.kill('SIGTERM');
    await new Promise((r) => run.once('exit', r));
  });

  it('the session itself still gets and resolves its grant (the binding is not a blanket refusal)', async () => {
    const s = await holdSession(d.home, 'victim');
    const grant = await s.api('POST', '/v1/grants', { credential: 'db', mode: 'release' });
    expect(grant.status, JSON.stringify(grant.body)).toBe(201);
    const value = await s.api('POST', '/v1/resolve', { grant: grant.body.token });
    expect(value).toMatchObject({ status: 200, body: { value: secret } });
    // The grant token too is worthless outside: from this process, with the session token, 403.
    const stolen = await d.api('agent', 'POST', '/v1/resolve', { grant: grant.body.token }, s.token);
    expect(stolen.status).toBe(403);
    expect(JSON.stringify(stolen.body)).not.toContain(secret);
    await s.close();
  });

  it.skipIf(!HAS_CURL || !HAS_SETSID)('attack 11: `(setsid curl … /v1/sessions &)` with KEYWARD_SESSION set becomes a sub-agent, not a top-level session', async () => {
    const dir = script('x', '').replace(/\/x$/, '');
    const out = join(dir, 'out.json');
    const attack = `(setsid curl -sS --unix-socket "$KEYWARD_AGENT_SOCK" -H 'content-type: application/json' -d '{"agent":"thief"}' http://keyward/v1/sessions > ${out} &)
for i in $(seq 100); do [ -s ${out} ] && exit 0; sleep 0.1; done; exit 1`;
    const r = await d.cli(['run', '--agent', 'victim', '--', 'sh', '-c', attack], { timeout: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const opened = JSON.parse(readFileSync(out, 'utf8'));
    const victim = auditText(d)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((x) => x.event === 'session.start' && x.agent === 'victim')
      .pop();
    expect(opened.session.parent).toBe(victim.session);
    expect(opened.session.chain.slice(1)).toEqual(['victim', 'thief']);
    removeDir(dir);
  });

  it.skipIf(!HAS_CURL || !HAS_SETSID)('a detached process with a KEYWARD_SESSION of an ended session opens nothing', async () => {
    const r = spawnSync(
      'setsid',
      ['curl', '-sS', '--unix-socket', join(d.home, 'run', 'agent.sock'), '-H', 'content-type: application/json', '-d', '{"agent":"x"}', 'http://keyward/v1/sessions'],
      {
        env: { ...process.env, KEYWARD_SESSION: 'kws_' + 'a'.repeat(49) },
        encoding: 'utf8',
      },
    );
    expect(JSON.parse(r.stdout).error.code).toBe('invalid_session');
  });
});
