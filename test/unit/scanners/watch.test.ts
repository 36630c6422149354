import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SecretWatch, type WatchedFinding } from '../../../scanners/watch.js';
import { removeDir, tempDir, writeTree } from '../../helpers/cli.js';
import { githubToken } from '../../helpers/secrets.js';

/** A SecretWatch on real directories, collecting what it reports. */
async function watching(paths: string[], cwd: string, debounceMs = 50) {
  const found: WatchedFinding[] = [];
  const problems: string[] = [];
  const watch = new SecretWatch({ paths, cwd, debounceMs, onFinding: (f) => found.push(f), onProblem: (p) => problems.push(p) });
  await watch.start();
  open.push(watch);
  return { watch, found, problems };
}
const open: SecretWatch[] = [];
const dirs: string[] = [];
afterEach(() => {
  open.splice(0).forEach((w) => w.close());
  dirs.splice(0).forEach(removeDir);
});
const dir = () => {
  const d = tempDir('keyward-watch-');
  dirs.push(d);
  return d;
};

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    // eslint-disable-next-line no-restricted-syntax -- a fixed sleep, still to be replaced by a state wait (docs/testing.md#known-debt)
    await new Promise((r) => setTimeout(r, 20));
  }
}
/** Long enough for any event to be debounced (50 ms) and scanned. */
// eslint-disable-next-line no-restricted-syntax -- a fixed sleep, still to be replaced by a state wait (docs/testing.md#known-debt)
const settle = () => new Promise((r) => setTimeout(r, 400));
const places = (found: WatchedFinding[]) => found.map((f) => `${f.status} ${f.finding.file}:${f.finding.line}`);

