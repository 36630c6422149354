import { execFileSync } from 'node:child_process';
import { appendFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAll, git, initRepo, removeDir, runCli, tempDir, writeTree } from '../helpers/cli.js';
import { anthropicKey, awsKeyId, githubToken } from '../helpers/secrets.js';

interface Finding {
  ruleId: string;
  file: string;
  line: number;
  commit?: string;
  author?: string;
  email?: string;
  date?: string;
  occurrences?: number;
  fingerprint: string;
}
const findings = (stdout: string) => (JSON.parse(stdout) as { findings: Finding[] }).findings;
const stats = (stdout: string) =>
  (JSON.parse(stdout) as { scan: { stats: { commits?: number; skipped: { binary: number } }; issues: { message: string }[]; partial: boolean } }).scan;

describe('keyward scan --staged', () => {
  let repo: string;
  const old = githubToken();
  beforeAll(() => {
    repo = initRepo(tempDir());
    writeTree(repo, { 'config/app.env': `# accepted long ago\nOLD_TOKEN=${old}\n`, 'to-rename.txt': `kept ${githubToken()}\n`, 'gone.txt': `x ${githubToken()}\n` });
    commitAll(repo, 'base', '2024-01-01T00:00:00Z');
  });
  afterAll(() => removeDir(repo));

  it('reports only lines the staged diff adds, with their line numbers in the new file', async () => {
    const fresh = anthropicKey();
    appendFileSync(join(repo, 'config/app.env'), `\nNEW_KEY=${fresh}\n`);
    git(repo, 'add', 'config/app.env');
    const r = await runCli(['scan', '--staged', '--json'], { cwd: repo });
    expect(r.code).toBe(1);
    expect(findings(r.stdout)).toEqual([expect.objectContaining({ ruleId: 'anthropic-api-key', file: 'config/app.env', line: 4 })]);
    git(repo, 'reset', '-q');
    git(repo, 'checkout', '-q', '--', 'config/app.env');
  });

  it('ignores renames and deletions, which add no secret', async () => {
    git(repo, 'mv', 'to-rename.txt', 'renamed.txt');
    git(repo, 'rm', '-q', 'gone.txt');
    const r = await runCli(['scan', '--staged', '--json'], { cwd: repo });
    expect(r.code).toBe(0);
    expect(findings(r.stdout)).toEqual([]);
    git(repo, 'reset', '-q', '--hard');
  });

  it('counts staged binary files as skipped', async () => {
    writeFileSync(join(repo, 'logo.bin'), Buffer.from([0, 1, 2, 3, 0, 255, 0]));
    git(repo, 'add', 'logo.bin');
    const r = await runCli(['scan', '--staged', '--json'], { cwd: repo });
    expect(r.code).toBe(0);
    expect(stats(r.stdout).stats.skipped.binary).toBe(1);
    git(repo, 'reset', '-q', '--hard');
  });

  it('reports paths relative to the current directory when run from a subdirectory', async () => {
    writeTree(repo, { 'config/extra.env': `K=${githubToken()}\n` });
    git(repo, 'add', '-A');
    const r = await runCli(['scan', '--staged', '--json'], { cwd: join(repo, 'config') });
    expect(findings(r.stdout).map((f) => f.file)).toEqual(['extra.env']);
    git(repo, 'reset', '-q', '--hard');
    rmSync(join(repo, 'config/extra.env'), { force: true });
  });

  it('works in a repository with no commits yet, and in an empty one', async () => {
    const fresh = initRepo(tempDir());
    const empty = await runCli(['scan', '--staged'], { cwd: fresh });
    expect(empty.code).toBe(0);
    writeTree(fresh, { 'a b/quoted "name".env': `K=${githubToken()}\n` });
    git(fresh, 'add', '-A');
    const r = await runCli(['scan', '--staged', '--json'], { cwd: fresh });
    expect(r.code).toBe(1);
    expect(findings(r.stdout).map((f) => f.file)).toEqual(['a b/quoted "name".env']);
    removeDir(fresh);
  });
});

