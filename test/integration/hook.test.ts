import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { git, initRepo, removeDir, runCli, tempDir, testHome, writeTree } from '../helpers/cli.js';
import { githubToken } from '../helpers/secrets.js';

/** `git commit` exactly as a developer runs it, hooks included. */
function commit(repo: string, message: string) {
  return spawnSync('git', ['commit', '-q', '-m', message], {
    cwd: repo,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_AUTHOR_NAME: 'A',
      GIT_AUTHOR_EMAIL: 'a@x',
      GIT_COMMITTER_NAME: 'A',
      GIT_COMMITTER_EMAIL: 'a@x',
      KEYWARD_HOME: testHome(),
      NO_COLOR: '1',
    },
  });
}

describe('keyward hook install', () => {
  it('installs a pre-commit hook that blocks a commit adding a secret and lets a clean one through', async () => {
    const repo = initRepo(tempDir());
    const r = await runCli(['hook', 'install'], { cwd: repo });
    expect(r.code).toBe(0);
    const hook = join(repo, '.git/hooks/pre-commit');
    expect(statSync(hook).mode & 0o111).not.toBe(0);
    writeTree(repo, { 'clean.txt': 'hello\n' });
    git(repo, 'add', '-A');
    expect(commit(repo, 'clean').status).toBe(0);
    writeTree(repo, { 'app.env': `GITHUB_TOKEN=${githubToken()}\n` });
    git(repo, 'add', '-A');
    const blocked = commit(repo, 'leak');
    expect(blocked.status).not.toBe(0);
    // git sends a hook's output to stderr.
    expect(blocked.stderr).toContain('github-classic-pat');
    expect(blocked.stdout + blocked.stderr).not.toMatch(/ghp_[A-Za-z0-9]{36}/);
    expect(git(repo, 'log', '--oneline').trim().split('\n')).toHaveLength(1);
    // Idempotent.
    const again = await runCli(['hook', 'install'], { cwd: repo });
    expect(again.stdout).toContain('Updated');
    removeDir(repo);
  });

  it('chains a foreign hook instead of overwriting it, and puts it back on uninstall', async () => {
    const repo = initRepo(tempDir());
    const hook = join(repo, '.git/hooks/pre-commit');
    const original = '#!/bin/sh\necho "lint ran" > lint.marker\n';
    writeFileSync(hook, original, { mode: 0o755 });
    const r = await runCli(['hook', 'install'], { cwd: repo });
    expect(r.stdout).toContain('still runs first');
    writeTree(repo, { 'a.txt': 'x\n' });
    git(repo, 'add', 'a.txt');
    expect(commit(repo, 'one').status).toBe(0);
    expect(existsSync(join(repo, 'lint.marker'))).toBe(true);
    const off = await runCli(['hook', 'uninstall'], { cwd: repo });
    expect(off.code).toBe(0);
    expect(readFileSync(hook, 'utf8')).toBe(original);
    removeDir(repo);
  });

  it('refuses a hook it cannot chain unless forced, and keeps a backup when forced', async () => {
    const repo = initRepo(tempDir());
    const hook = join(repo, '.git/hooks/pre-commit');
    writeFileSync(join(repo, 'managed-hook'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    symlinkSync(join(repo, 'managed-hook'), hook);
    const refused = await runCli(['hook', 'install'], { cwd: repo });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('not a regular file');
    const forced = await runCli(['hook', 'install', '--force'], { cwd: repo });
    expect(forced.code).toBe(0);
    expect(existsSync(hook + '.keyward-backup')).toBe(true);
    removeDir(repo);
  });

  it('honours core.hooksPath and will not uninstall a hook that is not its own', async () => {
    const repo = initRepo(tempDir());
    mkdirSync(join(repo, '.githooks'));
    git(repo, 'config', 'core.hooksPath', '.githooks');
    await runCli(['hook', 'install'], { cwd: repo });
    expect(readFileSync(join(repo, '.githooks/pre-commit'), 'utf8')).toContain('keyward-managed-hook');
    writeFileSync(join(repo, '.githooks/pre-commit'), '#!/bin/sh\n');
    const r = await runCli(['hook', 'uninstall'], { cwd: repo });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("not keyward's hook");
    removeDir(repo);
  });

  it('ships a .pre-commit-hooks.yaml for the pre-commit framework', () => {
    const text = readFileSync(join(__dirname, '../../.pre-commit-hooks.yaml'), 'utf8');
    expect(text).toMatch(/- id: keyward[\s\S]*entry: keyward scan --staged[\s\S]*pass_filenames: false/);
  });
});
