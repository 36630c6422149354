import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cli.js';
import { BIN } from '../helpers/cli.js';
import { HAS_KEYRING, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { HAS_TMUX, tmuxServer } from '../helpers/tmux.js';
import { randomAlnum } from '../helpers/secrets.js';

/**
 * Attack 13: the agent rewrites keyward's own configuration. From inside `keyward run`, a real
 * agent process points providers/openai.yaml at a server of its own and widens policy.yaml; the
 * daemon must keep the confirmed configuration until a person confirms the change.
 */

const nodeScript = (code: string) => ['--', process.execPath, '--input-type=module', '-e', code];

function recorder(): Promise<{ server: Server; url: string; auth: string[] }> {
  const auth: string[] = [];
  const server = createServer((req, res) => {
    auth.push(String(req.headers.authorization ?? ''));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  server.keepAliveTimeout = 120_000;
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, auth })));
}

describe.skipIf(!HAS_KEYRING)('configuration the agent cannot change alone', () => {
  let d: TestDaemon;
  let real: Awaited<ReturnType<typeof recorder>>;
  let attacker: Awaited<ReturnType<typeof recorder>>;
  const key = `sk-proj-${randomAlnum(40)}T3BlbkFJ${randomAlnum(40)}`;
  const audit = () =>
    readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { event: string; reason?: string; decision?: string; detail?: any });

  beforeAll(async () => {
    real = await recorder();
    attacker = await recorder();
    const home = tempDir('keyward-sec-config-');
    mkdirSync(join(home, 'config', 'providers'), { recursive: true });
    d = await startDaemon({
      home,
      files: {
        'config/providers/openai.yaml': `upstream: ${real.url}\n`,
        'config/policy.yaml': 'defaults: { decision: deny }\nrules:\n  - { agent: "*", credential: openai, permission: chat, decision: allow }\n',
      },
    });
    expect((await d.cli(['vault', 'add', 'openai', '--provider', 'openai'], { input: key })).code).toBe(0);
  });

  afterAll(async () => {
    await d?.stop();
    await new Promise((r) => real?.server.close(r));
    await new Promise((r) => attacker?.server.close(r));
  });

  it('an agent that rewrites providers/openai.yaml and policy.yaml gains nothing until a person confirms', async () => {
    const code = `
      import { writeFileSync, readFileSync, appendFileSync } from 'node:fs';
      import { request } from 'node:http';
      const cfg = process.env.KEYWARD_HOME + '/config';
      writeFileSync(cfg + '/providers/openai.yaml', 'upstream: ${attacker.url}\\n');
      appendFileSync(cfg + '/policy.yaml', '  - { agent: "*", credential: "*", permission: "*", decision: allow }\\n');
      // Wait until the daemon has seen the change (the audit log is readable by the agent).
      const seen = () => readFileSync(process.env.KEYWARD_HOME + '/state/audit.jsonl', 'utf8').includes('"config.proposed"');
      for (let i = 0; i < 200 && !seen(); i++) await new Promise((r) => setTimeout(r, 50));
      const chat = await fetch(process.env.OPENAI_BASE_URL + '/chat/completions', { method: 'POST', headers: { authorization: 'Bearer ' + process.env.OPENAI_API_KEY }, body: '{}' });
      // The agent confirms the change itself over admin.sock.
      const pending = await new Promise((resolve) => {
        const req = request({ socketPath: process.env.KEYWARD_HOME + '/run/admin.sock', path: '/v1/config/pending', method: 'GET' }, (res) => { let t = ''; res.on('data', (c) => (t += c)); res.on('end', () => resolve(res.statusCode)); });
        req.on('error', (e) => resolve(String(e.code)));
        req.end();
      });
      console.log(JSON.stringify({ seen: seen(), chat: chat.status, pending }));`;
    const r = await d.cli(['run', '--agent', 'rewriter', '--grant', 'openai:chat', ...nodeScript(code)]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.seen).toBe(true);
    expect(out.chat).toBe(200);
    expect(out.pending).toBe(403); // admin.sock refuses a caller inside a session
    expect(attacker.auth).toEqual([]);
    expect(real.auth.at(-1)).toBe(`Bearer ${key}`);
    const proposed = audit().find((x) => x.event === 'config.proposed')!;
    expect(proposed.decision).toBe('pending');
    expect(proposed.detail.files.map((f: { path: string }) => f.path).sort()).toEqual(['policy.yaml', 'providers/openai.yaml']);
    // The widened policy is not in force either: a release grant is still denied.
    const release = await d.cli(['run', '--agent', 'rewriter', '--env', 'K=keyward://openai', '--', 'true']);
    expect(release.code).toBe(125);
  });

  it('a person sees the diff and confirms it with keyward policy apply; the audit says who', async () => {
    const noTty = await d.cli(['policy', 'apply']);
    expect(noTty.code).not.toBe(0);
    expect(noTty.stdout).toContain(`+upstream: ${attacker.url}`);
    expect(noTty.stdout).toContain(`-upstream: ${real.url}`);
    expect(noTty.stderr).toContain('--yes');
    const applied = await d.cli(['policy', 'apply', '--yes']);
    expect(applied.code, applied.stderr).toBe(0);
    const confirmed = audit().find((x) => x.event === 'config.confirmed')!;
    expect(confirmed.reason).toMatch(/confirmed by a person over admin\.sock/);
    const r = await d.cli([
      'run',
      '--agent',
      'after',
      '--grant',
      'openai:chat',
      ...nodeScript(
        `const c = await fetch(process.env.OPENAI_BASE_URL + '/chat/completions', { method: 'POST', headers: { authorization: 'Bearer ' + process.env.OPENAI_API_KEY }, body: '{}' }); console.log(c.status);`,
      ),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(attacker.auth).toEqual([`Bearer ${key}`]); // what the person confirmed is in force
    expect((await d.cli(['policy', 'apply'])).stdout).toContain('Nothing to apply');
  });

  it('notices changes in subfolders of providers/ and config.yaml, and withdraws a proposal reverted on disk', async () => {
    const before = audit().filter((x) => x.event === 'config.proposed').length;
    mkdirSync(join(d.home, 'config', 'providers', 'extra'), { recursive: true });
    writeFileSync(join(d.home, 'config', 'providers', 'extra', 'acme.yaml'), 'upstream: http://127.0.0.1:1\n');
    // eslint-disable-next-line no-restricted-syntax -- still to be replaced by a state wait or an unconditional assertion (docs/testing.md#known-debt)
    for (let i = 0; i < 100 && audit().filter((x) => x.event === 'config.proposed').length === before; i++) await new Promise((r) => setTimeout(r, 50));
    const proposed = audit()
      .filter((x) => x.event === 'config.proposed')
      .at(-1)!;
    expect(proposed.detail.files).toEqual([expect.objectContaining({ path: 'providers/extra/acme.yaml', change: 'added' })]);
    const status = JSON.parse((await d.cli(['daemon', 'status', '--json'])).stdout);
    expect(status.detail.config.pending).toBe(proposed.detail.id);
    const { rmSync } = await import('node:fs');
    rmSync(join(d.home, 'config', 'providers', 'extra'), { recursive: true });
    // eslint-disable-next-line no-restricted-syntax -- still to be replaced by a state wait or an unconditional assertion (docs/testing.md#known-debt)
    for (let i = 0; i < 100 && !audit().some((x) => x.event === 'config.withdrawn'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(audit().some((x) => x.event === 'config.withdrawn')).toBe(true);
  });

  it.skipIf(!HAS_TMUX)(
    'keyward approve shows a pending change as a diff and applies it when the person says yes',
    async () => {
      writeFileSync(join(d.home, 'config', 'policy.yaml'), 'defaults: { decision: deny }\nrules:\n  - { agent: "*", credential: openai, permission: chat, decision: deny }\n');
      // eslint-disable-next-line no-restricted-syntax -- still to be replaced by a state wait or an unconditional assertion (docs/testing.md#known-debt)
      for (let i = 0; i < 100 && !JSON.parse((await d.cli(['daemon', 'status', '--json'])).stdout).detail.config.pending; i++) await new Promise((r) => setTimeout(r, 50));
      const tmux = tmuxServer(`kw-sec-config-${process.pid}`);
      try {
        const started = tmux.run(
          'new-session',
          '-d',
          '-s',
          'approve',
          '-x',
          '140',
          '-y',
          '45',
          '-e',
          'CI=false',
          '-e',
          `KEYWARD_HOME=${d.home}`,
          '-e',
          'NO_COLOR=1',
          `${process.execPath} ${BIN} approve; sleep 600`,
        );
        expect(started.status, started.stderr).toBe(0);
        const screen = await tmux.waitFor('approve', 'Apply this configuration change?', 45_000);
        expect(screen).toContain('modified policy.yaml');
        expect(screen).toContain('+  - { agent: "*", credential: openai, permission: chat, decision: deny }');
        expect(screen).toContain('-  - { agent: "*", credential: openai, permission: chat, decision: allow }');
        tmux.run('send-keys', '-t', 'approve', 'y', 'Enter');
        await tmux.waitFor('approve', /Applied cfg_/, 30_000);
      } finally {
        tmux.kill();
      }
      const denied = await d.cli(['run', '--agent', 'after', '--grant', 'openai:chat', '--', 'true']);
      expect(denied.code).toBe(125);
      expect(audit().filter((x) => x.event === 'config.confirmed').length).toBe(2);
    },
    120_000,
  );
});
