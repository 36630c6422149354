import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { BIN, ROOT, removeDir, tempDir, writeTree } from '../helpers/cli.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { push, startRegistry, type Registry } from '../helpers/images.js';
import { Image, writeLayout } from '../helpers/oci.js';
import { haveTools } from '../helpers/tools.js';
import { anthropicKey, awsKeyId, checksummedToken, githubToken, randomAlnum } from '../helpers/secrets.js';

// Docker logins are checked against a real registry, through skopeo, where both are installed.
const HAS_REGISTRY = haveTools('keyward migrate of a whole home, docker login through a real registry', ['docker-registry', 'skopeo', 'htpasswd']);

/** An MCP "server" that prints the variables and arguments it was started with. */
const FAKE_SERVER = `console.log(JSON.stringify({ env: Object.fromEntries(Object.entries(process.env).filter(([k]) => /TOKEN|KEY/.test(k) && !k.startsWith('KEYWARD'))), args: process.argv.slice(2) }))`;

/**
 * `keyward scan home`, then `keyward migrate`, as a fresh user would: a home with every format
 * migrate rewrites, a project, and the real tools reading the results (git, skopeo through the
 * Docker credential helper, the MCP servers started from the rewritten configs).
 */
describe('keyward migrate of a whole home', () => {
  let d: TestDaemon;
  let work: string;
  let home: string;
  let project: string;
  let registry: Registry | undefined;
  let registryHost: string;
  let gitconfig: string;
  let pathDir: string;
  const s = {
    aws: awsKeyId(),
    awsSecret: `${randomAlnum(20)}/${randomAlnum(19)}`,
    netrc: githubToken(),
    gitCred: githubToken(),
    docker: `dckr_pat_${randomAlnum(27)}`,
    npm: checksummedToken('npm_'),
    claude: githubToken(),
    cursor: `sk-proj-${randomAlnum(40)}T3BlbkFJ${randomAlnum(40)}`,
    codex: anthropicKey(),
    zed: githubToken(),
    continueKey: githubToken(),
    env: anthropicKey(),
    vscode: githubToken(),
  };
  const files: Record<string, string> = {};

  beforeAll(async () => {
    d = await startDaemon();
    work = tempDir('keyward-migrate-home-');
    home = join(work, 'home');
    project = join(home, 'code', 'app');
    gitconfig = join(work, 'gitconfig');
    writeFileSync(gitconfig, '');
    d.env.GIT_CONFIG_GLOBAL = gitconfig;
    d.env.GIT_CONFIG_NOSYSTEM = '1';
    // docker-credential-keyward on PATH, as `npm install -g .` in the clone puts it.
    pathDir = join(work, 'bin');
    mkdirSync(pathDir);
    symlinkSync(join(ROOT, 'bin', 'docker-credential-keyward.js'), join(pathDir, 'docker-credential-keyward'));
    d.env.PATH = `${pathDir}:${process.env.PATH}`;

    // A registry behind htpasswd holding one image, logged into with the Docker token.
    // Without one, the Docker config still names a registry; the helper is then asked directly.
    if (HAS_REGISTRY) {
      registry = await startRegistry(join(work, 'registry'), { user: 'ada', password: s.docker });
      writeLayout(join(work, 'layout'), 'v1', Image.empty().add({ 'app/readme.txt': 'hello\n' }));
      push(work, 'oci:layout:v1', `docker://127.0.0.1:${registry.port}/app:v1`, { creds: `ada:${s.docker}` });
    }
    registryHost = registry ? `127.0.0.1:${registry.port}` : 'registry.example.test';

    const server = join(work, 'server.js');
    writeFileSync(server, FAKE_SERVER);
    const node = process.execPath;
    Object.assign(files, {
      '.aws/credentials': `[default]\naws_access_key_id = ${s.aws}\naws_secret_access_key = ${s.awsSecret}\n\n[readonly]\nregion = eu-west-1\n`,
      '.netrc': `machine git.example.test\n  login ada\n  password ${s.netrc}\n`,
      '.git-credentials': `https://bob:${s.gitCred}@code.example.test\n`,
      '.docker/config.json': JSON.stringify({ auths: { [registryHost]: { auth: Buffer.from(`ada:${s.docker}`).toString('base64') } }, detachKeys: 'ctrl-e,e' }, null, '\t') + '\n',
      '.npmrc': `//registry.npmjs.org/:_authToken=${s.npm}\n`,
      '.claude.json':
        JSON.stringify(
          {
            numStartups: 12,
            projects: { [project]: { mcpServers: { github: { type: 'stdio', command: node, args: [server], env: { GITHUB_PERSONAL_ACCESS_TOKEN: s.claude } } } } },
          },
          null,
          2,
        ) + '\n',
      '.cursor/mcp.json': `{\n  // Cursor allows comments\n  "mcpServers": {\n    "search": { "command": "${node}", "args": ["${server}", "--api-key=${s.cursor}"] }\n  }\n}\n`,
      '.codex/config.toml': `model = "o4-mini"\n\n[mcp_servers.docs]\ncommand = "${node}"\nargs = ["${server}"]\nenv = { "ANTHROPIC_API_KEY" = "${s.codex}", "MODE" = "ro" }\n`,
      '.config/zed/settings.json': `// Zed settings\n{\n  "theme": "One Dark",\n  "context_servers": {\n    "gh": { "command": { "path": "${node}", "args": ["${server}"], "env": { "GITHUB_TOKEN": "${s.zed}" } } }\n  }\n}\n`,
      '.continue/config.yaml': `name: mine\nversion: 0.0.1\nmcpServers:\n  - name: issues\n    command: ${node}\n    args: [${JSON.stringify(server)}]\n    env:\n      GITHUB_TOKEN: ${s.continueKey} # from settings\n`,
      'code/app/.env': `ANTHROPIC_API_KEY=${s.env}\nPORT=3000\n`,
      'code/app/.vscode/mcp.json': `{\n  "servers": {\n    "gh": { "type": "stdio", "command": "${node}", "args": ["${server}"], "env": { "GH_TOKEN": "${s.vscode}" } },\n  },\n}\n`,
    });
    writeTree(home, files);
    chmodSync(join(home, '.aws/credentials'), 0o600);
  }, 120_000);

  afterAll(async () => {
    await registry?.stop();
    await d?.stop();
    removeDir(work);
  });

  const cli = (args: string[]) => d.cli(args, { env: { HOME: home }, timeout: 60_000 });
  const inProject = (args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: project, env: { ...d.env, HOME: home }, encoding: 'utf8', timeout: 60_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const startServer = (command: string, args: string[]) => {
    const r = spawnSync(command, args, { env: d.env, encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { env: Record<string, string>; args: string[] };
  };

  it('scan home finds every key; migrate moves them all; the tools still work; undo puts everything back', async () => {
    const before = new Map(Object.keys(files).map((rel) => [rel, readFileSync(join(home, rel))]));
    const scan = inProject(['scan', 'home', '--home', home, '--project', '.', '--json']);
    expect(scan.code, scan.stderr).toBe(1);
    const found = JSON.parse(scan.stdout).findings as { file: string; keyPath?: string }[];
    const foundFiles = new Set(found.map((f) => f.file.replace(/^~\//, '')));
    for (const rel of Object.keys(files)) expect(foundFiles, rel).toContain(rel);

    const r = inProject(['migrate', '--home', home, '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.files.map((f: { kind: string }) => f.kind).sort()).toEqual([
      'aws',
      'docker',
      'env',
      'git-credentials',
      'mcp-json',
      'mcp-json',
      'mcp-json',
      'mcp-json',
      'mcp-toml',
      'mcp-yaml',
      'netrc',
      'npmrc',
    ]);

    // Nothing long-lived left in any file, and a second look finds nothing.
    for (const rel of Object.keys(files)) {
      const text = readFileSync(join(home, rel), 'utf8');
      for (const secret of Object.values(s)) expect(text, rel).not.toContain(secret);
    }
    const again = inProject(['scan', 'home', '--home', home, '--project', '.', '--json']);
    expect(JSON.parse(again.stdout).findings).toEqual([]);
    expect(again.code).toBe(0);

    // MCP servers, started exactly as each client would start them from its rewritten config.
    const claude = JSON.parse(readFileSync(join(home, '.claude.json'), 'utf8'));
    expect(claude.numStartups).toBe(12);
    const gh = claude.projects[project].mcpServers.github;
    expect(startServer(gh.command, gh.args).env.GITHUB_PERSONAL_ACCESS_TOKEN).toBe(s.claude);
    const cursorText = readFileSync(join(home, '.cursor/mcp.json'), 'utf8');
    expect(cursorText).toContain('// Cursor allows comments');
    const { parse: parseJsonc } = await import('jsonc-parser');
    const search = parseJsonc(cursorText).mcpServers.search;
    expect(startServer(search.command, search.args).args).toEqual([`--api-key=${s.cursor}`]);
    const codex = parseToml(readFileSync(join(home, '.codex/config.toml'), 'utf8')) as {
      model: string;
      mcp_servers: { docs: { command: string; args: string[]; env: Record<string, string> } };
    };
    expect(codex.model).toBe('o4-mini');
    expect(codex.mcp_servers.docs.env).toEqual({ MODE: 'ro' });
    expect(startServer(codex.mcp_servers.docs.command, codex.mcp_servers.docs.args).env.ANTHROPIC_API_KEY).toBe(s.codex);
    const zedText = readFileSync(join(home, '.config/zed/settings.json'), 'utf8');
    expect(zedText.startsWith('// Zed settings\n')).toBe(true);
    const zed = parseJsonc(zedText).context_servers.gh.command;
    expect(startServer(zed.path, zed.args).env.GITHUB_TOKEN).toBe(s.zed);
    const continueText = readFileSync(join(home, '.continue/config.yaml'), 'utf8');
    const issues = parseYaml(continueText).mcpServers[0];
    expect(startServer(issues.command, issues.args).env.GITHUB_TOKEN).toBe(s.continueKey);
    const vscode = parseJsonc(readFileSync(join(project, '.vscode/mcp.json'), 'utf8')).servers.gh;
    expect(startServer(vscode.command, vscode.args).env.GH_TOKEN).toBe(s.vscode);

    // git asks keyward, for the .netrc host and the .git-credentials host.
    for (const [host, secret] of [
      ['git.example.test', s.netrc],
      ['code.example.test', s.gitCred],
    ]) {
      const fill = spawnSync('git', ['credential', 'fill'], {
        input: `protocol=https\nhost=${host}\n\n`,
        encoding: 'utf8',
        env: { ...d.env, HOME: home, GIT_TERMINAL_PROMPT: '0' },
        timeout: 30_000,
      });
      expect(fill.status, fill.stderr).toBe(0);
      expect(fill.stdout).toContain(`password=${secret}`);
    }
    // skopeo reads the Docker config, finds credHelpers, and logs in through docker-credential-keyward.
    const docker = JSON.parse(readFileSync(join(home, '.docker/config.json'), 'utf8'));
    expect(docker).toEqual({ auths: {}, detachKeys: 'ctrl-e,e', credHelpers: { [registryHost]: 'keyward' } });
    if (registry) {
      const inspect = spawnSync('skopeo', ['inspect', '--tls-verify=false', '--authfile', join(home, '.docker/config.json'), `docker://${registryHost}/app:v1`], {
        env: d.env,
        encoding: 'utf8',
        timeout: 60_000,
      });
      // eslint-disable-next-line no-restricted-syntax -- still to be replaced by a state wait or an unconditional assertion (docs/testing.md#known-debt)
      expect(inspect.status, inspect.stderr).toBe(0);
    } else {
      // What skopeo and docker do with credHelpers: `docker-credential-keyward get`, the host on stdin.
      const get = spawnSync('docker-credential-keyward', ['get'], { env: d.env, input: registryHost, encoding: 'utf8', timeout: 30_000 });
      // eslint-disable-next-line no-restricted-syntax -- still to be replaced by a state wait or an unconditional assertion (docs/testing.md#known-debt)
      expect(get.status, get.stderr).toBe(0);
      // eslint-disable-next-line no-restricted-syntax -- still to be replaced by a state wait or an unconditional assertion (docs/testing.md#known-debt)
      expect(JSON.parse(get.stdout)).toEqual({ ServerURL: registryHost, Username: 'ada', Secret: s.docker });
    }
    // AWS credential_process, as the CLI runs it.
    const awsLine = /credential_process = (.+)$/m.exec(readFileSync(join(home, '.aws/credentials'), 'utf8'))![1];
    const aws = spawnSync('sh', ['-c', awsLine], { env: d.env, encoding: 'utf8', timeout: 30_000 });
    expect(JSON.parse(aws.stdout)).toMatchObject({ Version: 1, AccessKeyId: s.aws, SecretAccessKey: s.awsSecret });
    // The project's .env, through keyward run --env-file (the rule for an app is one line).
    writeFileSync(
      join(d.home, 'config', 'policy.yaml'),
      readFileSync(join(d.home, 'config', 'policy.yaml'), 'utf8') + '  - { agent: "app", credential: "*", permission: release, decision: allow }\n',
    );
    await d.api('admin', 'POST', '/v1/policy/reload');
    const app = inProject(['run', '--agent', 'app', '--env-file', '.env', '--', process.execPath, '-e', 'console.log(process.env.ANTHROPIC_API_KEY)']);
    expect(app.stdout.trim(), app.stderr).toBe(s.env);

    const undo = await cli(['migrate', 'undo', result.id]);
    expect(undo.code, undo.stderr).toBe(0);
    for (const [rel, bytes] of before) expect(readFileSync(join(home, rel)).equals(bytes), rel).toBe(true);
    expect(readFileSync(gitconfig, 'utf8')).not.toContain('git-credential');
  }, 240_000);
});
