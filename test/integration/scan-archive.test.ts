import { execFileSync } from 'node:child_process';
import { readFileSync, truncateSync, writeFileSync, statSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, runCli, tempDir, writeTree } from '../helpers/cli.js';
import { anthropicKey, githubToken } from '../helpers/secrets.js';

interface Report {
  scan: { mode: string; partial: boolean; stats: { files: number; archives?: number; skipped: Record<string, number> }; issues: { path?: string; message: string }[] };
  findings: { ruleId: string; file: string; line: number; column: number; secret: string; source: string; archivePath?: string; decoded?: string; migratable: boolean }[];
}
const json = (stdout: string) => JSON.parse(stdout) as Report;
const sh = (cwd: string, cmd: string, ...args: string[]) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

describe('keyward scan on archives made by zip and tar', () => {
  let dir: string;
  const token = githubToken();
  const anthropic = anthropicKey();
  beforeAll(() => {
    dir = tempDir();
    writeTree(dir, {
      'src/app/.env': `ANTHROPIC_API_KEY=${anthropic}\n`,
      'src/app/config.js': `module.exports = { github: "${token}" };\n`,
      'src/app/logo.bin': Buffer.concat([Buffer.from([0, 1, 2, 3]), Buffer.alloc(9000)]),
    });
    const src = join(dir, 'src');
    sh(src, 'zip', '-qr', '../release.zip', 'app');
    sh(src, 'tar', '-cf', '../release.tar', 'app');
    sh(src, 'tar', '-czf', '../release.tar.gz', 'app');
    sh(src, 'tar', '-czf', '../release.tgz', 'app');
  });
  afterAll(() => removeDir(dir));

  for (const name of ['release.zip', 'release.tar', 'release.tar.gz', 'release.tgz']) {
    it(`opens ${name} and reports each secret with its path inside`, async () => {
      const r = await runCli(['scan', name, '--json'], { cwd: dir });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(1);
      const report = json(r.stdout);
      const found = report.findings.map((f) => [f.file, f.ruleId, f.line]).sort();
      expect(found).toEqual([
        [`${name}!/app/.env`, 'anthropic-api-key', 1],
        [`${name}!/app/config.js`, 'github-classic-pat', 1],
      ]);
      expect(report.findings[0]).toMatchObject({ source: 'archive', migratable: false });
      expect(report.findings.map((f) => f.archivePath).sort()).toEqual(['app/.env', 'app/config.js']);
      expect(report.scan.stats.archives).toBe(1);
      expect(report.scan.stats.skipped.binary).toBe(1); // logo.bin, not the archive itself
      expect(report.scan.partial).toBe(false);
    });
  }

  it('opens archives inside archives, and archives found in a tree', async () => {
    const work = tempDir();
    writeTree(work, { 'inner/deep/.env': `GITHUB_TOKEN=${token}\n` });
    sh(work, 'tar', '-czf', 'inner.tgz', 'inner');
    sh(work, 'zip', '-q', 'outer.zip', 'inner.tgz');
    mkdirSync(join(work, 'tree'));
    sh(work, 'cp', 'outer.zip', 'tree/bundle.zip');
    const r = await runCli(['scan', 'tree', '--json'], { cwd: work });
    expect(r.code).toBe(1);
    const report = json(r.stdout);
    expect(report.findings.map((f) => f.file)).toEqual(['tree/bundle.zip!/inner.tgz!/inner/deep/.env']);
    expect(report.findings[0].archivePath).toBe('inner.tgz!/inner/deep/.env');
    expect(report.scan.stats.archives).toBe(2);

    const shallow = await runCli(['scan', 'outer.zip', '--json', '--archive-depth', '1'], { cwd: work });
    expect(shallow.code).toBe(2);
    expect(json(shallow.stdout).scan.issues).toEqual([{ path: 'outer.zip!/inner.tgz', message: 'archive nested deeper than --archive-depth 1: not opened' }]);
    const off = await runCli(['scan', 'outer.zip', '--json', '--archive-depth', '0'], { cwd: work });
    expect(off.code).toBe(0);
    expect(json(off.stdout).scan.stats.skipped.binary).toBe(1);
    removeDir(work);
  });

  it('opens archives in a tree large enough for worker threads', async () => {
    const work = tempDir();
    const files: Record<string, string> = {};
    for (let i = 0; i < 250; i++) files[`src/f${i}.ts`] = `export const v${i} = ${i};\n`;
    writeTree(work, { ...files, 'pack/.env': `GITHUB_TOKEN=${token}\n` });
    sh(work, 'tar', '-czf', 'src/vendor.tgz', 'pack');
    removeDir(join(work, 'pack'));
    const r = await runCli(['scan', '.', '--json', '--threads', '2'], { cwd: work });
    expect(json(r.stdout).findings.map((f) => f.file)).toEqual(['src/vendor.tgz!/pack/.env']);
    removeDir(work);
  });

  it('decodes base64 inside an archive member', async () => {
    const work = tempDir();
    writeTree(work, { 'k8s/secret.yaml': `apiVersion: v1\nkind: Secret\ndata:\n  config: ${Buffer.from(`GITHUB_TOKEN=${token}\n`).toString('base64')}\n` });
    sh(work, 'tar', '-czf', 'manifests.tgz', 'k8s');
    const r = await runCli(['scan', 'manifests.tgz', '--json'], { cwd: work });
    expect(json(r.stdout).findings).toMatchObject([{ file: 'manifests.tgz!/k8s/secret.yaml', line: 4, column: 11, decoded: 'base64', ruleId: 'github-classic-pat' }]);
    removeDir(work);
  });
});

