import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, removeDir, tempDir, writeTree } from '../helpers/cli.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { anthropicKey, githubToken, randomAlnum } from '../helpers/secrets.js';
import { httpsUpstream, type Upstream } from '../helpers/upstream.js';
import { modelApi, REPLY, type ModelApi } from './doubles.js';
import { CLAUDE, CLIENTS, cleanEnv, keywardOnPath, QUIET, requireClients, run, type Run } from './helpers.js';

const FIXTURES = join(CLIENTS, 'fixtures');

/** What a dotenv loader would set from a .env file: KEY=value lines, comments and blanks skipped. */
function dotenv(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2].replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

/**
 * Claude Code (`claude -p`), the OpenAI and Anthropic SDKs (base-URL mode), curl and
 * python3-requests (interception mode) with their keys in a project's .env: used directly before
 * migration, under `keyward run --grant` after it (each client holds a kwg_ placeholder; the API
 * double receives the real key), and directly again after `keyward migrate undo`.
 */
describe('agents and HTTP clients under keyward run', () => {
  let d: TestDaemon;
  let work: string;
  let models: ModelApi;
  let github: Upstream & { caFile: string };
  let proxyPort = 0;
  const keys = { anthropic: anthropicKey(), openai: `sk-proj-${randomAlnum(40)}T3BlbkFJ${randomAlnum(40)}`, github: githubToken() };

  beforeAll(async () => {
    requireClients();
    work = tempDir('keyward-clients-agents-');
    models = await modelApi(keys);
    github = await httpsUpstream(work);
    const home = join(work, 'keyward');
    // The providers' upstreams are the doubles: a providers/<name>.yaml in the daemon's config.
    mkdirSync(join(home, 'config', 'providers'), { recursive: true });
    writeFileSync(join(home, 'config', 'providers', 'anthropic.yaml'), `upstream: ${models.url}\n`);
    writeFileSync(join(home, 'config', 'providers', 'openai.yaml'), `upstream: ${models.url}\n`);
    writeFileSync(join(home, 'config', 'providers', 'github.yaml'), `upstream: ${github.url}\nca: ${github.caFile}\n`);
    d = await startDaemon({
      home,
      files: {
        'config/policy.yaml': `rules:
  - { agent: "*", credential: "*", permission: messages, decision: allow }
  - { agent: "*", credential: "*", permission: chat, decision: allow }
  - { agent: "*", credential: "*", permission: "repo:read", decision: allow }
`,
      },
    });
    const status = JSON.parse((await d.cli(['daemon', 'status', '--json'])).stdout);
    proxyPort = Number(new URL(status.detail.proxy).port);
  });
  afterAll(async () => {
    await d?.stop();
    await models?.close();
    await github?.close();
    removeDir(work);
  });

  it('claude -p, the SDKs, curl and requests: the key from .env before, a placeholder under keyward run after migrate, the key again after undo', async () => {
    const project = join(work, 'project');
    const dotenvText = `# the app's keys\nANTHROPIC_API_KEY=${keys.anthropic}\nOPENAI_API_KEY="${keys.openai}"\nexport GITHUB_TOKEN=${keys.github}\n`;
    writeTree(project, { '.env': dotenvText });
    const bin = keywardOnPath(join(work, 'bin'));
    // The remote APIs' addresses: the doubles stand in for api.anthropic.com and api.openai.com.
    const base = { ...cleanEnv(), ...QUIET, HOME: join(work, 'home'), PATH: `${bin}:${process.env.PATH}`, KEYWARD_HOME: d.home };
    mkdirSync(base.HOME, { recursive: true });
    const issues = `${github.url}/repos/acme/app/issues`;
    const realKeys = Object.values(keys);

    /** Every client, with the environment given, each optionally wrapped (keyward run … --). */
    const clients = (env: NodeJS.ProcessEnv, wrap: (agent: string, grant: string, argv: string[]) => string[], extra: { curl: string[]; apis: NodeJS.ProcessEnv }) => {
      const go = (agent: string, grant: string, argv: string[]) => {
        const [cmd, ...args] = wrap(agent, grant, argv);
        return run(cmd, args, { env: { ...env, ...extra.apis }, cwd: project, timeout: 120_000 });
      };
      return {
        claude: () => go('claude-code', 'anthropic:messages', [CLAUDE, '-p', 'Say pong.']),
        openai: () => go('app', 'openai:chat', [process.execPath, join(FIXTURES, 'openai-sdk.mjs')]),
        anthropic: () => go('app', 'anthropic:messages', [process.execPath, join(FIXTURES, 'anthropic-sdk.mjs')]),
        curl: () =>
          go('curl', 'github:repo:read:acme/app', ['sh', '-c', `curl -sS -w '\\n%{http_code}' ${extra.curl.join(' ')} -H "Authorization: Bearer $GITHUB_TOKEN" "$0"`, issues]),
        requests: () => go('requests', 'github:repo:read:acme/app', ['python3', join(FIXTURES, 'requests-client.py'), issues]),
      };
    };

    const sdkOk = (r: Run, label: string) => {
      expect(r.code, `${label}: ${r.stderr}`).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.plain, label).toBe(REPLY);
      expect(out.streamed, label).toBe(REPLY);
      return out as { key: string; baseURL: string };
    };
    /** Runs every client once; each must reach its double with the real key. */
    const all = async (label: string, c: ReturnType<typeof clients>) => {
      const held: Record<string, string> = {};
      let from = models.calls.length;
      const claude = await c.claude();
      expect(claude.code, `claude, ${label}: ${claude.stdout}${claude.stderr}`).toBe(0);
      expect(claude.stdout, `claude, ${label}`).toContain(REPLY);
      const claudeCalls = models.calls.slice(from).filter((m) => m.path === '/v1/messages');
      expect(claudeCalls.length, `claude, ${label}`).toBeGreaterThan(0);
      expect(
        claudeCalls.every((m) => m.authorized && m.api === 'anthropic'),
        `claude, ${label}`,
      ).toBe(true);
      expect(
        claudeCalls.some((m) => m.stream),
        `claude, ${label}: streams`,
      ).toBe(true);

      from = models.calls.length;
      held.openai = sdkOk(await c.openai(), `openai sdk, ${label}`).key;
      expect(models.calls.slice(from).map((m) => [m.api, m.path, m.stream, m.authorized])).toEqual([
        ['openai', '/v1/chat/completions', false, true],
        ['openai', '/v1/chat/completions', true, true],
      ]);
      from = models.calls.length;
      held.anthropic = sdkOk(await c.anthropic(), `anthropic sdk, ${label}`).key;
      expect(models.calls.slice(from).map((m) => [m.api, m.path, m.stream, m.authorized])).toEqual([
        ['anthropic', '/v1/messages', false, true],
        ['anthropic', '/v1/messages', true, true],
      ]);

      from = github.received.length;
      const curl = await c.curl();
      expect(curl.code, `curl, ${label}: ${curl.stderr}`).toBe(0);
      expect(curl.stdout.trim().split('\n').pop(), `curl, ${label}: ${curl.stdout}`).toBe('200');
      const requests = await c.requests();
      expect(requests.code, `requests, ${label}: ${requests.stderr}`).toBe(0);
      expect(JSON.parse(requests.stdout).status, `requests, ${label}: ${requests.stdout}`).toBe(200);
      expect(github.received.slice(from).map((r) => [r.method, r.path, r.headers.authorization])).toEqual([
        ['GET', '/repos/acme/app/issues', `Bearer ${keys.github}`],
        ['GET', '/repos/acme/app/issues', `Bearer ${keys.github}`],
      ]);
      return held;
    };

    // Before: the keys from .env, straight to the APIs.
    const direct = () =>
      clients({ ...base, ...dotenv(join(project, '.env')) }, (_a, _g, argv) => argv, {
        curl: ['--cacert', github.caFile],
        apis: { ANTHROPIC_BASE_URL: models.url, OPENAI_BASE_URL: `${models.url}/v1`, REQUESTS_CA_BUNDLE: github.caFile },
      });
    const before = await all('before migration', direct());
    expect(before).toEqual({ openai: keys.openai, anthropic: keys.anthropic });

    const migrate = await run(process.execPath, [BIN, 'migrate', '.env', '--home', base.HOME, '--yes', '--json'], { env: base, cwd: project, timeout: 120_000 });
    expect(migrate.code, migrate.stderr).toBe(0);
    const result = JSON.parse(migrate.stdout);
    const migrated = readFileSync(join(project, '.env'), 'utf8');
    for (const k of realKeys) expect(migrated).not.toContain(k);
    const entries = dotenv(join(project, '.env'));
    const entry = (name: string) => /^keyward:\/\/([^#]+)$/.exec(entries[name])![1];
    expect(entry('ANTHROPIC_API_KEY')).toBeTruthy();

    // After: nothing in the environment but what keyward run sets; each client's environment is
    // written to a file by the shell keyward starts, before it becomes the client.
    let n = 0;
    const envFiles: string[] = [];
    const underKeyward = clients(
      base,
      (agent, grant, argv) => {
        const [credential, ...rest] = grant.split(':');
        const realGrant = [entry({ anthropic: 'ANTHROPIC_API_KEY', openai: 'OPENAI_API_KEY', github: 'GITHUB_TOKEN' }[credential]!), ...rest].join(':');
        const envFile = join(work, `env-${++n}`);
        envFiles.push(envFile);
        return [process.execPath, BIN, 'run', '--agent', agent, '--grant', realGrant, '--', 'sh', '-c', 'env > "$0"; exec "$@"', envFile, ...argv];
      },
      { curl: [], apis: {} },
    );
    const after = await all('after migration, under keyward run', underKeyward);
    expect(after.openai).toMatch(/^kwg_/);
    expect(after.anthropic).toMatch(/^kwg_/);
    expect(envFiles).toHaveLength(5);
    for (const file of envFiles) {
      const env = readFileSync(file, 'utf8');
      for (const k of realKeys) expect(env, file).not.toContain(k);
    }
    const claudeEnv = dotenv(envFiles[0]);
    expect(claudeEnv.ANTHROPIC_API_KEY).toMatch(/^kwg_/);
    expect(claudeEnv.ANTHROPIC_BASE_URL).toBe(`http://127.0.0.1:${proxyPort}/${entry('ANTHROPIC_API_KEY')}`);
    expect(dotenv(envFiles[3]).GITHUB_TOKEN).toMatch(/^kwg_/);
    expect(dotenv(envFiles[3]).HTTPS_PROXY).toBe(`http://127.0.0.1:${proxyPort}`);
    // No placeholder ever reached an API.
    expect(models.calls.some((m) => m.key.startsWith('kwg_'))).toBe(false);
    expect(JSON.stringify(github.received)).not.toContain('kwg_');

    const undo = await run(process.execPath, [BIN, 'migrate', 'undo', result.id], { env: base, cwd: project });
    expect(undo.code, undo.stderr).toBe(0);
    expect(readFileSync(join(project, '.env'), 'utf8')).toBe(dotenvText);
    expect(await all('after undo', direct())).toEqual(before);
  });
});
