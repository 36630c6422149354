import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { HAS_KEYRING, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { randomAlnum } from '../helpers/secrets.js';
import { HAS_TMUX, tmuxServer } from '../helpers/tmux.js';

/**
 * Attack 8: spoofing what a person reads. An agent chooses its name and its task; here both carry
 * terminal escapes that move the cursor up, erase lines and print a forged request, and a
 * right-to-left override that flips what follows. Every screen that shows them must show the
 * escapes as text.
 */

const ESC = '\u001b';
const FORGED = `${ESC}[2A${ESC}[2K\rcr_000000000000  trusted-ci wants openai:chat (proxy)${ESC}[1B${ESC}[2K`;
const TASK = `tidy docs${FORGED} \u202efdp.exe`;
/** Agent names are checked by the daemon (letters, digits, ._:@/+-); tasks and resources are free text. */
const AGENT = 'spoofer';
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe.skipIf(!HAS_KEYRING)('agent-written text on keyward screens', () => {
  let d: TestDaemon;
  let consentId: string;
  let agent: ChildProcess | undefined;

  beforeAll(async () => {
    d = await startDaemon({
      files: {
        'config/policy.yaml': `rules:
  - { agent: "*", credential: github, permission: "repo:write", decision: ask }
  - { agent: "*", credential: github, permission: "repo:read", decision: allow }
`,
        'config/config.yaml': 'consent: { timeout: 60s }\nproxy: { port: 0 }\n',
      },
    });
    expect((await d.cli(['vault', 'add', 'github', '--provider', 'github'], { input: `ghp_${randomAlnum(36)}` })).code).toBe(0);
    // The agent, as a separate process tree: its read grant is issued, its write grant waits for
    // a person while the screens are read.
    agent = spawn(
      process.execPath,
      [BIN, 'run', '--agent', AGENT, '--task', TASK, '--grant', `github:repo:read:acme/app${ESC}[2K`, '--grant', 'github:repo:write:acme/app', '--', 'sleep', '60'],
      { env: d.env, stdio: 'ignore' },
    );
    for (let i = 0; i < 400 && !consentId; i++) {
      const pending = await d.api('admin', 'GET', '/v1/consent');
      consentId = pending.body.pending?.[0]?.id;
      // eslint-disable-next-line no-restricted-syntax -- still to be replaced by a state wait or an unconditional assertion (docs/testing.md#known-debt)
      if (!consentId) await new Promise((r) => setTimeout(r, 50));
    }
    expect(consentId).toMatch(/^cr_/);
  });

  afterAll(async () => {
    agent?.kill();
    await d?.stop();
  });

  it('keyward consent list shows the escapes as text, so the task cannot redraw the lines above it', async () => {
    const r = await d.cli(['consent', 'list']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(UNSAFE);
    expect(r.stdout).toContain('\\e[2A\\e[2K\\r');
    expect(r.stdout).toContain('\\u202efdp.exe');
    // --json keeps the data as sent: escaping is for terminals.
    expect(JSON.parse((await d.cli(['consent', 'list', '--json'])).stdout)[0].task).toBe(TASK);
  });

  it('keyward audit and keyward grants escape tasks and resources', async () => {
    const audit = await d.cli(['audit']);
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.stdout).toContain('acme/app\\e[2k');
    expect(audit.stdout).toContain('session.start');
    expect(audit.stdout).not.toMatch(UNSAFE);
    const grants = await d.cli(['grants']);
    expect(grants.code, grants.stderr).toBe(0);
    expect(grants.stdout).toContain('acme/app\\e[2k'); // GitHub names are lower-cased
    expect(grants.stdout).not.toMatch(UNSAFE);
  });

  it.skipIf(!HAS_TMUX)(
    'keyward approve shows the request as sent, with no forged line on screen',
    async () => {
      const tmux = tmuxServer(`kw-sec-term-${process.pid}`);
      try {
        const command = `${process.execPath} ${BIN} approve; sleep 600`;
        const started = tmux.run('new-session', '-d', '-s', 'approve', '-x', '160', '-y', '45', '-e', 'CI=false', '-e', `KEYWARD_HOME=${d.home}`, '-e', 'NO_COLOR=1', command);
        expect(started.status, started.stderr).toBe(0);
        await tmux.waitFor('approve', 'connected to the daemon', 45_000);
        const screen = await tmux.waitFor('approve', '\\e[2A', 30_000);
        expect(screen).toContain('spoofer');
        expect(screen).toContain('\\u202efdp.exe');
        // The forged request never appears as a line of its own.
        expect(screen.split('\n').some((l) => l.trimStart().startsWith('cr_000000000000'))).toBe(false);
      } finally {
        tmux.kill();
      }
    },
    120_000,
  );

  it('error messages that quote a request are escaped too', async () => {
    const r = await d.cli(['run', '--agent', 'x', '--grant', `github:repo:read:acme/a${ESC}[2Jb/c`, '--', 'true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('\\e[2J');
    expect(r.stderr).not.toMatch(UNSAFE);
  });
});