describe('bad archives', () => {
  let dir: string;
  const token = githubToken();
  beforeAll(() => {
    dir = tempDir();
    writeTree(dir, { 'src/a.env': `GITHUB_TOKEN=${token}\n`, 'src/b.txt': 'x'.repeat(200_000) + '\n' });
    writeFileSync(join(dir, 'zeros'), Buffer.alloc(64 * 1024 * 1024));
    sh(dir, 'zip', '-q', 'bomb.zip', 'zeros');
    sh(join(dir, 'src'), 'tar', '-czf', '../good.tgz', 'a.env', 'b.txt');
    sh(join(dir, 'src'), 'tar', '-cf', '../good.tar', 'b.txt', 'a.env');
    removeDir(join(dir, 'zeros'));
  });
  afterAll(() => removeDir(dir));

  it('refuses a zip bomb with a message, exits 2', async () => {
    expect(statSync(join(dir, 'bomb.zip')).size).toBeLessThan(200_000);
    const r = await runCli(['scan', 'bomb.zip', '--json'], { cwd: dir });
    expect(r.code).toBe(2);
    const report = json(r.stdout);
    expect(report.scan.partial).toBe(true);
    expect(report.scan.issues).toHaveLength(1);
    expect(report.scan.issues[0].path).toBe('bomb.zip!/zeros');
    expect(report.scan.issues[0].message).toMatch(/^expands \d+ times \(\d+ bytes to 67108864\): refused as a possible zip bomb$/);
    const text = await runCli(['scan', 'bomb.zip'], { cwd: dir });
    expect(text.stdout).toContain('partial scan: 1 problem');
  });

  it('reports corrupt gzip and keeps scanning the rest of the tree', async () => {
    const tree = tempDir();
    const good = readFileSync(join(dir, 'good.tgz'));
    const corrupt = Buffer.from(good);
    for (let i = 40; i < corrupt.length - 20; i += 7) corrupt[i] ^= 0x5a;
    writeTree(tree, { 'broken.tgz': corrupt, 'ok.env': `GITHUB_TOKEN=${githubToken()}\n` });
    const r = await runCli(['scan', '.', '--json'], { cwd: tree });
    expect(r.code).toBe(1);
    const report = json(r.stdout);
    expect(report.findings.map((f) => f.file)).toEqual(['ok.env']);
    expect(report.scan.issues).toHaveLength(1);
    expect(report.scan.issues[0]).toMatchObject({ path: 'broken.tgz' });
    expect(report.scan.issues[0].message).toMatch(/^corrupt gzip data|^not a tar archive or corrupt/);
    expect(r.stdout + r.stderr).not.toMatch(/at .*\.js:\d+/);
    removeDir(tree);
  });

  it('reports a truncated tar, with what it could read before the cut', async () => {
    const tree = tempDir();
    writeFileSync(join(tree, 'cut.tar'), readFileSync(join(dir, 'good.tar')));
    truncateSync(join(tree, 'cut.tar'), 512 + 100_000);
    const r = await runCli(['scan', 'cut.tar', '--json'], { cwd: tree });
    expect(r.code).toBe(2);
    expect(json(r.stdout).scan.issues).toEqual([{ path: 'cut.tar', message: 'truncated tar: it ends in the middle of b.txt' }]);
    removeDir(tree);
  });

  it('reports a zip whose end was cut off', async () => {
    const tree = tempDir();
    const zip = readFileSync(join(dir, 'bomb.zip'));
    writeFileSync(join(tree, 'cut.zip'), zip.subarray(0, zip.length - 30));
    const r = await runCli(['scan', 'cut.zip', '--json'], { cwd: tree });
    expect(r.code).toBe(2);
    expect(json(r.stdout).scan.issues[0].message).toMatch(/^not a zip archive or truncated/);
    removeDir(tree);
  });
});
