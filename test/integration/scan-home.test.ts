import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOME_LOCATIONS } from '../../scanners/sources/home/locations.js';
import { BIN, ROOT, removeDir, runCli, tempDir, writeTree } from '../helpers/cli.js';
import { anthropicKey, awsKeyId, checksummedToken, githubToken, randomAlnum } from '../helpers/secrets.js';

interface Finding {
  ruleId: string;
  file: string;
  line: number;
  column: number;
  secret: string;
  source: string;
  keyPath?: string;
  format?: string;
  decoded?: string;
  migratable: boolean;
}
interface Report {
  scan: { mode: string; partial: boolean; issues: { path?: string; message: string }[]; locations: { path: string; client: string; status: string; format: string }[] };
  findings: Finding[];
}
const json = (stdout: string) => JSON.parse(stdout) as Report;

/** A home directory with a realistic config of every client, each holding fresh secrets. */
function fakeHome(dir: string) {
  const s = {
    awsId: awsKeyId(),
    awsSecret: randomAlnum(40),
    npm: checksummedToken('npm_'),
    pypi: `pypi-AgEIcHlwaS5vcmc${randomAlnum(70)}`,
    netrc: randomAlnum(28),
    dockerPassword: randomAlnum(26),
    kubeToken: randomAlnum(40),
    kubeExec: randomAlnum(32),
    gh: checksummedToken('gho_'),
    gitCredential: githubToken(),
    historyBearer: randomAlnum(36),
    historyAnthropic: anthropicKey(),
    claudeDesktop: githubToken(),
    claudeCodeHeader: randomAlnum(32),
    claudeCodeProject: anthropicKey(),
    cursorArg: randomAlnum(30),
    vscode: githubToken(),
    windsurfUrl: randomAlnum(32),
    gemini: `AIza${randomAlnum(35)}`,
    codex: githubToken(),
    continueKey: anthropicKey(),
    zed: randomAlnum(31),
    projectEnv: anthropicKey(),
    projectMcp: githubToken(),
    projectVscode: randomAlnum(34),
    ignoredDependency: githubToken(),
  };
  const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const b64 = (t: string) => Buffer.from(t).toString('base64');
  writeTree(dir, {
    '.aws/credentials': `[default]\naws_access_key_id = ${s.awsId}\naws_secret_access_key = ${s.awsSecret}\n`,
    '.aws/config': '[default]\nregion = eu-west-1\n\n[profile ci]\nrole_arn = arn:aws:iam::123456789012:role/ci\nsource_profile = default\n',
    '.npmrc': `registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=${s.npm}\n`,
    '.pypirc': `[distutils]\nindex-servers =\n    pypi\n\n[pypi]\nusername = __token__\npassword = ${s.pypi}\n`,
    '.netrc': `machine api.acme.io\n  login ada@example.org\n  password ${s.netrc}\n\ndefault login anonymous password guest\n`,
    '.docker/config.json': JSON.stringify(
      { auths: { 'registry.acme.io': { auth: b64(`deploy:${s.dockerPassword}`) }, 'https://index.docker.io/v1/': {} }, credsStore: 'desktop' },
      null,
      '\t',
    ),
    '.kube/config': [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- cluster: {server: "https://k8s.acme.io:6443"}',
      '  name: prod',
      'users:',
      '- name: admin',
      '  user:',
      `    token: ${s.kubeToken}`,
      '- name: cert',
      '  user:',
      `    client-key-data: ${b64(pem)}`,
      '- name: eks',
      '  user:',
      '    exec:',
      '      apiVersion: client.authentication.k8s.io/v1beta1',
      '      command: acme-auth',
      '      env:',
      '      - name: ACME_API_TOKEN',
      `        value: ${s.kubeExec}`,
      '',
    ].join('\n'),
    '.config/gh/hosts.yml': `github.com:\n    users:\n        ada:\n            oauth_token: ${s.gh}\n    git_protocol: https\n    oauth_token: ${s.gh}\n    user: ada\n`,
    '.git-credentials': `https://ada:${s.gitCredential}@github.com\n`,
    '.bash_history': `ls\ncurl -s -H 'Authorization: Bearer ${s.historyBearer}' https://api.acme.io/v1/me\nexport ANTHROPIC_API_KEY=${s.historyAnthropic}\n`,
    '.config/Claude/claude_desktop_config.json': JSON.stringify(
      { mcpServers: { github: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-github'], env: { GITHUB_PERSONAL_ACCESS_TOKEN: s.claudeDesktop } } } },
      null,
      2,
    ),
    '.claude.json': JSON.stringify(
      {
        numStartups: 12,
        projects: {
          '/home/ada/app': {
            mcpServers: {
              acme: { type: 'http', url: 'https://mcp.acme.io/mcp', headers: { Authorization: `Bearer ${s.claudeCodeHeader}` } },
              claude: { command: 'node', args: ['server.js'], env: { ANTHROPIC_API_KEY: s.claudeCodeProject } },
            },
          },
        },
      },
      null,
      2,
    ),
    '.cursor/mcp.json': JSON.stringify({ mcpServers: { acme: { command: 'npx', args: ['-y', '@acme/mcp-server', '--api-key', s.cursorArg] } } }, null, 2),
    '.config/Code/User/mcp.json': `// VS Code MCP servers\n{\n  "servers": {\n    "github": {\n      "type": "stdio",\n      "command": "docker",\n      "args": ["run", "-i", "--rm", "ghcr.io/github/github-mcp-server"],\n      "env": {\n        // TODO: move to an input\n        "GITHUB_PERSONAL_ACCESS_TOKEN": "${s.vscode}",\n      },\n    },\n  },\n}\n`,
    '.codeium/windsurf/mcp_config.json': JSON.stringify({ mcpServers: { search: { serverUrl: `https://search.acme.io/mcp?api_key=${s.windsurfUrl}` } } }, null, 2),
    '.gemini/settings.json': JSON.stringify({ theme: 'Default', mcpServers: { maps: { command: 'npx', args: ['maps-mcp'], env: { GOOGLE_MAPS_API_KEY: s.gemini } } } }, null, 2),
    '.codex/config.toml': `model = "o4-mini"\n\n[mcp_servers.github]\ncommand = "npx"\nargs = ["-y", "@modelcontextprotocol/server-github"]\nenv = { "GITHUB_PERSONAL_ACCESS_TOKEN" = "${s.codex}" }\n`,
    '.continue/config.yaml': `name: Local Assistant\nversion: 1.0.0\nschema: v1\nmodels:\n  - name: Claude\n    provider: anthropic\n    model: claude-sonnet-4\n    apiKey: ${s.continueKey}\n`,
    '.config/zed/settings.json': `// Zed settings\n{\n  "theme": "One Dark",\n  "context_servers": {\n    "brave-search": {\n      "command": {\n        "path": "npx",\n        "args": ["-y", "@modelcontextprotocol/server-brave-search"],\n        "env": { "BRAVE_API_KEY": "${s.zed}" }\n      }\n    }\n  }\n}\n`,
    'code/app/.env': `ANTHROPIC_API_KEY=${s.projectEnv}\n`,
    'code/app/.mcp.json': JSON.stringify({ mcpServers: { github: { command: 'npx', env: { GITHUB_TOKEN: s.projectMcp } } } }, null, 2),
    'code/app/.vscode/mcp.json': `{\n  "servers": {\n    "acme": { "type": "http", "url": "https://mcp.acme.io", "headers": { "X-API-Key": "${s.projectVscode}" } }\n  }\n}\n`,
    'code/app/node_modules/dep/.env': `GITHUB_TOKEN=${s.ignoredDependency}\n`,
    'code/app/src/index.ts': 'export {};\n',
  });
  mkdirSync(join(dir, '.ssh'), { mode: 0o700 });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ada@example.org', '-f', join(dir, '.ssh', 'id_ed25519')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'correct horse battery', '-f', join(dir, '.ssh', 'id_encrypted')]);
  return s;
}

describe('keyward scan home', () => {
  let home: string;
  let s: ReturnType<typeof fakeHome>;
  let report: Report;
  let code: number;
  const at = (file: string, keyPath?: string) => report.findings.filter((f) => f.file === file && (keyPath === undefined || f.keyPath === keyPath));

  beforeAll(async () => {
    home = tempDir('keyward-home-scan-');
    s = fakeHome(home);
    const r = await runCli(['scan', 'home', '--home', home, '--project', join(home, 'code'), '--json', '--show-secrets'], { cwd: home });
    code = r.code;
    expect(r.stderr).toBe('');
    report = json(r.stdout);
  });
  afterAll(() => removeDir(home));

  it('exits 1, scans completely', () => {
    expect(code).toBe(1);
    expect(report.scan.mode).toBe('home');
    expect(report.scan.issues).toEqual([]);
    expect(report.scan.partial).toBe(false);
  });

  it('finds credential files, each value named by its key path', () => {
    expect(at('~/.aws/credentials').map((f) => [f.keyPath, f.secret, f.migratable])).toEqual([
      ['default.aws_access_key_id', s.awsId, true],
      ['default.aws_secret_access_key', s.awsSecret, true],
    ]);
    expect(at('~/.npmrc')).toMatchObject([{ keyPath: '["//registry.npmjs.org/:_authToken"]', secret: s.npm, format: 'npmrc', migratable: true }]);
    expect(at('~/.pypirc')).toMatchObject([{ keyPath: 'pypi.password', secret: s.pypi, line: 7 }]);
    expect(at('~/.netrc')).toMatchObject([{ keyPath: '["api.acme.io"].password', secret: s.netrc, line: 3, migratable: true }]);
    expect(at('~/.docker/config.json')).toMatchObject([{ keyPath: 'auths["registry.acme.io"].auth', secret: s.dockerPassword, decoded: 'base64', migratable: true }]);
    expect(at('~/.config/gh/hosts.yml').map((f) => f.keyPath)).toEqual(['["github.com"].users.ada.oauth_token', '["github.com"].oauth_token']);
    expect(at('~/.git-credentials')).toMatchObject([{ keyPath: 'https://ada@github.com', secret: s.gitCredential, migratable: true }]);
  });

  it('decodes kube config key data, and reads tokens and exec plugin env', () => {
    const kube = at('~/.kube/config');
    expect(kube.map((f) => [f.keyPath, f.ruleId, f.decoded])).toEqual([
      ['users[0].user.token', 'generic-secret-assignment', undefined],
      ['users[1].user.client-key-data', 'private-key-pem', 'base64'],
      ['users[2].user.exec.env[0].value', 'generic-secret-assignment', undefined],
    ]);
    expect(kube[2].secret).toBe(s.kubeExec);
    expect(kube.every((f) => !f.migratable)).toBe(true);
  });

  it('finds unencrypted SSH keys only, and secrets in shell history', () => {
    expect(report.findings.filter((f) => f.file.startsWith('~/.ssh/')).map((f) => [f.file, f.ruleId])).toEqual([['~/.ssh/id_ed25519', 'private-key-openssh']]);
    const history = at('~/.bash_history');
    expect(history.map((f) => [f.line, f.ruleId, f.secret])).toEqual([
      [2, 'http-authorization-header', s.historyBearer],
      [3, 'anthropic-api-key', s.historyAnthropic],
    ]);
    expect(history.every((f) => !f.migratable && f.keyPath === undefined)).toBe(true);
  });

  it('finds secrets in the MCP config of every client: env, headers, args and URLs', () => {
    expect(at('~/.config/Claude/claude_desktop_config.json')).toMatchObject([
      { keyPath: 'mcpServers.github.env.GITHUB_PERSONAL_ACCESS_TOKEN', secret: s.claudeDesktop, migratable: true },
    ]);
    expect(at('~/.claude.json').map((f) => [f.keyPath, f.secret])).toEqual([
      ['projects["/home/ada/app"].mcpServers.acme.headers.Authorization', s.claudeCodeHeader],
      ['projects["/home/ada/app"].mcpServers.claude.env.ANTHROPIC_API_KEY', s.claudeCodeProject],
    ]);
    expect(at('~/.cursor/mcp.json')).toMatchObject([{ keyPath: 'mcpServers.acme.args[3]', secret: s.cursorArg }]);
    expect(at('~/.config/Code/User/mcp.json')).toMatchObject([{ keyPath: 'servers.github.env.GITHUB_PERSONAL_ACCESS_TOKEN', secret: s.vscode, format: 'jsonc', line: 10 }]);
    expect(at('~/.codeium/windsurf/mcp_config.json')).toMatchObject([{ keyPath: 'mcpServers.search.serverUrl', secret: s.windsurfUrl }]);
    expect(at('~/.gemini/settings.json')).toMatchObject([{ keyPath: 'mcpServers.maps.env.GOOGLE_MAPS_API_KEY', secret: s.gemini }]);
    expect(at('~/.codex/config.toml')).toMatchObject([{ keyPath: 'mcp_servers.github.env.GITHUB_PERSONAL_ACCESS_TOKEN', secret: s.codex, format: 'toml' }]);
    expect(at('~/.continue/config.yaml')).toMatchObject([{ keyPath: 'models[0].apiKey', secret: s.continueKey }]);
    expect(at('~/.config/zed/settings.json')).toMatchObject([{ keyPath: 'context_servers.brave-search.command.env.BRAVE_API_KEY', secret: s.zed }]);
  });

  it('looks through project directories, but not into dependencies', () => {
    expect(at('~/code/app/.env')).toMatchObject([{ keyPath: 'ANTHROPIC_API_KEY', secret: s.projectEnv, format: 'env', migratable: true }]);
    expect(at('~/code/app/.mcp.json')).toMatchObject([{ keyPath: 'mcpServers.github.env.GITHUB_TOKEN', secret: s.projectMcp }]);
    expect(at('~/code/app/.vscode/mcp.json')).toMatchObject([{ keyPath: 'servers.acme.headers.X-API-Key', secret: s.projectVscode }]);
    expect(report.findings.some((f) => f.secret === s.ignoredDependency)).toBe(false);
  });

  it('lists every location it checked, present or not', () => {
    const byPath = new Map(report.scan.locations.map((l) => [l.path, l]));
    expect(byPath.get('~/.aws/credentials')).toMatchObject({ status: 'present', client: 'AWS CLI' });
    expect(byPath.get('~/.claude/settings.json')).toMatchObject({ status: 'absent', client: 'Claude Code' });
    expect(byPath.get('~/.ssh/')).toMatchObject({ status: 'present' });
    expect(report.scan.locations.length).toBeGreaterThan(40);
  });

  it('redacts in the text report and lists the locations', async () => {
    // Through HOME this time, as a user runs it.
    const r = await runCli(['scan', 'home'], {
      cwd: home,
      env: {
        HOME: home,
        XDG_CONFIG_HOME: '',
        KUBECONFIG: '',
        DOCKER_CONFIG: '',
        CODEX_HOME: '',
        HISTFILE: '',
        NETRC: '',
        NPM_CONFIG_USERCONFIG: '',
        AWS_SHARED_CREDENTIALS_FILE: '',
      },
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('at mcpServers.github.env.GITHUB_PERSONAL_ACCESS_TOKEN');
    expect(r.stdout).toMatch(/locations: \d+ checked, \d+ present: ~\/\.aws\/credentials/);
    for (const secret of Object.values(s)) expect(r.stdout + r.stderr).not.toContain(secret);
  });

  it('works with baselines like every scan', async () => {
    const baseline = join(home, 'baseline.json');
    const written = await runCli(['scan', 'home', '--home', home, '--write-baseline', baseline], { cwd: home });
    expect(written.code).toBe(0);
    const again = await runCli(['scan', 'home', '--home', home, '--baseline', baseline, '--json'], { cwd: home });
    expect(again.code).toBe(0);
    expect(json(again.stdout).findings).toEqual([]);
    expect(readFileSync(baseline, 'utf8')).not.toContain(s.claudeDesktop);
  });

  it('uses the macOS and Windows locations of Claude Desktop there (resolved per platform)', async () => {
    const { runHomeScan } = await import('../../scanners/scan-home.js');
    const token = githubToken();
    const mac = tempDir();
    writeTree(mac, { 'Library/Application Support/Claude/claude_desktop_config.json': JSON.stringify({ mcpServers: { gh: { env: { GITHUB_TOKEN: token } } } }) });
    const onMac = await runHomeScan({ cwd: mac, home: mac, platform: 'darwin', env: {} });
    expect(onMac.findings.map((f) => [f.file, f.keyPath])).toEqual([['~/Library/Application Support/Claude/claude_desktop_config.json', 'mcpServers.gh.env.GITHUB_TOKEN']]);
    const win = tempDir();
    writeTree(win, { 'AppData/Roaming/Claude/claude_desktop_config.json': JSON.stringify({ mcpServers: { gh: { env: { GITHUB_TOKEN: token } } } }) });
    const onWindows = await runHomeScan({ cwd: win, home: win, platform: 'win32', env: {} });
    expect(onWindows.findings.map((f) => f.file)).toEqual(['~/AppData/Roaming/Claude/claude_desktop_config.json']);
    removeDir(mac);
    removeDir(win);
  });
});

describe('keyward scan home with files in bad shape', () => {
  it('names each invalid file, scans it anyway and the rest, and says the scan is partial', async () => {
    const home = tempDir();
    const token = githubToken();
    writeTree(home, {
      '.config/Claude/claude_desktop_config.json': `{ "mcpServers": { "gh": { "env": { "GITHUB_TOKEN": "${token}" } }\n`,
      '.codex/config.toml': 'model = \n',
      '.kube/config': 'users:\n  - name: a\n   user: [\n',
      '.aws/credentials': '[default]\nthis line is not a setting\n',
    });
    const r = await runCli(['scan', 'home', '--home', home, '--json', '--show-secrets'], { cwd: home });
    expect(r.code).toBe(1);
    const report = json(r.stdout);
    expect(report.scan.partial).toBe(true);
    const issues = Object.fromEntries(report.scan.issues.map((i) => [i.path, i.message]));
    expect(issues['~/.config/Claude/claude_desktop_config.json']).toMatch(/^not valid JSON: \w+ at line 2, column 1$/);
    expect(issues['~/.codex/config.toml']).toMatch(/^not valid TOML: .* at line 1, column \d+$/);
    expect(issues['~/.kube/config']).toMatch(/^not valid YAML: .* at line \d+, column \d+$/);
    expect(issues['~/.aws/credentials']).toBe('not valid INI: line 2 is neither a [section] nor key = value');
    expect(report.findings.map((f) => f.secret)).toEqual([token]);
    expect(report.scan.locations.find((l) => l.path === '~/.codex/config.toml')?.status).toBe('invalid');
    const redacted = await runCli(['scan', 'home', '--home', home], { cwd: home });
    expect(redacted.stdout + redacted.stderr).not.toContain(token);
    expect(redacted.stdout).toContain('partial scan: 4 problems');
    removeDir(home);
  });

  it('reports a file it may not read, and goes on', async () => {
    const home = tempDir();
    const token = githubToken();
    writeTree(home, { '.netrc': `machine a.io password ${randomAlnum(30)}\n`, '.cursor/mcp.json': JSON.stringify({ mcpServers: { gh: { env: { GITHUB_TOKEN: token } } } }) });
    chmodSync(join(home, '.netrc'), 0o000);
    chmodSync(home, 0o755);
    // Root reads anything: drop to an unprivileged user where we are root.
    const asNobody = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'] : [];
    const r = spawnSync(asNobody[0] ?? process.execPath, [...asNobody.slice(1), ...(asNobody.length ? [process.execPath] : []), BIN, 'scan', 'home', '--home', home, '--json'], {
      cwd: home,
      encoding: 'utf8',
      env: { ...process.env, KEYWARD_HOME: join(home, '.kw') },
    });
    expect(r.status).toBe(1);
    const report = json(r.stdout);
    expect(report.scan.issues).toEqual([{ path: '~/.netrc', message: 'cannot read: permission denied' }]);
    expect(report.scan.partial).toBe(true);
    expect(report.scan.locations.find((l) => l.path === '~/.netrc')?.status).toBe('unreadable');
    expect(report.findings.map((f) => f.file)).toEqual(['~/.cursor/mcp.json']);
    removeDir(home);
  });

  it('exits 0 on an empty home', async () => {
    const home = tempDir();
    const r = await runCli(['scan', 'home', '--home', home], { cwd: home });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/No secrets found/);
    expect(r.stdout).toMatch(/locations: \d+ checked, 0 present/);
    removeDir(home);
  });
});

describe('docs/locations.md', () => {
  it('documents every client keyward looks for', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'locations.md'), 'utf8');
    for (const spec of HOME_LOCATIONS) expect(doc, spec.client).toContain(spec.client);
  });
});