describe('watching files for new secrets', () => {
  it('lists what is there as present, then reports a secret written later as new, once', async () => {
    const root = dir();
    const old = githubToken();
    writeTree(root, { 'app/.env': `GITHUB_TOKEN=${old}\n`, 'app/src/main.ts': 'export {};\n' });
    const { found, watch } = await watching([root], root);
    expect(places(found)).toEqual(['present app/.env:1']);
    expect(watch.counts.files).toBe(2);

    const fresh = githubToken();
    writeFileSync(join(root, 'app/src/main.ts'), `// a comment\nconst token = "${fresh}";\n`);
    await until('the new finding', () => found.length === 2);
    expect(places(found)).toEqual(['present app/.env:1', 'new app/src/main.ts:2']);
    expect(found[1].finding.secret).toBe('ghp_********');
    expect(found[1].absolute).toBe(join(root, 'app/src/main.ts'));
    expect(JSON.stringify(found)).not.toContain(fresh);

    // Rewriting, touching and moving lines around: the same secrets, nothing new.
    writeFileSync(join(root, 'app/src/main.ts'), `const token = "${fresh}";\n// moved\n`);
    writeFileSync(join(root, 'app/.env'), `# edited\nGITHUB_TOKEN=${old}\n`);
    await settle();
    expect(found).toHaveLength(2);
    // The same key written into another file is a new place for it.
    writeFileSync(join(root, 'copy.txt'), `token: ${fresh}\n`);
    await until('the copy', () => found.length === 3);
    expect(places(found)[2]).toBe('new copy.txt:1');
  });

  it("skips .git and node_modules, editors' swap files, allowlisted paths and keyward:allow lines", async () => {
    const root = dir();
    mkdirSync(join(root, '.git'));
    mkdirSync(join(root, 'node_modules', 'pkg'), { recursive: true });
    writeTree(root, { '.keyward.yaml': 'allowlist:\n  paths: ["fixtures/"]\n', 'fixtures/keep': '' });
    const { found } = await watching([root], root);
    writeFileSync(join(root, '.git', 'config'), `token = ${githubToken()}\n`);
    writeFileSync(join(root, 'node_modules', 'pkg', 'index.js'), `const t = "${githubToken()}";\n`);
    writeFileSync(join(root, '.env.swp'), `GITHUB_TOKEN=${githubToken()}\n`);
    writeFileSync(join(root, 'fixtures', 'token.txt'), `GITHUB_TOKEN=${githubToken()}\n`);
    writeFileSync(join(root, 'allowed.env'), `GITHUB_TOKEN=${githubToken()} # keyward:allow\n`);
    writeFileSync(join(root, 'real.env'), `GITHUB_TOKEN=${githubToken()}\n`);
    await until('the real one', () => found.length > 0);
    await settle();
    expect(places(found)).toEqual(['new real.env:1']);
  });

  it('follows new directories, renames into place, removed and re-created directories', async () => {
    const root = dir();
    const { found } = await watching([root], root);
    mkdirSync(join(root, 'a', 'b', 'c'), { recursive: true });
    writeFileSync(join(root, 'a', 'b', 'c', 'deep.env'), `GITHUB_TOKEN=${githubToken()}\n`);
    await until('the file in a new directory', () => found.length === 1);
    // An editor's atomic save: write a temporary file, rename it over the real one.
    writeFileSync(join(root, 'a', '.config.json.tmp'), `{"token": "${githubToken()}"}\n`);
    renameSync(join(root, 'a', '.config.json.tmp'), join(root, 'a', 'config.json'));
    await until('the renamed file', () => found.length === 2);
    expect(places(found)).toEqual(['new a/b/c/deep.env:1', 'new a/config.json:1']);
    rmSync(join(root, 'a'), { recursive: true });
    await settle();
    mkdirSync(join(root, 'a'));
    writeFileSync(join(root, 'a', 'again.env'), `GITHUB_TOKEN=${githubToken()}\n`);
    await until('the file in the re-created directory', () => found.length === 3);
    expect(places(found)[2]).toBe('new a/again.env:1');
  });

  it('watches single files, including ones that do not exist yet, and only them', async () => {
    const home = dir();
    writeTree(home, { '.npmrc': 'registry=https://registry.npmjs.org/\n', 'notes.txt': '' });
    const missing = join(home, '.config', 'tool', 'credentials');
    const { found } = await watching([join(home, '.npmrc'), missing], home);
    expect(found).toEqual([]);
    writeFileSync(join(home, 'notes.txt'), `GITHUB_TOKEN=${githubToken()}\n`);
    writeFileSync(join(home, '.npmrc'), `//npm.pkg.github.com/:_authToken=${githubToken()}\n`);
    await until('the watched file', () => found.length === 1);
    mkdirSync(join(home, '.config', 'tool'), { recursive: true });
    writeFileSync(missing, `[default]\ntoken = ${githubToken()}\n`);
    await until('the file that appeared', () => found.length === 2);
    await settle();
    expect(places(found)).toEqual(['new .npmrc:1', 'new .config/tool/credentials:2']);
  });

  it('scans a file written several times in a row once, after the writes stop', async () => {
    const root = dir();
    const { found, watch } = await watching([root], root, 300);
    const file = join(root, 'growing.env');
    const tokens = Array.from({ length: 5 }, () => githubToken());
    for (let i = 1; i <= tokens.length; i++) {
      writeFileSync(
        file,
        tokens
          .slice(0, i)
          .map((t) => `GITHUB_TOKEN=${t}`)
          .join('\n') + '\n',
      );
      // eslint-disable-next-line no-restricted-syntax -- a fixed sleep, still to be replaced by a state wait (docs/testing.md#known-debt)
      await new Promise((r) => setTimeout(r, 10));
    }
    await until('the findings', () => found.length === 5);
    await watch.idle();
    expect(places(found)).toEqual([1, 2, 3, 4, 5].map((n) => `new growing.env:${n}`));
    expect(watch.counts.rescanned).toBe(1);
  });

  it('scans a large first walk on a worker thread with the same rules and allowlists', async () => {
    const root = dir();
    const files: Record<string, string> = { '.keyward.yaml': 'allowlist:\n  paths: ["vendor/"]\n' };
    const expected: string[] = [];
    for (let i = 0; i < 600; i++) {
      const name = `src/m${i % 12}/f${i}.ts`;
      const secret = i % 50 === 7;
      files[name] = `export const v${i} = ${i};\n${secret ? `const token = "${githubToken()}";\n` : ''}`;
      if (secret) expected.push(`present ${name}:2`);
      if (i % 100 === 3) files[`vendor/lib${i}/index.js`] = `module.exports = "${githubToken()}";\n`;
    }
    writeTree(root, files);
    const { found, watch } = await watching([root], root);
    expect(watch.counts.files).toBe(600);
    expect(places(found).sort()).toEqual(expected.sort());
    // After the first walk its workers are gone: later writes are scanned here, as before.
    writeFileSync(join(root, 'src', 'm0', 'f0.ts'), `const t = "${githubToken()}";\n`);
    await until('the new finding', () => found.length === expected.length + 1);
    expect(places(found).at(-1)).toBe('new src/m0/f0.ts:1');
  });
});
