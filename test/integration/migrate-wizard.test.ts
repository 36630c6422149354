import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, removeDir, tempDir, writeTree } from '../helpers/cli.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { anthropicKey, githubToken, randomAlnum } from '../helpers/secrets.js';
import { HAS_TMUX, tmuxServer } from '../helpers/tmux.js';
import { waitFor as waitForState } from '../helpers/wait.js';

describe.skipIf(!HAS_TMUX)('keyward migrate, the wizard driven like a person in tmux', () => {
  let d: TestDaemon;
  let work: string;
  const tmux = tmuxServer(`kw-migrate-${process.pid}`);
  const waitFor = (text: string | RegExp, timeoutMs?: number) => tmux.waitFor('wizard', text, timeoutMs);
  /** One key at a time, as a person types. */
  async function type(...keys: string[]) {
    for (const k of keys) {
      tmux.run('send-keys', '-t', 'wizard', k);
      // eslint-disable-next-line no-restricted-syntax -- a fixed sleep, still to be replaced by a state wait (docs/testing.md#known-debt)
      await new Promise((r) => setTimeout(r, 40));
    }
  }

  beforeAll(async () => {
    d = await startDaemon();
    work = tempDir('keyward-wizard-');
  });
  afterAll(async () => {
    tmux.kill();
    await d?.stop();
    removeDir(work);
  });

  it('one screen per key: rename one, skip one, accept one; review; apply', async () => {
    const home = join(work, 'home');
    const project = join(home, 'app');
    const anthropic = anthropicKey();
    const github = githubToken();
    const netrc = randomAlnum(32);
    writeTree(home, {
      '.netrc': `machine git.example.test\n  login ada\n  password ${netrc}\n`,
      'app/.env': `ANTHROPIC_API_KEY=${anthropic}\nGITHUB_TOKEN=${github}\n`,
    });
    const rc = join(work, 'rc');
    const command = `cd ${project} && ${process.execPath} ${BIN} migrate --home ${home}; echo $? > ${rc}; sleep 600`;
    const started = tmux.run(
      'new-session',
      '-d',
      '-s',
      'wizard',
      '-x',
      '160',
      '-y',
      '50',
      '-e',
      'CI=false',
      '-e',
      `KEYWARD_HOME=${d.home}`,
      '-e',
      'NO_COLOR=1',
      '-e',
      `HOME=${home}`,
      command,
    );
    expect(started.status, started.stderr).toBe(0);

    // The .netrc password: named for git's lookup. Skip it.
    // The first screen comes after a home scan and the daemon's answer: slow on a loaded machine.
    let screen = await waitFor('key 1 of 3', 90_000);
    expect(screen).toContain(`File      ${join(home, '.netrc')}:3`);
    expect(screen).toContain('Vault entry       git-git.example.test');
    expect(screen).not.toContain(netrc);
    await type('s');

    // The Anthropic key: a name of our own.
    screen = await waitFor('key 2 of 3');
    expect(screen).toContain('Key path  ANTHROPIC_API_KEY');
    expect(screen).toContain('Provider profile  anthropic');
    expect(screen).not.toContain(anthropic);
    await type('e', ...Array(12).fill('BSpace'), ...'claude-key', 'Enter');
    await waitFor('Vault entry       claude-key');
    await type('m');

    // The GitHub token: accepted into the baseline.
    screen = await waitFor('key 3 of 3');
    expect(screen).toContain('Key path  GITHUB_TOKEN');
    await type('a');

    screen = await waitFor('keyward migrate: review');
    expect(screen).toContain('+ANTHROPIC_API_KEY=keyward://claude-key');
    expect(screen).toContain('1 finding accepted: added to .keyward-baseline.json');
    expect(screen).not.toContain('.netrc (netrc)');
    for (const secret of [anthropic, github, netrc]) expect(screen).not.toContain(secret);
    await type('y');

    await waitFor(/Migration m_\w+: 1 file, 1 vault entry/);
    await waitForState('the wizard to exit', () => existsSync(rc));
    expect(readFileSync(rc, 'utf8').trim()).toBe('0');
    expect(readFileSync(join(project, '.env'), 'utf8')).toBe(`ANTHROPIC_API_KEY=keyward://claude-key\nGITHUB_TOKEN=${github}\n`);
    expect(readFileSync(join(home, '.netrc'), 'utf8')).toContain(netrc);
    const vault = JSON.parse((await d.cli(['vault', 'list', '--json'])).stdout).entries;
    expect(vault.find((e: { name: string }) => e.name === 'claude-key')).toMatchObject({ provider: 'anthropic' });
    const baseline = JSON.parse(readFileSync(join(project, '.keyward-baseline.json'), 'utf8'));
    expect(baseline.findings).toHaveLength(1);
    expect(JSON.stringify(baseline)).not.toContain(github);

    // What was accepted is not offered again; what was skipped is.
    const again = spawnSync(process.execPath, [BIN, 'migrate', '--home', home, '--dry-run', '--json'], {
      cwd: project,
      env: { ...d.env, HOME: home },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).files.map((f: { path: string }) => f.path)).toEqual([join(home, '.netrc')]);
  }, 180_000);
});
