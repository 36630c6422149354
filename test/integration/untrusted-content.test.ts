import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { commitAll, git, initRepo, removeDir, runCli, tempDir, testHome, writeTree } from '../helpers/cli.js';
import { githubToken, randomAlnum } from '../helpers/secrets.js';
import { Image, writeLayout } from '../helpers/oci.js';

/**
 * Content keyward did not write (a cloned repository, files an agent wrote, a pull request's
 * branch) is under an attacker's control here; the user runs ordinary commands. Each test ships
 * the attack the way an attacker would (committed modes and links, a nested .git, a branch named
 * like an option) and checks that it neither runs code, writes files, nor silences the scan.
 * docs/security-model.md ("Untrusted content") points at each of them.
 */

const dirs: string[] = [];
const dir = () => {
  const d = tempDir();
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach(removeDir));

/** `git commit` as a developer runs it, hooks included. */
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

describe('untrusted content: the pre-commit hook', () => {
  it('never runs ./node_modules/.bin/keyward committed by the repository', async () => {
    const repo = initRepo(dir());
    const marker = join(dir(), 'repository-code-ran');
    // Committed with mode 755, as `git clone` checks it out; it would also exit 0 and skip the check.
    writeTree(repo, { 'node_modules/.bin/keyward': `#!/bin/sh\ntouch '${marker}'\nexit 0\n`, 'README.md': 'hi\n' });
    chmodSync(join(repo, 'node_modules/.bin/keyward'), 0o755);
    commitAll(repo, 'init', '2024-01-01T00:00:00Z');
    expect(git(repo, 'ls-files', '-s', 'node_modules/.bin/keyward')).toMatch(/^100755 /);
    expect((await runCli(['hook', 'install'], { cwd: repo })).code).toBe(0);
    writeTree(repo, { 'app.env': `GITHUB_TOKEN=${githubToken()}\n` });
    git(repo, 'add', 'app.env');
    const blocked = commit(repo, 'leak');
    expect(existsSync(marker)).toBe(false);
    expect(blocked.status).not.toBe(0);
    expect(blocked.stderr).toContain('github-classic-pat');
  });

  it('reads .keyward.yaml from the index: an untracked config written into the work tree does not switch the hook off', async () => {
    const repo = initRepo(dir());
    writeTree(repo, { 'README.md': 'hi\n' });
    commitAll(repo, 'init', '2024-01-01T00:00:00Z');
    expect((await runCli(['hook', 'install'], { cwd: repo })).code).toBe(0);
    writeTree(repo, { '.keyward.yaml': 'disable: [github-classic-pat]\nallowlist:\n  regexes: [".*"]\n', 'app.env': `GITHUB_TOKEN=${githubToken()}\n` });
    git(repo, 'add', 'app.env');
    const blocked = commit(repo, 'leak');
    expect(blocked.status).toBe(1);
    expect(blocked.stderr).toContain('github-classic-pat');
  });

  it('refuses a staged config that disables everything unless --allow-disabled', async () => {
    const repo = initRepo(dir());
    writeTree(repo, { '.keyward.yaml': 'allowlist:\n  regexes: [".*"]\n', 'app.env': `GITHUB_TOKEN=${githubToken()}\n` });
    git(repo, 'add', '-A');
    const refused = await runCli(['scan', '--staged'], { cwd: repo });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('switches the pre-commit check off: allowlist.regexes matches every secret');
    const allowed = await runCli(['scan', '--staged', '--allow-disabled'], { cwd: repo });
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toContain('warning: .keyward.yaml (staged) switches the scan off');
  });
});