describe('keyward scan --history', () => {
  let repo: string;
  const early = githubToken();
  const onBranch = anthropicKey();
  const recent = awsKeyId();
  let first: string;
  let tag: string;

  beforeAll(() => {
    repo = initRepo(tempDir());
    writeTree(repo, { 'README.md': 'hello\n' });
    commitAll(repo, 'init', '2024-01-01T10:00:00Z');
    writeTree(repo, { 'app/settings.py': `import os\nGITHUB = "${early}"\n` });
    first = commitAll(repo, 'add settings', '2024-01-02T10:00:00Z');
    // The same secret copied elsewhere later, then removed: still one finding, at the first commit.
    writeTree(repo, { 'copy/settings.py': `GITHUB = "${early}"\n` });
    commitAll(repo, 'copy', '2024-01-03T10:00:00Z');
    rmSync(join(repo, 'app/settings.py'));
    rmSync(join(repo, 'copy/settings.py'));
    commitAll(repo, 'remove secrets', '2024-01-04T10:00:00Z');
    git(repo, 'tag', 'v1.0.0');
    tag = 'v1.0.0';
    git(repo, 'checkout', '-q', '-b', 'feature');
    writeTree(repo, { 'feature.env': `ANTHROPIC_API_KEY=${onBranch}\n` });
    commitAll(repo, 'feature key', '2024-01-05T10:00:00Z');
    git(repo, 'checkout', '-q', 'main');
    writeTree(repo, { 'deploy/aws.txt': `key id ${recent}\n` });
    commitAll(repo, 'aws', '2024-01-06T10:00:00Z');
  });
  afterAll(() => removeDir(repo));

  it('finds secrets on every ref, once each, attributed to the commit that introduced them', async () => {
    const r = await runCli(['scan', '--history', '--json'], { cwd: repo });
    expect(r.code).toBe(1);
    const all = findings(r.stdout);
    expect(all).toHaveLength(3);
    const github = all.find((f) => f.ruleId === 'github-classic-pat')!;
    expect(github).toMatchObject({ file: 'app/settings.py', line: 2, commit: first, author: 'Ada Lovelace', email: 'ada@example.org', occurrences: 2 });
    expect(github.date).toMatch(/^2024-01-02T10:00:00/);
    expect(all.find((f) => f.ruleId === 'anthropic-api-key')).toMatchObject({ file: 'feature.env', line: 1 });
    expect(stats(r.stdout).stats.commits).toBe(7 - 1); // six commits across both branches
  });

  it('limits to a range with --since and to one ref with --branch', async () => {
    const since = await runCli(['scan', '--history', '--since', tag, '--json'], { cwd: repo });
    expect(
      findings(since.stdout)
        .map((f) => f.ruleId)
        .sort(),
    ).toEqual(['anthropic-api-key', 'aws-access-key-id']);
    const branch = await runCli(['scan', '--history', '--branch', 'main', '--since', tag, '--json'], { cwd: repo });
    expect(findings(branch.stdout).map((f) => f.ruleId)).toEqual(['aws-access-key-id']);
  });

  it('gives the same answer on one thread as on several', async () => {
    const one = findings((await runCli(['scan', '--history', '--json', '--threads', '1'], { cwd: repo })).stdout);
    const four = findings((await runCli(['scan', '--history', '--json', '--threads', '4'], { cwd: repo })).stdout);
    expect(four).toEqual(one);
  });

  it('explains a bad revision', async () => {
    const r = await runCli(['scan', '--history', '--since', 'no-such-tag'], { cwd: repo });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--since no-such-tag: no such revision');
  });

  it('says a shallow clone was scanned only in part', async () => {
    const clone = tempDir();
    execFileSync('git', ['clone', '-q', '--depth', '1', `file://${repo}`, clone]);
    const r = await runCli(['scan', '--history', '--json'], { cwd: clone });
    const scan = stats(r.stdout);
    expect(scan.partial).toBe(true);
    expect(scan.issues[0].message).toContain('shallow clone');
    expect(r.code).toBe(1); // the AWS key in the one commit present
    removeDir(clone);
  });

  it('reports a corrupt repository clearly', async () => {
    const broken = tempDir();
    execFileSync('git', ['clone', '-q', `file://${repo}`, broken]);
    const objects = execFileSync('find', [join(broken, '.git/objects'), '-type', 'f', '-path', '*/objects/??/*'], { encoding: 'utf8' })
      .trim()
      .split('\n');
    const packs = execFileSync('find', [join(broken, '.git/objects/pack'), '-type', 'f'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean);
    for (const f of [...objects, ...packs].filter(Boolean)) writeFileSync(f, 'corrupt');
    const r = await runCli(['scan', '--history'], { cwd: broken });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/keyward: git could not read the history|git cannot read the repository/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    removeDir(broken);
  });
});

describe('history attribution edge cases', () => {
  it('compares commit dates as instants, not strings, across time zones', async () => {
    const repo = initRepo(tempDir());
    const secret = githubToken();
    writeTree(repo, { 'a.env': `T=${secret}\n` });
    const a = commitAll(repo, 'A in Tokyo', '2024-03-01T10:00:00+09:00'); // 01:00 UTC
    writeTree(repo, { 'b.env': `T=${secret}\n` });
    commitAll(repo, 'B in London', '2024-03-01T05:00:00+00:00'); // later, but a smaller string
    const r = await runCli(['scan', '--history', '--json'], { cwd: repo });
    expect(findings(r.stdout)).toEqual([expect.objectContaining({ file: 'a.env', commit: a, occurrences: 2 })]);
    removeDir(repo);
  });

  it('reports the same first commit whatever the thread count, even when dates tie', async () => {
    const repo = initRepo(tempDir());
    const secret = anthropicKey();
    const when = '2024-05-05T12:00:00Z';
    writeTree(repo, { 'first.env': `K=${secret}\n` });
    const first = commitAll(repo, 'first', when);
    writeTree(repo, { 'last.env': `K=${secret}\n` });
    commitAll(repo, 'last', when);
    // A large newest commit, so that the two commits above fall into a later batch than it.
    writeTree(repo, { 'big.txt': 'filler line without secrets\n'.repeat(40_000) });
    commitAll(repo, 'big', when);
    for (const threads of ['1', '4']) {
      const r = await runCli(['scan', '--history', '--json', '--threads', threads], { cwd: repo });
      expect(findings(r.stdout), `threads ${threads}`).toEqual([expect.objectContaining({ file: 'first.env', commit: first })]);
    }
    removeDir(repo);
  });
});

describe('trees inside trees', () => {
  it('scans a directory its repository ignores when it is named explicitly', async () => {
    const repo = initRepo(tempDir());
    writeTree(repo, { '.gitignore': 'vendor/\n', 'vendor/lib/config.env': `T=${githubToken()}\n` });
    commitAll(repo, 'init', '2024-01-01T00:00:00Z');
    expect(findings((await runCli(['scan', '.', '--json'], { cwd: repo })).stdout)).toEqual([]);
    const named = await runCli(['scan', 'vendor', '--json'], { cwd: repo });
    expect(findings(named.stdout).map((f) => f.file)).toEqual(['vendor/lib/config.env']);
    removeDir(repo);
  });

  it('scans an untracked nested repository as its own tree', async () => {
    const repo = initRepo(tempDir());
    writeTree(repo, { 'top.txt': 'x\n' });
    commitAll(repo, 'init', '2024-01-01T00:00:00Z');
    const inner = join(repo, 'tools', 'inner');
    writeTree(inner, { 'a.env': `T=${githubToken()}\n`, '.gitignore': 'ignored.env\n', 'ignored.env': `T=${githubToken()}\n` });
    initRepo(inner);
    const r = await runCli(['scan', '.', '--json'], { cwd: repo });
    expect(findings(r.stdout).map((f) => f.file)).toEqual(['tools/inner/a.env']);
    removeDir(repo);
  });
});
