import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, removeDir, tempDir, writeTree } from '../helpers/cli.js';
import { socketFile, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { githubToken } from '../helpers/secrets.js';
import { HAS_TMUX, tmuxServer } from '../helpers/tmux.js';

const fingerprintOf = (rule: string, secret: string) => createHash('sha256').update(`${rule}:${secret}`).digest('hex');

interface AuditLine {
  seq: number;
  event: string;
  reason?: string;
  pid?: number;
  detail?: Record<string, unknown>;
}
const auditOf = (home: string): AuditLine[] =>
  existsSync(join(home, 'state', 'audit.jsonl'))
    ? readFileSync(join(home, 'state', 'audit.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as AuditLine)
    : [];

async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    // eslint-disable-next-line no-restricted-syntax -- a fixed sleep, still to be replaced by a state wait (docs/testing.md#known-debt)
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** `keyward watch` as a real process, its output collected. */
function startWatch(args: string[], cwd: string, env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [BIN, 'watch', ...args], { cwd, env: { ...env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] }) as ChildProcessWithoutNullStreams;
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString('utf8')));
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  return {
    out,
    ready: () =>
      until('keyward watch to be ready', () => {
        if (child.exitCode !== null) throw new Error(`keyward watch exited: ${out.stderr}`);
        return out.stderr.includes('Watching ');
      }),
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      return exited;
    },
  };
}