describe('untrusted content: git', () => {
  it("never runs a nested repository's (or the scanned repository's) core.fsmonitor during scan .", async () => {
    const repo = initRepo(dir());
    const marker = join(dir(), 'fsmonitor-ran');
    writeTree(repo, { 'README.md': 'hi\n', 'tools/x/README.md': 'tool\n', 'tools/x/app.env': `GITHUB_TOKEN=${githubToken()}\n` });
    commitAll(repo, 'init', '2024-01-01T00:00:00Z');
    // A nested repository as an agent or an extracted archive leaves it: untracked, with its own config.
    rmSync(join(repo, 'tools'), { recursive: true });
    writeTree(repo, { 'tools/x/README.md': 'tool\n', 'tools/x/app.env': `GITHUB_TOKEN=${githubToken()}\n` });
    initRepo(join(repo, 'tools/x'));
    git(join(repo, 'tools/x'), 'add', '-A');
    for (const r of [join(repo, 'tools/x'), repo]) git(r, 'config', 'core.fsmonitor', `touch '${marker}'; false #`);
    const r = await runCli(['scan', '.', '--json'], { cwd: repo });
    expect(existsSync(marker)).toBe(false);
    expect(r.code).toBe(1);
    expect((JSON.parse(r.stdout) as { findings: { file: string }[] }).findings.map((f) => f.file)).toEqual(['tools/x/app.env']);
  });

  it('treats --branch=--output=FILE as a branch name: no file is written, that branch is scanned', async () => {
    const repo = initRepo(dir());
    writeTree(repo, { 'app.env': `GITHUB_TOKEN=${githubToken()}\n` });
    commitAll(repo, 'init', '2024-01-01T00:00:00Z');
    // git accepts such a branch (CI passing a pull request's branch name is exposed to it).
    git(repo, 'update-ref', 'refs/heads/--output=stolen.patch', 'HEAD');
    const r = await runCli(['scan', '--history', '--branch=--output=stolen.patch', '--json'], { cwd: repo });
    expect(existsSync(join(repo, 'stolen.patch'))).toBe(false);
    expect(r.code).toBe(1);
    expect((JSON.parse(r.stdout) as { findings: unknown[] }).findings).toHaveLength(1);
    // A value that is no revision at all is refused before git log starts.
    const bad = await runCli(['scan', '--history', '--since=--output=other.patch'], { cwd: repo });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--since --output=other.patch: no such revision');
    expect(existsSync(join(repo, 'other.patch'))).toBe(false);
  });
});

describe('untrusted content: regular expressions from .keyward.yaml', () => {
  it('runs custom rule patterns and allowlist regexes in linear time: a catastrophic pattern cannot hang the scan', async () => {
    const repo = initRepo(dir());
    writeTree(repo, {
      '.keyward.yaml': `rules:
  - id: acme-token
    description: Acme token
    keywords: [acme_]
    pattern: 'acme_(?<secret>([a-z0-9]+)+;)'
allowlist:
  regexes: ['^([a-z0-9]+[a-z0-9]+)+#$']
`,
      // Exponential for a backtracking engine: 2^60 ways to split the run before the failing '!'.
      'src/a.txt': `acme_${randomAlnum(60).toLowerCase()}!\n`.repeat(50),
      'src/b.txt': `acme_${randomAlnum(40).toLowerCase()};\n`,
    });
    const started = Date.now();
    const r = await runCli(['scan', '.', '--json'], { cwd: repo, timeout: 30_000 });
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(r.code).toBe(1);
    expect((JSON.parse(r.stdout) as { findings: { file: string }[] }).findings.map((f) => f.file)).toEqual(['src/b.txt']);
  });

  it('refuses patterns the linear-time engine cannot run (lookaround, backreferences) with the line', async () => {
    const repo = initRepo(dir());
    writeTree(repo, { '.keyward.yaml': "rules:\n  - id: acme\n    description: x\n    keywords: [acme]\n    pattern: '(a)\\1(?=b)'\n" });
    const r = await runCli(['scan', '.'], { cwd: repo });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\.keyward\.yaml:5:\d+ rules\.0\.pattern: is not a valid regular expression for keyward's linear-time engine/);
  });
});

