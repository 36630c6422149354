import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, removeDir, runCli, tempDir } from '../helpers/cli.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { HAS_TMUX, tmuxServer } from '../helpers/tmux.js';
import { IS_LINUX, PASSPHRASE, addEntry, securityDaemon, until } from './fixture.js';

/**
 * No secret or passphrase where it does not belong: the file vault's passphrase never reaches an
 * agent or the daemon's environment; a daemon without it is "locked" and says so; a released
 * value enters argv only when the user asks for it.
 */
const POLICY = `rules:
  - { agent: "*", credential: db, permission: release, decision: allow }
`;

describe.skipIf(!IS_LINUX)('attack 2: the vault passphrase', () => {
  let d: TestDaemon;
  const secret = 'postgres://app:' + 's'.repeat(20) + '@db/app';

  beforeAll(async () => {
    d = await securityDaemon({ policy: POLICY });
    await addEntry(d, 'db', secret);
  });
  afterAll(async () => {
    await d?.stop();
    if (d) removeDir(d.home);
  });

  it('never reaches an agent started with KEYWARD_VAULT_PASSPHRASE exported', async () => {
    const r = await d.cli(['run', '--agent', 'deny-all', '--', 'sh', '-c', 'printf "[%s]" "$KEYWARD_VAULT_PASSPHRASE"; env']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('[]');
    expect(r.stdout).not.toContain(PASSPHRASE);
  });

  it('a background daemon gets it through a pipe, not its environment, and opens the vault', async () => {
    const home = tempDir('keyward-bg-');
    mkdirSync(join(home, 'config'), { recursive: true, mode: 0o700 });
    writeFileSync(join(home, 'config', 'config.yaml'), 'vault: { backend: file }\nproxy: { port: 0 }\n');
    const env = { KEYWARD_HOME: home, KEYWARD_VAULT_PASSPHRASE: PASSPHRASE, DBUS_SESSION_BUS_ADDRESS: '' };
    expect((await runCli(['vault', 'init', '--file'], { env })).code).toBe(0);
    const started = await runCli(['daemon', 'start'], { env });
    expect(started.code, started.stderr).toBe(0);
    try {
      const status = JSON.parse((await runCli(['daemon', 'status', '--json'], { env })).stdout);
      expect(status.detail.vaultLocked).toBe(false);
      // /proc/<pid>/environ keeps a process's initial environment for its whole life.
      expect(readFileSync(`/proc/${status.detail.pid}/environ`, 'latin1')).not.toContain(PASSPHRASE);
      expect(readFileSync(`/proc/${status.detail.pid}/environ`, 'latin1')).not.toContain('KEYWARD_VAULT_PASSPHRASE');
    } finally {
      await runCli(['daemon', 'stop'], { env });
      removeDir(home);
    }
  }, 120_000);

  it('a daemon started without it is locked: status says so, run fails with 125, vault unlock opens it', async () => {
    const home = tempDir('keyward-locked-');
    mkdirSync(join(home, 'config'), { recursive: true, mode: 0o700 });
    writeFileSync(join(home, 'config', 'config.yaml'), 'vault: { backend: file }\nproxy: { port: 0 }\n');
    writeFileSync(join(home, 'config', 'policy.yaml'), POLICY);
    const withPass = { KEYWARD_HOME: home, KEYWARD_VAULT_PASSPHRASE: PASSPHRASE, DBUS_SESSION_BUS_ADDRESS: '' };
    const env = { KEYWARD_HOME: home, KEYWARD_VAULT_PASSPHRASE: '', DBUS_SESSION_BUS_ADDRESS: '' };
    expect((await runCli(['vault', 'init', '--file'], { env: withPass })).code).toBe(0);
    expect((await runCli(['daemon', 'start'], { env })).code).toBe(0);
    try {
      const status = await runCli(['daemon', 'status'], { env });
      expect(status.stdout).toMatch(/vault +file: locked \(open it with `keyward vault unlock`\)/);
      const run = await runCli(['run', '--agent', 'a', '--', 'true'], { env });
      expect(run.code).toBe(125);
      expect(run.stderr).toContain('the vault is locked');
      expect(run.stderr).toContain('keyward vault unlock');
      const wrong = await runCli(['vault', 'unlock'], { env, input: 'not the passphrase\n' });
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toContain('wrong passphrase');
      const right = await runCli(['vault', 'unlock'], { env, input: PASSPHRASE + '\n' });
      expect(right.code, right.stderr).toBe(0);
      expect(right.stdout).toContain('The file vault is open.');
      expect(JSON.parse((await runCli(['daemon', 'status', '--json'], { env })).stdout).detail.vaultLocked).toBe(false);
      expect((await runCli(['run', '--agent', 'a', '--', 'true'], { env })).code).toBe(0);
      expect(readFileSync(join(home, 'state', 'audit.jsonl'), 'utf8')).toMatch(
        /"event":"vault\.unlock"[^\n]*"decision":"deny"[\s\S]*"event":"vault\.unlock"[^\n]*"decision":"allow"/,
      );
    } finally {
      await runCli(['daemon', 'stop'], { env });
      removeDir(home);
    }
  }, 120_000);

  it.skipIf(!HAS_TMUX)(
    '`keyward daemon start` on a terminal asks for it',
    async () => {
      const home = tempDir('keyward-tty-');
      mkdirSync(join(home, 'config'), { recursive: true, mode: 0o700 });
      writeFileSync(join(home, 'config', 'config.yaml'), 'vault: { backend: file }\nproxy: { port: 0 }\n');
      const env = { KEYWARD_HOME: home, DBUS_SESSION_BUS_ADDRESS: '' };
      expect((await runCli(['vault', 'init', '--file'], { env: { ...env, KEYWARD_VAULT_PASSPHRASE: PASSPHRASE } })).code).toBe(0);
      const tmux = tmuxServer(`kw-tty-${process.pid}`);
      try {
        tmux.run(
          'new-session',
          '-d',
          '-s',
          'main',
          '-x',
          '120',
          '-y',
          '20',
          '-e',
          `KEYWARD_HOME=${home}`,
          '-e',
          'KEYWARD_VAULT_PASSPHRASE=',
          '-e',
          'DBUS_SESSION_BUS_ADDRESS=',
          `${process.execPath} ${BIN} daemon start; sleep 30`,
        );
        await tmux.waitFor('main', 'Vault passphrase:');
        tmux.run('send-keys', '-t', 'main', PASSPHRASE, 'Enter');
        // On a loaded machine the start can outlast the CLI's wait: the daemon is then still coming up.
        const screen = await tmux.waitFor('main', /keyward daemon started|the daemon did not start/, 30_000);
        expect(screen).not.toContain(PASSPHRASE);
        const status = await until(
          async () => {
            const r = await runCli(['daemon', 'status', '--json'], { env: { ...env, KEYWARD_VAULT_PASSPHRASE: '' } });
            return r.code === 0 ? JSON.parse(r.stdout) : undefined;
          },
          'the daemon',
          60_000,
        );
        expect(status.detail.vaultLocked).toBe(false);
      } finally {
        await runCli(['daemon', 'stop'], { env });
        tmux.kill();
        removeDir(home);
      }
    },
    120_000,
  );
});

describe.skipIf(!IS_LINUX)('attack 4: a released secret in argv', () => {
  let d: TestDaemon;
  const secret = 'sk-argv-' + 'a'.repeat(30);

  beforeAll(async () => {
    d = await securityDaemon({ policy: POLICY });
    await addEntry(d, 'db', secret);
  });
  afterAll(async () => {
    await d?.stop();
    if (d) removeDir(d.home);
  });

  it('`${K}` in the command is refused without --secret-in-argv, before anything is released or run', async () => {
    const marker = join(tempDir(), 'ran');
    const r = await d.cli(['run', '--agent', 'a', '--env', 'K=keyward://db', '--', 'sh', '-c', `touch ${marker}; sleep 1`, 'x', '--api-key=${K}']);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain('${K} in the command line would put a released secret into the command');
    expect(r.stderr).toContain('--secret-in-argv');
    expect(spawnSync('test', ['-e', marker]).status).not.toBe(0);
    expect(readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8')).not.toMatch(/"event":"grant\.release"/);
  });

  it('the environment carries it without exposing it in ps; --secret-in-argv puts it in argv and says who can read it', async () => {
    // While the agent runs, its argv (what every user sees in ps) holds no secret.
    const child = spawn(process.execPath, [BIN, 'run', '--agent', 'a', '--env', 'K=keyward://db', '--', 'sh', '-c', 'test -n "$K" && echo ready && sleep 30'], {
      env: { ...d.env, NO_COLOR: '1' },
    });
    let out = '';
    child.stdout.on('data', (x: Buffer) => (out += x));
    await until(() => out.includes('ready'), 'the agent');
    const ps = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout;
    expect(ps).not.toContain(secret);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    const allowed = await d.cli(['run', '--agent', 'a', '--env', 'K=keyward://db', '--secret-in-argv', '--', 'sh', '-c', 'printf "%s" "$1"', 'x', '--api-key=${K}']);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stdout).toBe(`--api-key=${secret}`);
    expect(allowed.stderr).toContain("is in the command's arguments, visible to every user of this machine");
  });
});
