import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, tempDir, writeTree } from '../helpers/cli.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { githubToken } from '../helpers/secrets.js';

/**
 * After `keyward migrate` of a `.git-credentials`, git's own `credential.helper = store` must
 * neither answer for the host nor be told to store the key again when git approves it (as git
 * does after every successful fetch): migrate puts an empty helper first for the host.
 */
describe('git credential store after migrate', () => {
  let d: TestDaemon;
  let home: string;
  beforeAll(async () => {
    d = await startDaemon();
    home = tempDir('keyward-git-store-');
  });
  afterAll(async () => {
    await d?.stop();
    removeDir(home);
  });

  it('resets the helper list for the host: git approve no longer writes the key back to disk', async () => {
    const token = githubToken();
    writeTree(home, {
      '.git-credentials': `https://ada:${token}@git.example.test\n`,
      '.gitconfig': '[credential]\n\thelper = store\n',
    });
    const env = { ...d.env, HOME: home, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' };
    const migrate = await d.cli(['migrate', '--home', home, '--yes', '--json'], { env: { HOME: home }, timeout: 60_000 });
    expect(migrate.code, migrate.stderr).toBe(0);
    expect(readFileSync(join(home, '.git-credentials'), 'utf8')).toBe('');

    const helpers = spawnSync('git', ['config', '--global', '--get-all', 'credential.https://git.example.test.helper'], { env, encoding: 'utf8' }).stdout.split('\n');
    expect(helpers[0]).toBe('');
    expect(helpers[1]).toMatch(/ git-credential --entry /);

    const credential = (action: string, input: string) => spawnSync('git', ['credential', action], { env, input, encoding: 'utf8', timeout: 20_000 });
    const fill = credential('fill', 'protocol=https\nhost=git.example.test\n\n');
    expect(fill.status, fill.stderr).toBe(0);
    expect(fill.stdout).toContain(`password=${token}`);
    // What git does after a fetch that the server accepted.
    const approve = credential('approve', fill.stdout + '\n');
    expect(approve.status, approve.stderr).toBe(0);
    expect(readFileSync(join(home, '.git-credentials'), 'utf8')).not.toContain(token);
  });
});