describe('untrusted content: files the repository names', () => {
  it('does not follow a .keyward.yaml linked to /dev/zero, nor block on a FIFO', async () => {
    const repo = initRepo(dir());
    writeTree(repo, { 'README.md': 'hi\n' });
    symlinkSync('/dev/zero', join(repo, '.keyward.yaml'));
    const zero = await runCli(['scan', '.'], { cwd: repo, timeout: 20_000 });
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain('is a symbolic link');
    rmSync(join(repo, '.keyward.yaml'));
    expect(spawnSync('mkfifo', [join(repo, '.keyward.yaml')]).status).toBe(0);
    const fifo = await runCli(['scan', '.'], { cwd: repo, timeout: 20_000 });
    expect(fifo.code).toBe(2);
    expect(fifo.stderr).toContain('is not a regular file');
    rmSync(join(repo, '.keyward.yaml'));
    expect(spawnSync('mkfifo', [join(repo, 'baseline.json')]).status).toBe(0);
    const baseline = await runCli(['scan', 'README.md', '--baseline', 'baseline.json'], { cwd: repo, timeout: 20_000 });
    expect(baseline.code).toBe(2);
    expect(baseline.stderr).toContain('cannot read baseline');
  });

  it('refuses an oversized .keyward.yaml', async () => {
    const repo = initRepo(dir());
    writeTree(repo, { '.keyward.yaml': `# ${'x'.repeat(2 * 1024 * 1024)}\n` });
    const r = await runCli(['scan', '.'], { cwd: repo });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('is larger than 1048576 bytes');
  });

  it('never reads through a committed directory replaced by a symbolic link to one outside the repository', async () => {
    const repo = initRepo(dir());
    const outside = dir();
    writeTree(outside, { 'app.env': `GITHUB_TOKEN=${githubToken()}\n` });
    writeTree(repo, { 'conf/app.env': 'PORT=8080\n' });
    commitAll(repo, 'init', '2024-01-01T00:00:00Z');
    rmSync(join(repo, 'conf'), { recursive: true });
    symlinkSync(outside, join(repo, 'conf'));
    const r = await runCli(['scan', '.', '--json'], { cwd: repo });
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { findings: unknown[] }).findings).toEqual([]);
  });
});

describe('untrusted content: suppression is visible', () => {
  it('says what the config suppressed, and warns when it switches everything off', async () => {
    const repo = initRepo(dir());
    writeTree(repo, { '.keyward.yaml': 'allowlist:\n  paths: ["**"]\n', 'app.env': `GITHUB_TOKEN=${githubToken()}\n`, 'b.env': `X=${githubToken()}\n` });
    const r = await runCli(['scan', '.'], { cwd: repo });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('config .keyward.yaml: 1 path glob allowlisted (2 files not read)');
    expect(r.stdout).toContain('warning: .keyward.yaml switches the scan off (allowlist.paths matches every path (**))');
    writeFileSync(join(repo, '.keyward.yaml'), 'disable: [github-classic-pat]\n');
    const some = await runCli(['scan', '.', '--json'], { cwd: repo });
    expect((JSON.parse(some.stdout) as { scan: { config: unknown } }).scan.config).toMatchObject({ file: '.keyward.yaml', disabled: 1 });
  });

  it("scan home never applies the current repository's config to the user's home", async () => {
    const repo = initRepo(dir());
    const home = dir();
    writeTree(repo, { '.keyward.yaml': 'allowlist:\n  paths: ["**"]\n  regexes: [".*"]\n' });
    const token = githubToken();
    writeTree(home, { '.git-credentials': `https://user:${token}@github.com\n` });
    const r = await runCli(['scan', 'home', '--home', home, '--json'], { cwd: repo });
    expect(r.code).toBe(1);
    expect((JSON.parse(r.stdout) as { findings: { file: string }[] }).findings.map((f) => f.file)).toContain('~/.git-credentials');
  });
});

