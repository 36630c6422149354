import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, initRepo, tempDir } from '../helpers/cli.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { randomAlnum } from '../helpers/secrets.js';

const DOCKER_HELPER = join(ROOT, 'bin', 'docker-credential-keyward.js');

describe('credential helpers', () => {
  let d: TestDaemon;
  const awsSecret = randomAlnum(40);
  const gitToken = `ghp_${randomAlnum(36)}`;
  const dockerSecret = `dckr_pat_${randomAlnum(27)}`;

  beforeAll(async () => {
    d = await startDaemon({
      files: {
        'config/policy.yaml': `rules:
  - { agent: "aws:*", credential: "aws-*", permission: release, decision: allow, maxTtl: 15m }
  - { agent: "git-credential:*", credential: "git-*", permission: release, decision: allow, maxTtl: 1m }
  - { agent: "docker:*", credential: "docker-*", permission: release, decision: allow, maxTtl: 1m }
`,
      },
    });
    const add = async (name: string, value: string) => expect((await d.cli(['vault', 'add', name, '--provider', 'generic'], { input: value })).code).toBe(0);
    await add('aws-default', JSON.stringify({ AccessKeyId: 'AKIA' + randomAlnum(16).toUpperCase(), SecretAccessKey: awsSecret }));
    await add('git-example.test', JSON.stringify({ username: 'ada', password: gitToken }));
    await add('docker-registry.example.test', JSON.stringify({ username: 'ada', secret: dockerSecret }));
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('answers AWS credential_process with the documented JSON and an expiry', async () => {
    const r = await d.cli(['aws-credentials', '--profile', 'default']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out).sort()).toEqual(['AccessKeyId', 'Expiration', 'SecretAccessKey', 'Version']);
    expect(out.Version).toBe(1);
    expect(out.SecretAccessKey).toBe(awsSecret);
    const expires = Date.parse(out.Expiration);
    expect(out.Expiration).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(expires - Date.now()).toBeGreaterThan(60_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(15 * 60_000);
    const missing = await d.cli(['aws-credentials', '--profile', 'nope']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('no vault entry named aws-nope');
  });

  it('answers real `git credential fill` from the vault', () => {
    const repo = initRepo(tempDir());
    const gitconfig = join(repo, 'gitconfig');
    writeFileSync(gitconfig, `[credential "https://example.test"]\n\thelper = "!'${process.execPath}' '${BIN}' git-credential --entry git-example.test"\n`);
    const r = spawnSync('git', ['credential', 'fill'], {
      cwd: repo,
      input: 'protocol=https\nhost=example.test\n\n',
      encoding: 'utf8',
      env: { ...d.env, GIT_CONFIG_GLOBAL: gitconfig, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`protocol=https\nhost=example.test\nusername=ada\npassword=${gitToken}\n`);
    const audit = spawnSync(process.execPath, [BIN, 'audit', '--event', 'grant.release', '--json'], { env: d.env, encoding: 'utf8' });
    expect(JSON.parse(audit.stdout).map((a: { agent: string }) => a.agent)).toContain('git-credential:example.test');
  });

  it('speaks the Docker credential helper protocol: get, store, list, erase', () => {
    const helper = (op: string, input: string) => spawnSync(process.execPath, [DOCKER_HELPER, op], { input, encoding: 'utf8', env: d.env });
    const get = helper('get', 'https://registry.example.test');
    expect(get.status, get.stdout + get.stderr).toBe(0);
    expect(JSON.parse(get.stdout)).toEqual({ ServerURL: 'https://registry.example.test', Username: 'ada', Secret: dockerSecret });
    const unknown = helper('get', 'https://other.example.test');
    expect(unknown.status).toBe(1);
    expect(unknown.stdout.trim()).toBe('credentials not found in native keychain');
    const newSecret = randomAlnum(30);
    expect(helper('store', JSON.stringify({ ServerURL: 'https://new.example.test', Username: 'bob', Secret: newSecret })).status).toBe(0);
    expect(JSON.parse(helper('list', '').stdout)).toEqual({ 'https://new.example.test': 'bob' });
    expect(helper('erase', 'https://new.example.test').status).toBe(0);
    expect(JSON.parse(helper('list', '').stdout)).toEqual({});
  });
});
