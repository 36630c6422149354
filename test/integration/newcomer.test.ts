import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, initRepo, removeDir, runCli, tempDir, writeTree } from '../helpers/cli.js';
import { githubToken } from '../helpers/secrets.js';

/** What a new user meets in the first hour, through the real CLI. */
describe('the first hour', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('keyward-newcomer-');
  });
  afterAll(() => removeDir(dir));

  it('prints oclif parse errors whole: which flag or argument is missing', async () => {
    const run = await runCli(['run', '--grant', 'openai:chat', '--', 'env']);
    expect(run.code).toBe(2);
    expect(run.stderr, run.stderr).toContain('keyward: Missing required flag --agent\n  See `keyward run --help`.\n');
    const add = await runCli(['vault', 'add']);
    expect(add.code).toBe(2);
    expect(add.stderr).toMatch(/^keyward: Missing 1 required arg:\n {2}name +Entry name, used in grants/);
    const both = await runCli(['vault', 'add', 'x', '--provider', 'generic', '--from-env', 'A', '--from-file', 'b']);
    expect(both.stderr).toContain('--from-env=A cannot also be provided when using --from-file');
  });

  it('suggests the nearest command for a typo, without gluing the arguments to it', async () => {
    const cases: [string[], string, string][] = [
      [['scna', '.'], 'unknown command "scna"', 'Did you mean `keyward scan .`?'],
      [['vault', 'ad', 'openai'], 'unknown command "vault ad"', 'Did you mean `keyward vault add openai`?'],
      [['aprove'], 'unknown command "aprove"', 'Did you mean `keyward approve`?'],
      [['rule', 'list'], 'unknown command "rule list"', 'Did you mean `keyward rules list`?'],
    ];
    for (const [args, first, hint] of cases) {
      const r = await runCli(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`keyward: ${first}\n  ${hint}\n`);
      expect(r.stderr).not.toMatch(/:\.|command \S+:\S+ not found/);
    }
    const nothing = await runCli(['zzzzzz']);
    expect(nothing.stderr).toBe('keyward: unknown command "zzzzzz"\n  See `keyward --help` for the commands.\n');
  });

  it('run: a command without -- is named, with the line that works', async () => {
    const r = await runCli(['run', '--agent', 't', '--grant', 'openai:chat', 'env']);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe(
      "keyward: the command to run (env) must come after --\n  Everything before -- is read as keyward's own flags. Run: keyward run --agent t --grant openai:chat -- env\n",
    );
    const none = await runCli(['run', '--agent', 't']);
    expect(none.stderr).toContain('keyward: no command to run');
    const help = await runCli(['run', '--help']);
    // Help wraps at the terminal's width: compare with the line breaks removed.
    expect(help.stdout.replace(/\s+/g, ' ')).toMatch(/USAGE \$ keyward run -a AGENT .*-- COMMAND \[ARGS\.\.\.\] FLAGS/);
  });

  it('lists the providers with their permissions and variables, and refuses a misspelled one', async () => {
    const one = await runCli(['providers', 'github']);
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^github /);
    expect(one.stdout).toContain('GITHUB_TOKEN (key)');
    expect(one.stdout).toMatch(/repo:read +GET,HEAD +\/repos\/\{resource\}/);
    const all = JSON.parse((await runCli(['providers', '--json'])).stdout) as { name: string; env: { key?: string }; permissions: { name: string }[] }[];
    expect(all.find((p) => p.name === 'openai')).toMatchObject({
      env: { key: 'OPENAI_API_KEY' },
      permissions: expect.arrayContaining([expect.objectContaining({ name: 'chat' })]),
    });
    const typo = await runCli(['providers', 'gitub']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('keyward: unknown provider "gitub"\n  Did you mean one of: github, gitlab?');
    const add = await runCli(['vault', 'add', 'foo', '--provider', 'openia'], { input: 'value' });
    expect(add.code).toBe(2);
    expect(add.stderr).toContain('keyward: unknown provider "openia"\n  Did you mean openai? See them all with: keyward providers');
  });

  it('lists a provider the user defined in providers/*.yaml, and suggests it for a typo', async () => {
    const home = join(dir, 'acme-home');
    mkdirSync(join(home, 'config', 'providers'), { recursive: true, mode: 0o700 });
    writeFileSync(
      join(home, 'config', 'providers', 'acme.yaml'),
      [
        'upstream: https://api.acme.example',
        'inject: { header: X-Acme-Key, value: "{secret}" }',
        'env: { key: ACME_API_KEY, baseUrl: ACME_BASE_URL }',
        'permissions:',
        '  read: [{ methods: [GET, HEAD], paths: ["/v1/**"] }]',
        '  deploy: [{ methods: [POST], paths: ["/v1/apps/{resource}/deploys"] }]',
        '',
      ].join('\n'),
    );
    const env = { KEYWARD_HOME: home };
    const one = await runCli(['providers', 'acme'], { env });
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/^acme\n/);
    expect(one.stdout).not.toMatch(/^ +(write|all) /m);
    expect(one.stdout).toContain('ACME_API_KEY (key)');
    expect(one.stdout).toMatch(/deploy +POST +\/v1\/apps\/\{resource\}\/deploys/);
    const json = JSON.parse((await runCli(['providers', '--json'], { env })).stdout) as { name: string; upstream: string; inject: string; resource?: string }[];
    expect(json.find((p) => p.name === 'acme')).toMatchObject({ upstream: 'https://api.acme.example', inject: 'header X-Acme-Key: {secret}', resource: 'one path segment' });
    expect(json.some((p) => p.name === 'openai')).toBe(true);
    const typo = await runCli(['vault', 'add', 'acme', '--provider', 'acem'], { env, input: 'value' });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('Did you mean acme?');
  });

  it('counts in words that agree: 1 rule, 1 finding', async () => {
    const home = tempDir('keyward-plural-');
    writeTree(home, { 'config/policy.yaml': 'rules:\n  - { agent: "*", credential: openai, permission: chat, decision: allow }\n' });
    const policy = await runCli(['policy', 'check'], { env: { KEYWARD_HOME: home } });
    expect(policy.stdout).toContain('1 rule, default');
    writeFileSync(join(dir, 'one.env'), `GITHUB_TOKEN=${githubToken()}\n`);
    const scan = await runCli(['scan', 'one.env', '--format', 'json', '--output', join(dir, 'out.json')], { cwd: dir });
    expect(scan.stderr).toContain('1 finding;');
    expect(scan.stderr).not.toContain('finding(s)');
    removeDir(home);
  });

  it('the pre-commit hook says the commit is blocked and how to commit anyway once', async () => {
    const repo = initRepo(tempDir('keyward-hook-'));
    expect((await runCli(['hook', 'install'], { cwd: repo })).code).toBe(0);
    writeFileSync(join(repo, 'app.env'), `GITHUB_TOKEN=${githubToken()}\n`);
    git(repo, 'add', 'app.env');
    const commit = spawnSync('git', ['commit', '-q', '-m', 'add config'], {
      cwd: repo,
      encoding: 'utf8',
      env: {
        ...process.env,
        NO_COLOR: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_AUTHOR_NAME: 'A',
        GIT_AUTHOR_EMAIL: 'a@example.org',
        GIT_COMMITTER_NAME: 'A',
        GIT_COMMITTER_EMAIL: 'a@example.org',
      },
    });
    expect(commit.status).not.toBe(0);
    const said = commit.stdout + commit.stderr;
    expect(said).toContain('Commit blocked');
    expect(said).toContain('git commit --no-verify');
    // Where the hook cannot find the keyward that installed it, it says how to install the hook again.
    const hook = readFileSync(join(repo, '.git', 'hooks', 'pre-commit'), 'utf8');
    expect(hook).not.toContain('npm install -g keyward');
    // The keyward that installed the hook was moved away: the hook says so and how to fix it.
    const moved = join(dir, 'moved-hook');
    writeFileSync(moved, hook.replace(/^keyward_run=.*$/m, `keyward_run='${join(dir, 'gone', 'run.js')}'`));
    const lost = spawnSync('/bin/sh', [moved], { cwd: dir, encoding: 'utf8' });
    expect(lost.status).toBe(2);
    expect(lost.stderr).toContain('cannot find keyward at');
    expect(lost.stderr).toContain('keyward hook install');
    removeDir(repo);
  });
});