describe('untrusted content: suppression applies only where the config belongs', () => {
  it("scan image run inside a repository never applies that repository's config to the image", async () => {
    const repo = initRepo(dir());
    const token = githubToken();
    writeTree(repo, { '.keyward.yaml': 'disable: [github-classic-pat]\nallowlist:\n  paths: ["**"]\n  regexes: [".*"]\n' });
    writeLayout(join(repo, 'layout'), 'v1', Image.empty().add({ 'app/.env': `GITHUB_TOKEN=${token}\n` }, 'COPY . /app'));
    const r = await runCli(['scan', 'image', 'layout:v1', '--json'], { cwd: repo });
    expect(r.code, r.stderr).toBe(1);
    const report = JSON.parse(r.stdout) as { findings: { file: string; ruleId: string }[]; scan: { config?: unknown } };
    expect(report.findings.map((f) => [f.file, f.ruleId])).toContainEqual(['app/.env', 'github-classic-pat']);
    expect(report.scan.config).toBeUndefined();
    // A config named on the command line still applies, and says so.
    const explicit = await runCli(['scan', 'image', 'layout:v1', '--config', '.keyward.yaml'], { cwd: repo });
    expect(explicit.code, explicit.stderr).toBe(0);
    expect(explicit.stdout).toContain('config .keyward.yaml: 1 rule disabled, 1 path glob allowlisted');
  });

  it('applies allowlist.paths to --staged and --history as to the tree, and counts what it left out', async () => {
    const repo = initRepo(dir());
    const skipped = githubToken();
    const kept = githubToken();
    writeTree(repo, { '.keyward.yaml': 'allowlist:\n  paths: ["fixtures/**"]\n', 'fixtures/a.env': `GITHUB_TOKEN=${skipped}\n`, 'app.env': `GITHUB_TOKEN=${kept}\n` });
    git(repo, 'add', '-A');
    const staged = await runCli(['scan', '--staged', '--json', '--show-secrets'], { cwd: repo });
    expect(staged.code, staged.stderr).toBe(1);
    const report = (out: string) => JSON.parse(out) as { findings: { file: string; secret: string }[]; scan: { config: { allowlistPaths: number; pathsSkipped: number } } };
    expect(report(staged.stdout).findings.map((f) => [f.file, f.secret])).toEqual([['app.env', kept]]);
    expect(report(staged.stdout).scan.config).toMatchObject({ allowlistPaths: 1, pathsSkipped: 1 });
    const stagedText = await runCli(['scan', '--staged'], { cwd: repo });
    expect(stagedText.stdout).toContain('config .keyward.yaml (staged): 1 path glob allowlisted (1 file not read)');

    commitAll(repo, 'one', '2024-01-01T00:00:00Z');
    writeFileSync(join(repo, 'fixtures/b.env'), `TOKEN=${githubToken()}\n`);
    commitAll(repo, 'two', '2024-01-02T00:00:00Z');
    const history = await runCli(['scan', '--history', '--json', '--show-secrets'], { cwd: repo });
    expect(history.code, history.stderr).toBe(1);
    expect(report(history.stdout).findings.map((f) => [f.file, f.secret])).toEqual([['app.env', kept]]);
    expect(report(history.stdout).scan.config).toMatchObject({ allowlistPaths: 1, pathsSkipped: 2 });
    const historyText = await runCli(['scan', '--history'], { cwd: repo });
    expect(historyText.stdout).toContain('config .keyward.yaml: 1 path glob allowlisted (2 file changes not read)');
  });
});

describe('untrusted content: terminal escapes', () => {
  it('escapes control characters from file names, rule descriptions and commit authors in the text report', async () => {
    const repo = initRepo(dir());
    const evil = 'evil\u001b]0;pwned\u0007\u001b[2J.env';
    writeTree(repo, {
      [evil]: `GITHUB_TOKEN=${githubToken()}\nacme_${randomAlnum(32).toLowerCase().replace(/[0-9]/g, 'q')}\n`,
      '.keyward.yaml': `rules:\n  - id: acme\n    description: "Acme \\e[31mred\\e[0m"\n    keywords: [acme_]\n    pattern: 'acme_(?<secret>[a-z]{32})'\n`,
    });
    const r = await runCli(['scan', '.'], { cwd: repo });
    expect(r.code).toBe(1);
    expect(r.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
    expect(r.stdout).toContain('evil\\e]0;pwned\\x07\\e[2J.env');
    expect(r.stdout).toContain('Acme \\e[31mred\\e[0m');
    mkdirSync(join(repo, 'h'));
    writeTree(repo, { 'h/k.env': `K=${githubToken()}\n` });
    git(repo, 'add', '-A');
    spawnSync('git', ['commit', '-q', '-m', 'x'], {
      cwd: repo,
      env: {
        ...process.env,
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_AUTHOR_NAME: 'Eve\u001b[1A\u001b[2K',
        GIT_AUTHOR_EMAIL: 'e@x',
        GIT_COMMITTER_NAME: 'E',
        GIT_COMMITTER_EMAIL: 'e@x',
      },
    });
    const history = await runCli(['scan', '--history'], { cwd: repo });
    expect(history.code).toBe(1);
    expect(history.stdout).not.toMatch(/\u001b/);
    expect(history.stdout).toContain('by Eve\\e[1A\\e[2K <e@x>');
    expect(readFileSync(join(repo, '.keyward.yaml'), 'utf8')).toContain('Acme');
  });
});
