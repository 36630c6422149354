import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAll, initRepo, removeDir, runCli, tempDir, writeTree } from '../helpers/cli.js';
import { anthropicKey, awsKeyId, githubToken } from '../helpers/secrets.js';

interface JsonReport {
  version: number;
  scan: {
    mode: string;
    partial: boolean;
    stats: { files: number; skipped: Record<string, number>; suppressed: Record<string, number> };
    issues: { path?: string; message: string }[];
  };
  findings: { ruleId: string; file: string; line: number; column: number; secret: string; fingerprint: string; confidence: string; migratable: boolean }[];
}

const json = (stdout: string) => JSON.parse(stdout) as JsonReport;

describe('keyward scan on a working tree', () => {
  let repo: string;
  const tracked = githubToken();
  const untracked = anthropicKey();
  const ignored = githubToken();

  beforeAll(() => {
    repo = initRepo(tempDir());
    writeTree(repo, {
      '.gitignore': 'build/\n*.log\n',
      'src/app.ts': `export const client = new Octokit({ auth: "${tracked}" });\n`,
      'README.md': '# demo\n',
    });
    commitAll(repo, 'initial', '2024-01-01T00:00:00Z');
    writeTree(repo, {
      '.env': `ANTHROPIC_API_KEY=${untracked}\n`,
      'build/out.js': `var t="${ignored}";\n`,
      'debug.log': `token ${ignored}\n`,
    });
  });
  afterAll(() => removeDir(repo));

  it('reports tracked and untracked-not-ignored files, skips ignored ones, exits 1', async () => {
    const r = await runCli(['scan', '.', '--format', 'json'], { cwd: repo });
    expect(r.code).toBe(1);
    const report = json(r.stdout);
    const byFile = Object.fromEntries(report.findings.map((f) => [f.file, f]));
    expect(Object.keys(byFile).sort()).toEqual(['.env', 'src/app.ts']);
    expect(byFile['src/app.ts']).toMatchObject({ ruleId: 'github-classic-pat', line: 1, column: 44, confidence: 'validated', migratable: true });
    expect(byFile['.env']).toMatchObject({ ruleId: 'anthropic-api-key', line: 1, column: 19 });
    expect(report.scan.partial).toBe(false);
  });

  it('never prints a secret unless asked', async () => {
    const text = await runCli(['scan', '.'], { cwd: repo });
    const asJson = await runCli(['scan', '.', '--json'], { cwd: repo });
    const sarif = await runCli(['scan', '.', '--format', 'sarif'], { cwd: repo });
    for (const out of [text, asJson, sarif]) {
      expect(out.stdout + out.stderr).not.toContain(tracked);
      expect(out.stdout + out.stderr).not.toContain(untracked);
    }
    expect(text.stdout).toContain('ghp_********');
    const shown = await runCli(['scan', '.', '--show-secrets', '--json'], { cwd: repo });
    expect(json(shown.stdout).findings.map((f) => f.secret)).toContain(tracked);
  });

  it('groups the text report by file, with a summary and a hint to migrate', async () => {
    const r = await runCli(['scan', '.'], { cwd: repo });
    expect(r.stdout).toMatch(/^\.env\n {2}1:19 +anthropic-api-key/m);
    expect(r.stdout).toMatch(/2 findings in 2 files \(1 validated\) · scanned \d+ files/);
    expect(r.stdout).toContain('Next: run `keyward migrate`');
    expect(r.stdout).not.toContain('\u001b['); // NO_COLOR and piped: plain text
  });

  it('uses the same fingerprint for the same secret wherever it moves', async () => {
    const before = json((await runCli(['scan', 'src/app.ts', '--json'], { cwd: repo })).stdout).findings[0];
    writeFileSync(join(repo, 'moved.ts'), `\n\n  const token = "${tracked}";\n`);
    const after = json((await runCli(['scan', 'moved.ts', '--json'], { cwd: repo })).stdout).findings[0];
    expect(after.line).toBe(3);
    expect(after.fingerprint).toBe(before.fingerprint);
    removeDir(join(repo, 'moved.ts'));
  });

  it('scans one file, and standard input', async () => {
    const file = await runCli(['scan', '.env', '--json'], { cwd: repo });
    expect(json(file.stdout).scan.mode).toBe('file');
    expect(json(file.stdout).findings).toHaveLength(1);
    const stdin = await runCli(['scan', '-', '--json'], { cwd: repo, input: `log line\nAWS_ACCESS_KEY_ID=${awsKeyId()}\n` });
    expect(stdin.code).toBe(1);
    expect(json(stdin.stdout).findings[0]).toMatchObject({ file: '(stdin)', ruleId: 'aws-access-key-id', line: 2 });
  });

  it('exits 0 on a clean tree and 2 on a missing path', async () => {
    const clean = tempDir();
    writeTree(clean, { 'a.txt': 'nothing here\n' });
    const r = await runCli(['scan', clean]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('No secrets found');
    const missing = await runCli(['scan', join(clean, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no such file or directory');
    expect(missing.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
    removeDir(clean);
  });
});

describe('keyward scan outside git', () => {
  let dir: string;
  const secret = githubToken();
  beforeAll(() => {
    dir = tempDir();
    writeTree(dir, {
      '.gitignore': 'ignored/\n',
      'ignored/a.env': `T=${secret}\n`,
      'nested/.gitignore': '*.tmp\n',
      'nested/x.tmp': `T=${secret}\n`,
      'nested/y.env': `T=${secret}\n`,
      '.git-not-really/keep': 'x\n',
    });
  });
  afterAll(() => removeDir(dir));

  it('walks the directory, honouring nested .gitignore files', async () => {
    const r = await runCli(['scan', '.', '--json'], { cwd: dir });
    expect(json(r.stdout).findings.map((f) => f.file)).toEqual(['nested/y.env']);
  });

  it('does not follow symbolic links, so a link loop cannot trap it', async () => {
    mkdirSync(join(dir, 'loop'));
    symlinkSync('..', join(dir, 'loop', 'up'));
    symlinkSync(join(dir, 'loop'), join(dir, 'loop', 'self'));
    const r = await runCli(['scan', '.', '--json'], { cwd: dir, timeout: 20_000 });
    expect(r.code).toBe(1);
    expect(json(r.stdout).findings).toHaveLength(1);
  });
});

describe('bad input', () => {
  let dir: string;
  const secret = githubToken();
  beforeAll(() => {
    dir = tempDir();
    const latin1 = Buffer.concat([Buffer.from('caf\xe9 = 1\n', 'latin1'), Buffer.from(`token = ${secret}\n`)]);
    const withNul = Buffer.concat([Buffer.from('header\0\0\0binary'), Buffer.from(`\n${secret}\n`)]);
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`GITHUB_TOKEN=${secret}\r\n`, 'utf16le')]);
    writeTree(dir, { 'latin1.txt': latin1, 'blob.bin': withNul, 'utf16.txt': utf16, 'ok.txt': 'fine\n' });
  });
  afterAll(() => removeDir(dir));

  it('scans non-UTF-8 text, decodes UTF-16, skips and counts binary files', async () => {
    const r = await runCli(['scan', '.', '--json'], { cwd: dir });
    const report = json(r.stdout);
    expect(report.findings.map((f) => f.file).sort()).toEqual(['latin1.txt', 'utf16.txt']);
    expect(report.findings.find((f) => f.file === 'latin1.txt')).toMatchObject({ line: 2, column: 9 });
    expect(report.scan.stats.skipped.binary).toBe(1);
    const text = await runCli(['scan', '.'], { cwd: dir });
    expect(text.stdout).toContain('skipped: 1 binary');
  });

  it('finds a secret at the end of a 50 MB single-line file, with bounded memory', async () => {
    const big = join(dir, 'big');
    mkdirSync(big);
    const line = Buffer.alloc(50 * 1024 * 1024, 'a;b=c,');
    const file = Buffer.concat([line, Buffer.from(`;x="${secret}"\n`)]);
    writeFileSync(join(big, 'bundle.min.js'), file);
    const r = await runCli(['scan', 'big', '--json'], { cwd: dir, timeout: 120_000 });
    const report = json(r.stdout);
    expect(report.findings).toHaveLength(1);
    expect(report.findings[0]).toMatchObject({ line: 1, column: line.length + 5 });
    const small = await runCli(['scan', 'big', '--json', '--max-file-size', '10MB'], { cwd: dir });
    expect(json(small.stdout).scan.stats.skipped.tooLarge).toBe(1);
    expect(small.code).toBe(0);
    removeDir(big);
  });

  it('reports an unreadable file, keeps scanning, and exits 2 for the partial scan', async () => {
    const locked = tempDir();
    writeTree(locked, { 'secret.env': `T=${secret}\n`, 'other.txt': 'ok\n' });
    chmodSync(join(locked, 'secret.env'), 0o000);
    chmodSync(locked, 0o777);
    // Root reads anything: drop to an unprivileged user where we are root.
    const asNobody = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'] : [];
    const { spawnSync } = await import('node:child_process');
    const { BIN } = await import('../helpers/cli.js');
    const r = spawnSync(asNobody[0] ?? process.execPath, [...asNobody.slice(1), ...(asNobody.length ? [process.execPath] : []), BIN, 'scan', '.', '--json'], {
      cwd: locked,
      encoding: 'utf8',
      env: { ...process.env, KEYWARD_HOME: join(locked, '.kw') },
    });
    expect(r.status).toBe(2);
    const report = json(r.stdout);
    expect(report.scan.partial).toBe(true);
    expect(report.scan.issues).toEqual([{ path: 'secret.env', message: 'cannot read: permission denied' }]);
    expect(report.scan.stats.files).toBeGreaterThanOrEqual(1);
    removeDir(locked);
  });

  it('rejects an unknown flag and a bad format with exit 2 and a hint', async () => {
    const a = await runCli(['scan', '--nope'], { cwd: dir });
    expect(a.code).toBe(2);
    expect(a.stderr).toContain("unknown flag '--nope'");
    const b = await runCli(['scan', '--format', 'xml'], { cwd: dir });
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('text, json, sarif');
  });

  it('explains that --staged and --history need a repository', async () => {
    for (const flag of ['--staged', '--history']) {
      const r = await runCli(['scan', flag], { cwd: dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`is not in a git repository; ${flag} needs one`);
    }
  });
});

describe('git repositories in bad shape', () => {
  it('scans a repository whose index is corrupt by walking it, and says so', async () => {
    const repo = initRepo(tempDir());
    writeTree(repo, { 'a.env': `T=${githubToken()}\n` });
    commitAll(repo, 'one', '2024-01-01T00:00:00Z');
    writeFileSync(join(repo, '.git', 'index'), 'garbage');
    const r = await runCli(['scan', '.', '--json'], { cwd: repo });
    const report = json(r.stdout);
    expect(report.findings).toHaveLength(1);
    expect(report.scan.issues[0].message).toContain('git could not list files');
  });
});
