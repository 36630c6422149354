import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, commitAll, git, initRepo, tempDir } from '../helpers/cli.js';
import { HAS_KEYRING, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { startGithubDouble, type GithubDouble } from '../helpers/github-app-double.js';
import { privateCaIdentity } from '../helpers/upstream.js';

function runAsync(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.skipIf(!HAS_KEYRING)('GitHub App installation tokens', { timeout: 90_000 }, () => {
  let d: TestDaemon;
  let gh: GithubDouble;
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();

  beforeAll(async () => {
    // A bare repository acme/app.git with one commit, served by git http-backend.
    const repos = tempDir('keyward-gh-repos-');
    const work = initRepo(tempDir());
    writeFileSync(join(work, 'README.md'), '# app\n');
    commitAll(work, 'first', '2026-01-01T00:00:00Z');
    mkdirSync(join(repos, 'acme'));
    git(repos, 'clone', '--bare', '-q', work, join(repos, 'acme', 'app.git'));
    git(repos, 'clone', '--bare', '-q', work, join(repos, 'acme', 'other.git'));
    gh = await startGithubDouble({ publicKey, appId: '424242', installation: '777', repoRoot: repos });
    // Configuration changes on disk wait for confirmation; files present at start are used at start,
    // so the provider profile pointing at the loopback double is written before the daemon starts.
    const home = tempDir('keyward-daemon-');
    mkdirSync(join(home, 'config', 'providers'), { recursive: true, mode: 0o700 });
    d = await startDaemon({
      home,
      files: {
        'config/policy.yaml': 'rules:\n  - { agent: "*", credential: gh-app, decision: allow, maxTtl: 10m }\n',
        'config/providers/github.yaml': `upstream: ${gh.url}\n`,
      },
    });
    const keyFile = join(tempDir(), 'app.pem');
    writeFileSync(keyFile, pem);
    const add = await d.cli(['vault', 'add', 'gh-app', '--provider', 'github', '--from-file', keyFile, '-a', 'appId=424242', '-a', 'installation=777', '-a', 'owner=acme']);
    expect(add.code, add.stderr).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await d?.stop();
    await gh?.close();
  });

  it('proxy mode: the proxy injects a token minted for the one repository, and the run ending revokes it', async () => {
    const before = gh.tokens.length;
    const script = `const r = await fetch(process.env.GITHUB_API_URL + '/repos/acme/app', { headers: { authorization: 'Bearer ' + process.env.GITHUB_TOKEN } }); console.log(r.status, process.env.GITHUB_TOKEN.slice(0, 4), JSON.stringify(await r.json()));`;
    const r = await runAsync(
      process.execPath,
      [BIN, 'run', '--agent', 'bot', '--grant', 'gh-app:repo:read:acme/app', '--', process.execPath, '--input-type=module', '-e', script],
      d.env,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('200 kwg_');
    expect(r.stdout).toContain('acme/app');
    expect(gh.jwtFailures).toEqual([]);
    const minted = gh.tokens.slice(before);
    expect(minted).toHaveLength(1);
    expect(minted[0]).toMatchObject({ repositories: ['app'], permissions: { contents: 'read', metadata: 'read' } });
    // The REST call carried the minted token, and the agent never saw it; the run's end revoked it.
    expect(gh.apiRequests.some((q) => q.path === '/repos/acme/app' && q.auth === `Bearer ${minted[0].token}`)).toBe(true);
    expect(r.stdout).not.toContain(minted[0].token);
    expect(minted[0].revoked).toBe(true);
    const audit = readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8');
    expect(audit).toContain('"kind":"github-app"');
    expect(audit).toContain('acme/app');
    expect(audit).not.toContain(minted[0].token);
    expect(audit).not.toContain('BEGIN RSA PRIVATE KEY');
  });

  it('real git clones over HTTP through the credential helper with a token for that repository only; keyward revoke revokes it upstream', async () => {
    const home = tempDir();
    const gitconfig = join(home, 'gitconfig');
    writeFileSync(gitconfig, `[credential "${gh.url}"]\n\thelper = "!'${process.execPath}' '${BIN}' git-credential --entry gh-app --permission repo:read"\n\tuseHttpPath = true\n`);
    const env = { ...d.env, HOME: home, GIT_CONFIG_GLOBAL: gitconfig, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' };
    const before = gh.tokens.length;
    const clone = await runAsync('git', ['clone', '-q', `${gh.url}/acme/app.git`, join(home, 'app')], env);
    expect(clone.code, clone.stderr).toBe(0);
    expect(existsSync(join(home, 'app', 'README.md'))).toBe(true);
    const minted = gh.tokens.slice(before);
    expect(minted.length).toBeGreaterThanOrEqual(1);
    for (const t of minted) expect(t).toMatchObject({ repositories: ['app'], permissions: { contents: 'read', metadata: 'read' } });

    // The same kind of token does not open another repository: the double refuses it.
    const token = minted[0].token;
    const other = await fetch(`${gh.url}/acme/other.git/info/refs?service=git-upload-pack`, {
      headers: { authorization: `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}` },
    });
    expect(other.status).toBe(401);

    // keyward grants lists it with its repositories, never the token; keyward revoke revokes it upstream.
    const grants = await d.cli(['grants', '--json']);
    expect(grants.stdout).toContain('acme/app');
    expect(grants.stdout).not.toContain(token);
    expect(minted.some((t) => !t.revoked)).toBe(true);
    expect((await d.cli(['revoke', '--all'])).code).toBe(0);
    expect(minted.every((t) => t.revoked)).toBe(true);
    const again = await fetch(`${gh.url}/acme/app.git/info/refs?service=git-upload-pack`, {
      headers: { authorization: `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}` },
    });
    expect(again.status).toBe(401);
  }, 90_000);

  it('a JWT signed with another key is refused, and the error names GitHub’s answer', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    const keyFile = join(tempDir(), 'wrong.pem');
    writeFileSync(keyFile, other);
    expect((await d.cli(['vault', 'add', 'gh-app', '--provider', 'github', '--replace', '--from-file', keyFile, '-a', 'appId=424242', '-a', 'installation=777'])).code).toBe(0);
    const r = await runAsync(process.execPath, [BIN, 'run', '--agent', 'bot', '--grant', 'gh-app:repo:read:acme/app', '--', 'true'], d.env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('HTTP 401: A JSON web token could not be decoded');
    expect(gh.jwtFailures).toContain('bad signature');
  });
});

describe.skipIf(!HAS_KEYRING)('a GitHub Enterprise server behind a private CA', { timeout: 90_000 }, () => {
  let d: TestDaemon;
  let gh: GithubDouble;
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

  beforeAll(async () => {
    const repos = tempDir('keyward-ghe-repos-');
    const identity = privateCaIdentity(repos);
    gh = await startGithubDouble({ publicKey, appId: '424242', installation: '777', repoRoot: repos, tls: identity });
    const home = tempDir('keyward-daemon-');
    mkdirSync(join(home, 'config', 'providers'), { recursive: true, mode: 0o700 });
    d = await startDaemon({
      home,
      files: {
        'config/policy.yaml': 'rules:\n  - { agent: "*", credential: "ghe*", decision: allow, maxTtl: 10m }\n',
        // The server's CA named in the profile; a second provider for the same server without it.
        'config/providers/github.yaml': `upstream: ${gh.url}\nca: ${identity.caFile}\n`,
        'config/providers/ghe-without-ca.yaml': `upstream: ${gh.url}\n`,
      },
    });
    const keyFile = join(tempDir(), 'app.pem');
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs1', format: 'pem' }).toString());
    for (const [name, provider, extra] of [
      ['ghe', 'github', []],
      ['ghe-noca', 'ghe-without-ca', ['-a', 'mint=github-app']],
    ] as const) {
      const add = await d.cli(['vault', 'add', name, '--provider', provider, '--from-file', keyFile, '-a', 'appId=424242', '-a', 'installation=777', ...extra]);
      expect(add.code, add.stderr).toBe(0);
    }
  }, 60_000);
  afterAll(async () => {
    await d?.stop();
    await gh?.close();
  });

  it('mints through the profile’s ca: and the proxy forwards with the minted token over the same TLS', async () => {
    const script = `const r = await fetch(process.env.GITHUB_API_URL + '/repos/acme/app', { headers: { authorization: 'Bearer ' + process.env.GITHUB_TOKEN } }); console.log(r.status);`;
    const r = await runAsync(
      process.execPath,
      [BIN, 'run', '--agent', 'bot', '--grant', 'ghe:repo:read:acme/app', '--', process.execPath, '--input-type=module', '-e', script],
      d.env,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('200');
    const minted = gh.tokens.at(-1)!;
    expect(minted).toMatchObject({ repositories: ['app'], revoked: true });
    expect(gh.apiRequests.some((q) => q.path === '/repos/acme/app' && q.auth === `Bearer ${minted.token}`)).toBe(true);
  });

  it('without ca: the grant fails with mint_failed naming the certificate problem and the profile to fix', async () => {
    const before = gh.tokens.length;
    const r = await runAsync(process.execPath, [BIN, 'run', '--agent', 'bot', '--grant', 'ghe-noca:read', '--', 'true'], d.env);
    // Right after a mint through the same server with the CA: no pooled connection may carry it over.
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/GitHub at https:\/\/127\.0\.0\.1:\d+ did not answer: (SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)/);
    expect(r.stderr).toContain('providers/ghe-without-ca.yaml: upstream, ca');
    expect(gh.tokens.length).toBe(before);
  });
});
