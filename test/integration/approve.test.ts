import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../helpers/cli.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { randomAlnum } from '../helpers/secrets.js';
import { HAS_TMUX, tmuxServer } from '../helpers/tmux.js';
import { waitFor as waitForState } from '../helpers/wait.js';

describe('keyward approve without a terminal', () => {
  it('says so and points to keyward consent', async () => {
    const r = await runCli(['approve']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('keyward approve needs an interactive terminal');
    expect(r.stderr).toContain('keyward consent allow <id>');
  });
});

describe.skipIf(!HAS_TMUX)('keyward approve, driven like a person in tmux', () => {
  let d: TestDaemon;
  const tmux = tmuxServer(`kw-approve-${process.pid}`);
  const waitFor = (text: string | RegExp, timeoutMs?: number) => tmux.waitFor('approve', text, timeoutMs);

  beforeAll(async () => {
    d = await startDaemon({
      files: {
        'config/policy.yaml': 'rules:\n  - { agent: "*", credential: github, permission: "repo:write", decision: ask }\n',
        'config/config.yaml': 'consent: { timeout: 30s }\nproxy: { port: 0 }\n',
      },
    });
    expect((await d.cli(['vault', 'add', 'github', '--provider', 'github'], { input: `ghp_${randomAlnum(36)}` })).code).toBe(0);
  });

  afterAll(async () => {
    tmux.kill();
    await d?.stop();
  });

  it("shows a request as it arrives; pressing a lets the agent's command run with its grant", async () => {
    const rc = join(d.home, 'approve.rc');
    const command = `${process.execPath} ${BIN} approve; echo $? > ${rc}; sleep 600`;
    const started = tmux.run('new-session', '-d', '-s', 'approve', '-x', '120', '-y', '45', '-e', 'CI=false', '-e', `KEYWARD_HOME=${d.home}`, '-e', 'NO_COLOR=1', command);
    expect(started.status, started.stderr).toBe(0);
    await waitFor('connected to the daemon');
    await waitFor('Nothing is waiting');

    const agent = spawn(
      process.execPath,
      [
        BIN,
        'run',
        '--agent',
        'e2e-agent',
        '--task',
        'open a pull request',
        '--grant',
        'github:repo:write:acme/app',
        '--',
        process.execPath,
        '-e',
        'console.log(process.env.GITHUB_TOKEN)',
      ],
      { env: d.env },
    );
    let stdout = '';
    let stderr = '';
    agent.stdout.on('data', (x: Buffer) => (stdout += x));
    agent.stderr.on('data', (x: Buffer) => (stderr += x));
    const exited = new Promise<number | null>((r) => agent.on('exit', r));

    const screen = await waitFor('wants github:repo:write:acme/app');
    expect(screen).toContain('e2e-agent');
    expect(screen).toContain('task: open a pull request');
    expect(stderr).toContain('answer it in `keyward approve`');
    tmux.run('send-keys', '-t', 'approve', 'a');
    expect(await exited).toBe(0);
    expect(stdout.trim()).toMatch(/^kwg_[A-Za-z0-9]{49}$/);
    await waitFor(/allowed once: cr_\w+ → gr_\w+/);
    await waitFor(/grant\.issue +e2e-agent github:repo:write:acme\/app/);

    tmux.run('send-keys', '-t', 'approve', 'q');
    await waitForState('keyward approve to exit', () => existsSync(rc));
    expect(readFileSync(rc, 'utf8').trim()).toBe('0');
  });
});
