import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, initRepo, removeDir, tempDir, writeTree } from '../helpers/cli.js';
import { HAS_KEYRING, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { awsKeyId, githubToken, randomAlnum } from '../helpers/secrets.js';

/**
 * `keyward migrate . --yes` in a repository the user did not write: its credential files must not
 * replace the user's own credentials in the vault, nor stack git helpers; an MCP server named `*`
 * must not become a policy glob. docs/security-model.md ("Untrusted content") points here.
 */
const mkdirp = (dir: string) => {
  mkdirSync(dir, { recursive: true });
  return dir;
};

describe.skipIf(!HAS_KEYRING)('untrusted content: migrate', () => {
  let d: TestDaemon;
  let work: string;
  let home: string;
  let gitconfig: string;
  const user = { aws: awsKeyId(), awsSecret: randomAlnum(40), git: githubToken() };
  const attacker = { aws: awsKeyId(), awsSecret: randomAlnum(40), git: githubToken() };

  beforeAll(async () => {
    d = await startDaemon();
    work = tempDir();
    home = join(work, 'home');
    gitconfig = join(work, 'gitconfig');
    writeFileSync(gitconfig, '');
    d.env.GIT_CONFIG_GLOBAL = gitconfig;
    d.env.GIT_CONFIG_NOSYSTEM = '1';
    writeTree(home, {
      '.aws/credentials': `[default]\naws_access_key_id = ${user.aws}\naws_secret_access_key = ${user.awsSecret}\n`,
      '.netrc': `machine github.com\n  login ada\n  password ${user.git}\n`,
    });
    chmodSync(join(home, '.aws/credentials'), 0o600);
  }, 60_000);
  afterAll(async () => {
    await d?.stop();
    removeDir(work);
  });

  const inDir = (cwd: string, args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd, env: { ...d.env, HOME: home }, encoding: 'utf8', timeout: 60_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const helpers = () =>
    spawnSync('git', ['config', '--global', '--get-all', 'credential.https://github.com.helper'], { env: d.env, encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  const awsKey = () => {
    const line = /credential_process = (.+)$/m.exec(readFileSync(join(home, '.aws/credentials'), 'utf8'))![1];
    return JSON.parse(spawnSync('sh', ['-c', line], { env: d.env, encoding: 'utf8', timeout: 30_000 }).stdout) as { AccessKeyId: string };
  };

  it("a cloned repository's .aws/credentials and .netrc never replace the user's migrated credentials", async () => {
    const empty = join(work, 'empty');
    writeTree(empty, { 'README.md': 'x\n' });
    const mine = inDir(empty, ['migrate', '--home', home, '--yes', '--json']);
    expect(mine.code, mine.stderr).toBe(0);
    expect(JSON.parse(mine.stdout).entries.sort()).toEqual(['aws-default', 'git-github.com']);
    expect(helpers()).toHaveLength(1);
    expect(awsKey().AccessKeyId).toBe(user.aws);

    const repo = initRepo(mkdirp(join(work, 'repo')));
    writeTree(repo, {
      '.aws/credentials': `[default]\naws_access_key_id = ${attacker.aws}\naws_secret_access_key = ${attacker.awsSecret}\n`,
      '.netrc': `machine github.com\n  login mallory\n  password ${attacker.git}\n`,
    });
    const r = inDir(repo, ['migrate', '.', '--yes', '--json']);
    const out = JSON.parse(r.stdout) as { applied: boolean; skipped: { file: string; reason: string }[] };
    expect(out.applied).toBe(false);
    expect(out.skipped.map((s) => s.reason).join('\n')).toMatch(
      /aws-default already holds a credential your tools use; .*\.aws\/credentials is not one of your own credential files/,
    );
    expect(out.skipped.map((s) => s.reason).join('\n')).toMatch(/git-github\.com already holds a credential/);
    // The repository's files are untouched; the user's key and git login are what the tools get.
    expect(readFileSync(join(repo, '.netrc'), 'utf8')).toContain(attacker.git);
    expect(awsKey().AccessKeyId).toBe(user.aws);
    expect(helpers()).toHaveLength(1);

    // Migrating the user's own file again does not stack a second helper line.
    const again = inDir(empty, ['migrate', '--home', home, '--yes', '--json']);
    expect(again.code === 0 || /nothing/i.test(again.stdout + again.stderr), again.stderr).toBe(true);
    expect(helpers()).toHaveLength(1);
  }, 180_000);

  it('undo removes the helper even when its line is there twice, and says so when it cannot', async () => {
    const journal = JSON.parse(inDir(work, ['migrate', 'list', '--json']).stdout) as { id: string; status: string }[] | { migrations: { id: string; status: string }[] };
    const list = Array.isArray(journal) ? journal : journal.migrations;
    const id = list.find((m) => m.status === 'applied')!.id;
    const line = helpers()[0];
    spawnSync('git', ['config', '--global', '--add', 'credential.https://github.com.helper', line], { env: d.env });
    expect(helpers()).toHaveLength(2);
    // Another git holds the config's lock: git config --unset-all fails, and undo says so.
    writeFileSync(`${gitconfig}.lock`, '');
    const blocked = inDir(work, ['migrate', 'undo', id]);
    rmSync(`${gitconfig}.lock`);
    expect(blocked.code).toBe(1);
    expect(blocked.stdout).toContain('NOT removed the git credential helper for https://github.com: git config --unset-all failed');
    expect(blocked.stdout).not.toMatch(/^removed the git credential helper/m);
    expect(blocked.stdout).toContain('is partly undone');
    expect(helpers()).toHaveLength(2);
    const undo = inDir(work, ['migrate', 'undo', id]);
    expect(undo.code, undo.stderr).toBe(0);
    expect(undo.stdout).toContain('removed the git credential helper for https://github.com');
    expect(helpers()).toHaveLength(0);
  }, 120_000);

  it('an MCP server named * does not become a policy glob', async () => {
    const repo = initRepo(mkdirp(join(work, 'mcp')));
    writeTree(repo, { '.mcp.json': JSON.stringify({ mcpServers: { '*': { command: 'node', args: ['x.js'], env: { GITHUB_TOKEN: githubToken() } } } }, null, 2) + '\n' });
    const r = inDir(repo, ['migrate', '.mcp.json', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { rules: string[]; notes: string[] };
    expect(out.rules.join('\n')).not.toContain('mcp:*');
    expect(out.notes.join('\n')).toContain('no policy rule for mcp:*');
    expect(readFileSync(join(d.home, 'config', 'policy.yaml'), 'utf8')).not.toContain('mcp:*');
  }, 120_000);
});