describe('keyward watch with the daemon', () => {
  let d: TestDaemon;
  const project = tempDir('keyward-project-');
  const daemonWatched = tempDir('keyward-watched-');
  /** A home directory of our own: the default paths include its credential locations. */
  const home = tempDir('keyward-fake-home-');
  const existing = githubToken();
  const npmToken = githubToken();

  beforeAll(async () => {
    writeTree(project, { 'src/app.ts': 'export const x = 1;\n', 'node_modules/dep/index.js': '', '.git/HEAD': 'ref: refs/heads/main\n' });
    writeTree(home, { '.npmrc': `//npm.pkg.github.com/:_authToken=${npmToken}\n`, 'notes.txt': '' });
    writeTree(daemonWatched, { 'old.env': `GITHUB_TOKEN=${existing}\n` });
    d = await startDaemon({ files: { 'config/config.yaml': `watch:\n  - ${daemonWatched}\n` } });
  });
  afterAll(async () => {
    await d?.stop();
    removeDir(project);
    removeDir(daemonWatched);
    removeDir(home);
  });

  it('prints a secret as it is written and records a finding in the audit log, never the secret', async () => {
    const watch = startWatch([], project, { ...d.env, HOME: home });
    // keyward approve's feed: the daemon's event stream.
    const events: string[] = [];
    const stream = request({ socketPath: socketFile(d.home, 'admin'), path: '/v1/events' }, (res) => res.on('data', (c: Buffer) => events.push(c.toString('utf8'))));
    stream.end();
    try {
      await watch.ready();
      // The current directory, the home directory's credential locations, and what config.yaml
      // registers (the daemon's watch: list).
      expect(watch.out.stderr).toMatch(
        /No paths given: watching the current directory, \d+ credential and agent-config locations \(1 there now; the others are waited for\), the 1 path under watch: in config\.yaml\./,
      );
      expect(watch.out.stderr).toContain('Audit: new findings are written to the audit log (the daemon is running)');
      // src/app.ts, old.env and ~/.npmrc; nothing under node_modules or .git, not ~/notes.txt.
      expect(watch.out.stderr).toMatch(/Watching 3 files in \d+ directories \(first scan \d+\.\d s\); 2 secrets were already there/);
      expect(watch.out.stdout).toBe(
        `present  github-classic-pat  ${join(daemonWatched, 'old.env')}:1:14  ghp_********  (GitHub personal access token (classic))\n` +
          `present  github-classic-pat  ~/.npmrc:1:34  ghp_********  (GitHub personal access token (classic))\n`,
      );

      const token = githubToken();
      writeFileSync(join(project, 'node_modules', 'dep', 'index.js'), `const t = "${githubToken()}";\n`);
      writeFileSync(join(project, '.git', 'config'), `[credential]\n  token = ${githubToken()}\n`);
      writeFileSync(join(project, '.env'), `# local settings\nGITHUB_TOKEN=${token}\n`);
      await until('the finding on stdout', () => watch.out.stdout.includes('NEW      github-classic-pat  .env:2:14  ghp_********'));

      const fingerprint = fingerprintOf('github-classic-pat', token);
      const record = await until('the finding in the audit log', () => auditOf(d.home).find((r) => r.event === 'finding'));
      expect(record.detail).toEqual({ rule: 'github-classic-pat', provider: 'github', file: join(project, '.env'), line: 2, column: 14, fingerprint, by: 'keyward watch' });
      expect(record.reason).toBe('keyward watch saw a new secret written to a file');
      await until('the finding on the event stream', () => events.join('').includes(`"fingerprint":"${fingerprint}"`));
      expect(events.join('')).toMatch(/event: audit\ndata: \{[^\n]*"event":"finding"/);

      // Written again unchanged: not new, not recorded again.
      writeFileSync(join(project, '.env'), `GITHUB_TOKEN=${token}\n# moved down a line\n`);
      // eslint-disable-next-line no-restricted-syntax -- a fixed sleep, still to be replaced by a state wait (docs/testing.md#known-debt)
      await new Promise((r) => setTimeout(r, 800));
      expect(watch.out.stdout.match(/^NEW /gm)).toHaveLength(1);
      expect(auditOf(d.home).filter((r) => r.event === 'finding')).toHaveLength(1);
      // Without a terminal there are no keys to offer: lines only.
      expect(watch.out.stderr).not.toContain('m: move it into the vault');

      // A credential file that did not exist, in a directory that did not exist either.
      const aws = githubToken();
      writeFileSync(join(home, 'notes.txt'), `GITHUB_TOKEN=${githubToken()}\n`);
      mkdirSync(join(home, '.aws'));
      writeFileSync(join(home, '.aws', 'credentials'), `[default]\ngithub_token = ${aws}\n`);
      await until('the new credentials file', () => watch.out.stdout.includes('NEW      github-classic-pat  ~/.aws/credentials:2:16'));
      await until('its audit record', () => auditOf(d.home).find((r) => r.event === 'finding' && r.detail?.file === join(home, '.aws', 'credentials')));
      expect(watch.out.stdout).not.toContain('notes.txt');

      const shown = await d.cli(['audit', '--event', 'finding']);
      expect(shown.stdout).toContain(`finding           github-classic-pat in ${join(project, '.env')}:2`);
      for (const text of [watch.out.stdout, watch.out.stderr, readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8'), events.join(''), d.output()]) {
        for (const secret of [token, aws, npmToken]) expect(text).not.toContain(secret);
      }
    } finally {
      stream.destroy();
      expect(await watch.stop()).toBe(0);
    }
  });

  it('watches the paths under watch: in config.yaml from the daemon itself, once per secret with keyward watch', async () => {
    const status = await until('the daemon watch to be ready', () => {
      const out = spawnSync(process.execPath, [BIN, 'daemon', 'status', '--json'], { env: d.env, encoding: 'utf8' }).stdout;
      const s = out ? JSON.parse(out) : undefined;
      return s?.detail?.watch?.scanning === false ? s.detail.watch : undefined;
    });
    expect(status).toMatchObject({ paths: [daemonWatched], files: 1, present: 1, new: 0 });
    // What was there at start is counted, not audited.
    expect(auditOf(d.home).some((r) => r.event === 'finding' && r.detail?.fingerprint === fingerprintOf('github-classic-pat', existing))).toBe(false);

    const watch = startWatch([daemonWatched], ROOT, d.env);
    await watch.ready();
    const token = githubToken();
    mkdirSync(join(daemonWatched, 'conf'));
    writeFileSync(join(daemonWatched, 'conf', 'mcp.json'), JSON.stringify({ mcpServers: { github: { env: { GITHUB_TOKEN: token } } } }, null, 2));
    const fingerprint = fingerprintOf('github-classic-pat', token);
    await until('keyward watch to print it', () => watch.out.stdout.includes('conf/mcp.json'));
    const records = await until('a finding record', () => {
      const found = auditOf(d.home).filter((r) => r.event === 'finding' && r.detail?.fingerprint === fingerprint);
      return found.length > 0 && found;
    });
    // eslint-disable-next-line no-restricted-syntax -- a fixed sleep, still to be replaced by a state wait (docs/testing.md#known-debt)
    await new Promise((r) => setTimeout(r, 1000));
    // The daemon and keyward watch both saw it; the log has it once.
    await until('the daemon to see it too', () => d.output().includes(`"msg":"new finding","rule":"github-classic-pat","file":"${join(daemonWatched, 'conf', 'mcp.json')}"`));
    expect(auditOf(d.home).filter((r) => r.event === 'finding' && r.detail?.fingerprint === fingerprint)).toHaveLength(1);
    expect(records[0].detail?.file).toBe(join(daemonWatched, 'conf', 'mcp.json'));
    expect(await watch.stop()).toBe(0);
    expect(readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8')).not.toContain(token);
  });

  it('takes findings on admin.sock only in the documented shape', async () => {
    const good = { rule: 'github-classic-pat', file: '/tmp/x/.env', line: 1, fingerprint: 'a'.repeat(64) };
    expect(await d.api('admin', 'POST', '/v1/findings', good)).toMatchObject({ status: 201, body: { recorded: true } });
    expect(await d.api('admin', 'POST', '/v1/findings', good)).toMatchObject({ status: 200, body: { recorded: false } });
    expect(await d.api('admin', 'POST', '/v1/findings', { ...good, secret: 'ghp_x' })).toMatchObject({ status: 400, body: { error: { message: 'unknown field "secret"' } } });
    expect((await d.api('admin', 'POST', '/v1/findings', { ...good, file: 'relative/.env' })).status).toBe(400);
    expect((await d.api('admin', 'POST', '/v1/findings', { ...good, fingerprint: 'ghp_notafingerprint' })).status).toBe(400);
    expect((await d.api('agent', 'POST', '/v1/findings', good)).status).toBe(404);
  });
});

describe('keyward watch without the daemon', () => {
  it('still prints what it finds, and says the audit is off', async () => {
    const home = tempDir('keyward-home-');
    const dir = tempDir('keyward-project-');
    const watch = startWatch(['.', 'later/app.env', '--json'], dir, { ...process.env, KEYWARD_HOME: home });
    try {
      await watch.ready();
      expect(watch.out.stderr).toContain(`${join(dir, 'later', 'app.env')} does not exist (yet): watching for it to appear.`);
      expect(watch.out.stderr).toContain(
        'Audit is off: the keyward daemon is not running. Findings are printed here only; start the daemon (keyward daemon start) to record them.',
      );
      const token = githubToken();
      writeFileSync(join(dir, 'settings.env'), `GITHUB_TOKEN=${token}\n`);
      const line = await until('the JSON line', () => watch.out.stdout.split('\n').find((l) => l.includes('settings.env')));
      expect(JSON.parse(line)).toMatchObject({
        status: 'new',
        ruleId: 'github-classic-pat',
        file: 'settings.env',
        line: 1,
        secret: 'ghp_********',
        fingerprint: fingerprintOf('github-classic-pat', token),
      });
      expect(watch.out.stdout + watch.out.stderr).not.toContain(token);
      expect(existsSync(join(home, 'state', 'audit.jsonl'))).toBe(false);
    } finally {
      expect(await watch.stop()).toBe(0);
      removeDir(home);
      removeDir(dir);
    }
  });
});

describe.skipIf(!HAS_TMUX)('keyward watch on a terminal', () => {
  const tmux = tmuxServer(`kw-watch-${process.pid}`);
  const pane = () => tmux.screen('watch');
  let d: TestDaemon;
  const home = tempDir('keyward-fake-home-');
  const project = tempDir('keyward-project-');
  beforeAll(async () => {
    d = await startDaemon({ env: { KEYWARD_KEYCHAIN_SERVICE: `keyward-watch-test-${process.pid}` } });
  });
  afterAll(async () => {
    tmux.kill();
    await d?.stop();
    removeDir(home);
    removeDir(project);
  });

  it('offers m to migrate the new finding, runs keyward migrate on it, and q quits', { timeout: 90_000 }, async () => {
    const rc = join(d.home, 'watch.rc');
    // CI=false: keyward migrate's wizard (ink) draws nothing until exit when it believes it runs in CI.
    const env = ['-e', 'CI=false', '-e', `KEYWARD_HOME=${d.home}`, '-e', `KEYWARD_KEYCHAIN_SERVICE=${d.env.KEYWARD_KEYCHAIN_SERVICE}`, '-e', `HOME=${home}`, '-e', 'NO_COLOR=1'];
    const started = tmux.run('new-session', '-d', '-s', 'watch', '-x', '200', '-y', '50', '-c', project, ...env, `${process.execPath} ${BIN} watch; echo $? > ${rc}; sleep 600`);
    expect(started.status, started.stderr).toBe(0);
    await until('watch to be ready', () => pane().includes('q quits'));
    tmux.run('send-keys', '-t', 'watch', 'm');
    await until('the answer to m', () => pane().includes('Nothing new to migrate yet.'));

    const token = githubToken();
    writeFileSync(join(project, '.env'), `GITHUB_TOKEN=${token}\n`);
    await until('the finding and the offer', () => pane().includes('m: move it into the vault (keyward migrate .env) · q: quit'));
    tmux.run('send-keys', '-t', 'watch', 'm');
    // keyward migrate's wizard takes the terminal: one screen for the key, then the review.
    await until('keyward migrate to show the key', () => pane().includes('→ keyward migrate .env') && pane().includes('key 1 of 1'), 20_000);
    expect(pane()).not.toContain(token);
    // A key written meanwhile is held back while the wizard has the screen.
    writeFileSync(join(project, 'other.env'), `GITHUB_TOKEN=${githubToken()}\n`);
    // eslint-disable-next-line no-restricted-syntax -- a fixed sleep, still to be replaced by a state wait (docs/testing.md#known-debt)
    await new Promise((r) => setTimeout(r, 800));
    expect(pane()).not.toContain('other.env');
    tmux.run('send-keys', '-t', 'watch', 'm');
    await until('the review', () => pane().includes('keyward migrate: review'), 20_000);
    tmux.run('send-keys', '-t', 'watch', 'y');
    await until('keyward migrate to finish', () => pane().includes('keyward migrate finished.'), 20_000);
    expect(pane()).toMatch(/Migration m_\w+: 1 file, 1 vault entry/);
    const rewritten = readFileSync(join(project, '.env'), 'utf8');
    expect(rewritten).not.toContain(token);
    expect(rewritten).toContain('keyward://');
    const entries = JSON.parse((await d.cli(['vault', 'list', '--json'])).stdout).entries;
    expect(entries.map((e: { source: string }) => e.source)).toContainEqual(expect.stringContaining('.env'));
    // Then it is shown; the rewritten file holds a reference, not a key: nothing new there.
    await until('the held finding', () => pane().includes('NEW      github-classic-pat  other.env:1:14'));
    // eslint-disable-next-line no-restricted-syntax -- a fixed sleep, still to be replaced by a state wait (docs/testing.md#known-debt)
    await new Promise((r) => setTimeout(r, 600));
    expect(pane().match(/NEW {6}/g)).toHaveLength(2);
    expect(pane()).not.toContain(token);

    // Keys come back to keyward watch once migrate is done.
    tmux.run('send-keys', '-t', 'watch', 'q');
    await until('watch to exit', () => existsSync(rc) && readFileSync(rc, 'utf8').trim() !== '');
    expect(readFileSync(rc, 'utf8').trim()).toBe('0');
  });
});
