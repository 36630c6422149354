import { parse as parseJsonc } from 'jsonc-parser';
import { parse as parseToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { locateMcp, parseKeyPath, rewrite } from '../../../cli/services/migrate/rewrite.js';

const K = ['keyward'];
const GH = 'ghp_0123testtoken0000000000000000000000x';

describe('key paths', () => {
  it('parse back what the scanner writes', () => {
    expect(parseKeyPath('mcpServers.github.env.GITHUB_TOKEN')).toEqual(['mcpServers', 'github', 'env', 'GITHUB_TOKEN']);
    expect(parseKeyPath('projects["/home/ada/app"].mcpServers.x.args[2]')).toEqual(['projects', '/home/ada/app', 'mcpServers', 'x', 'args', 2]);
    expect(locateMcp('projects["/home/ada/app"].mcpServers.db.env.URL')).toEqual({
      server: ['projects', '/home/ada/app', 'mcpServers', 'db'],
      name: 'db',
      field: 'env',
      key: 'URL',
    });
    expect(locateMcp('context_servers.gh.command.env.TOKEN')).toMatchObject({ name: 'gh', field: 'command.env', key: 'TOKEN' });
  });
});

describe('rewriters keep everything but the secret', () => {
  it('.env: value becomes a reference; export, quotes and comments stay', () => {
    const text = '# app settings\nexport OPENAI_API_KEY="sk-abc123secret"  # prod key\nDEBUG=1\nDB=postgres://u:pw123secret@db/app\n';
    const r = rewrite(
      'env',
      text,
      [
        { value: 'sk-abc123secret', line: 2, column: 23, entry: 'openai' },
        { value: 'pw123secret', line: 4, column: 18, entry: 'db' },
      ],
      K,
    );
    expect(r.text).toBe('# app settings\nexport OPENAI_API_KEY="keyward://openai"  # prod key\nDEBUG=1\nDB=keyward://db\n');
    expect(r.values).toEqual({ openai: { value: 'sk-abc123secret' }, db: { value: 'postgres://u:pw123secret@db/app' } });
  });

  it('Claude Desktop JSON: the server starts through keyward run, env key removed, layout kept', () => {
    const text = `{
  "mcpServers": {
    "github": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-github"],
      "env": {
        "GITHUB_PERSONAL_ACCESS_TOKEN": "${GH}"
      }
    },
    "fs": { "command": "npx", "args": ["-y", "server-fs", "/tmp"] }
  },
  "theme": "dark"
}
`;
    const r = rewrite('mcp-json', text, [{ value: GH, line: 7, column: 41, keyPath: 'mcpServers.github.env.GITHUB_PERSONAL_ACCESS_TOKEN', entry: 'github' }], K);
    const after = JSON.parse(r.text);
    expect(after.mcpServers.github).toEqual({
      command: 'keyward',
      args: ['run', '--agent', 'mcp:github', '--env', 'GITHUB_PERSONAL_ACCESS_TOKEN=keyward://github', '--', 'npx', '-y', '@modelcontextprotocol/server-github'],
    });
    expect(after.mcpServers.fs).toEqual({ command: 'npx', args: ['-y', 'server-fs', '/tmp'] });
    expect(after.theme).toBe('dark');
    expect(r.text).not.toContain(GH);
    expect(r.text).toContain('    "fs": { "command": "npx", "args": ["-y", "server-fs", "/tmp"] }'); // untouched lines unchanged
    expect(r.consumers).toEqual([{ entry: 'github', agent: 'mcp:github', mode: 'release', permission: 'release' }]);
  });

  it('VS Code JSONC with comments and trailing commas; an --api-key=… argument', () => {
    const text = `// my servers
{
  "servers": {
    /* search */
    "brave": {
      "type": "stdio",
      "command": "node",
      "args": ["server.js", "--api-key=BSAsecretvalue123",],
    },
  },
}
`;
    const r = rewrite('mcp-json', text, [{ value: 'BSAsecretvalue123', line: 8, column: 38, keyPath: 'servers.brave.args[1]', entry: 'brave' }], K);
    expect(r.text).toContain('// my servers');
    expect(r.text).toContain('/* search */');
    const after = parseJsonc(r.text) as { servers: { brave: { command: string; args: string[]; type: string } } };
    expect(after.servers.brave.type).toBe('stdio');
    expect(after.servers.brave.command).toBe('keyward');
    expect(after.servers.brave.args).toEqual([
      'run',
      '--agent',
      'mcp:brave',
      '--env',
      'KEYWARD_ARG_API_KEY=keyward://brave',
      '--secret-in-argv',
      '--',
      'node',
      'server.js',
      '--api-key=${KEYWARD_ARG_API_KEY}',
    ]);
    // The key ends up in argv: migrate says so.
    expect(r.notes.join('\n')).toMatch(/brave takes its key as a command-line argument.*every user of this machine can read it/);
    expect(r.text).not.toContain('BSAsecretvalue123');
  });

  it('Zed: the command object form', () => {
    const text = `{ "context_servers": { "gh": { "command": { "path": "gh-mcp", "args": [], "env": { "TOKEN": "${GH}" } } } } }\n`;
    const r = rewrite('mcp-json', text, [{ value: GH, line: 1, column: 90, keyPath: 'context_servers.gh.command.env.TOKEN', entry: 'github' }], K);
    expect(JSON.parse(r.text).context_servers.gh.command).toEqual({ path: 'keyward', args: ['run', '--agent', 'mcp:gh', '--env', 'TOKEN=keyward://github', '--', 'gh-mcp'] });
  });

  it('Codex TOML: command and args rewritten, inline env key removed, the file still parses', () => {
    const text = `model = "o3"\n\n[mcp_servers.github]\ncommand = "npx"\nargs = ["-y", "server-github"]\nenv = { "GITHUB_TOKEN" = "${GH}", "LOG" = "info" }\n\n[mcp_servers.other]\ncommand = "x"\n`;
    const r = rewrite('mcp-toml', text, [{ value: GH, line: 6, column: 25, keyPath: 'mcp_servers.github.env.GITHUB_TOKEN', entry: 'github' }], K);
    const after = parseToml(r.text) as { model: string; mcp_servers: Record<string, { command: string; args: string[]; env?: Record<string, string> }> };
    expect(after.model).toBe('o3');
    expect(after.mcp_servers.github).toEqual({
      command: 'keyward',
      args: ['run', '--agent', 'mcp:github', '--env', 'GITHUB_TOKEN=keyward://github', '--', 'npx', '-y', 'server-github'],
      env: { LOG: 'info' },
    });
    expect(after.mcp_servers.other).toEqual({ command: 'x' });
    expect(r.text).not.toContain(GH);
  });

  it('Continue YAML list of servers, comments kept', () => {
    const text = `name: my assistant\n# tools\nmcpServers:\n  - name: github\n    command: npx\n    args: ["-y", "server-github"]\n    env:\n      GITHUB_TOKEN: ${GH}\n`;
    const r = rewrite('mcp-yaml', text, [{ value: GH, line: 8, column: 21, keyPath: 'mcpServers[0].env.GITHUB_TOKEN', entry: 'github' }], K);
    expect(r.text).toContain('# tools');
    expect(parseYaml(r.text).mcpServers[0]).toEqual({
      name: 'github',
      command: 'keyward',
      args: ['run', '--agent', 'mcp:github', '--env', 'GITHUB_TOKEN=keyward://github', '--', 'npx', '-y', 'server-github'],
    });
  });

  it('~/.aws/credentials: the key pair leaves, credential_process comes in', () => {
    const text = '[default]\naws_access_key_id = AKIAEXAMPLEKEYID1234\naws_secret_access_key = abcSECRETabc\nregion = eu-west-1\n\n[other]\naws_access_key_id = AKIAOTHER\n';
    const r = rewrite('aws', text, [{ value: 'abcSECRETabc', line: 3, column: 25, keyPath: 'default.aws_secret_access_key', entry: 'x' }], K);
    expect(r.text).toBe('[default]\ncredential_process = keyward aws-credentials --profile default\nregion = eu-west-1\n\n[other]\naws_access_key_id = AKIAOTHER\n');
    expect(JSON.parse(r.values['aws-default'].value)).toEqual({ AccessKeyId: 'AKIAEXAMPLEKEYID1234', SecretAccessKey: 'abcSECRETabc' });
  });

  it('.npmrc, .pypirc, .netrc, .git-credentials, docker config.json', () => {
    const npm = rewrite(
      'npmrc',
      'registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=npm_abc123\n',
      [{ value: 'npm_abc123', line: 2, column: 35, entry: 'npm' }],
      K,
    );
    expect(npm.text).toBe('registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=${NPM_TOKEN?}\n');
    const pypi = rewrite(
      'pypirc',
      '[distutils]\nindex-servers = pypi\n\n[pypi]\nusername = __token__\npassword = pypi-AgEIsecret\n',
      [{ value: 'pypi-AgEIsecret', line: 6, column: 12, entry: 'pypi' }],
      K,
    );
    expect(pypi.text).toBe('[distutils]\nindex-servers = pypi\n\n[pypi]\nusername = __token__\n');
    const netrc = rewrite(
      'netrc',
      'machine git.example.com\n  login ada\n  password s3cretpass\nmachine other.example.com login bob password keepme\n',
      [{ value: 's3cretpass', line: 3, column: 12, entry: 'x' }],
      K,
    );
    expect(netrc.text).toBe('machine git.example.com\n  login ada\nmachine other.example.com login bob password keepme\n');
    expect(netrc.actions).toEqual([{ kind: 'git-helper', url: 'https://git.example.com', entry: 'git-git.example.com' }]);
    const git = rewrite('git-credentials', 'https://ada:ghp_tok123@github.com\nhttps://bob:other@gitlab.com\n', [{ value: 'ghp_tok123', line: 1, column: 13, entry: 'x' }], K);
    expect(git.text).toBe('https://bob:other@gitlab.com\n');
    expect(JSON.parse(git.values['git-github.com'].value)).toEqual({ username: 'ada', password: 'ghp_tok123' });
    const auth = Buffer.from('ada:dckr_pat_secret').toString('base64');
    const docker = rewrite(
      'docker',
      `{\n  "auths": {\n    "registry.example.com": { "auth": "${auth}" }\n  },\n  "psFormat": "table"\n}\n`,
      [{ value: 'dckr_pat_secret', line: 3, column: 40, keyPath: 'auths["registry.example.com"].auth', entry: 'x' }],
      K,
    );
    expect(JSON.parse(docker.text)).toEqual({ auths: {}, psFormat: 'table', credHelpers: { 'registry.example.com': 'keyward' } });
    expect(JSON.parse(docker.values['docker-registry.example.com'].value)).toEqual({ username: 'ada', secret: 'dckr_pat_secret' });
  });

  it('.npmrc for a registry with a port and a path (Verdaccio, GitHub Packages)', () => {
    const text = 'registry=http://localhost:4873/\n//localhost:4873/:_authToken="tokA"\n//npm.pkg.github.com/acme/:_authToken=tokB\n';
    const r = rewrite(
      'npmrc',
      text,
      [
        { value: 'tokA', line: 2, column: 27, entry: 'npm-local' },
        { value: 'tokB', line: 3, column: 38, entry: 'npm-gh' },
      ],
      K,
    );
    expect(r.text).toBe(
      'registry=http://localhost:4873/\n//localhost:4873/:_authToken=${NPM_TOKEN_LOCALHOST_4873?}\n//npm.pkg.github.com/acme/:_authToken=${NPM_TOKEN_NPM_PKG_GITHUB_COM?}\n',
    );
    expect(r.values['npm-local']).toEqual({ value: 'tokA', attributes: { helper: 'npm', registry: 'localhost:4873' } });
  });

  it('.git-credentials as git writes it: the port colon percent-encoded; a bad line names itself', () => {
    const text = 'http://ada:tok%2Fone@127.0.0.1%3a18436\nhttps://bob:tok2@github.com/acme/app.git\n';
    const r = rewrite(
      'git-credentials',
      text,
      [
        { value: 'tok/one', line: 1, column: 12, entry: 'x' },
        { value: 'tok2', line: 2, column: 13, entry: 'y' },
      ],
      K,
    );
    expect(r.text).toBe('');
    expect(JSON.parse(r.values['git-127.0.0.1-18436'].value)).toEqual({ username: 'ada', password: 'tok/one' });
    expect(r.actions.map((a) => a.url).sort()).toEqual(['http://127.0.0.1:18436', 'https://github.com']);
    let error: unknown;
    try {
      rewrite('git-credentials', 'not a url tok3\n', [{ value: 'tok3', line: 1, column: 11, entry: 'z' }], K);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ message: 'line 1 is not a credential URL', line: 1 });
  });

  it('.env: an AWS key pair is one entry, each line naming its field', () => {
    const text = 'REGION=eu-west-1\nAWS_ACCESS_KEY_ID=AKIAEXAMPLEKEYID1234\nexport AWS_SECRET_ACCESS_KEY="abcSECRETabc"\n';
    const r = rewrite(
      'env',
      text,
      [
        { value: 'AKIAEXAMPLEKEYID1234', line: 2, column: 19, entry: 'aws' },
        { value: 'abcSECRETabc', line: 3, column: 31, entry: 'aws-2' },
      ],
      K,
    );
    expect(r.text).toBe('REGION=eu-west-1\nAWS_ACCESS_KEY_ID=keyward://aws#AccessKeyId\nexport AWS_SECRET_ACCESS_KEY="keyward://aws#SecretAccessKey"\n');
    expect(Object.keys(r.values)).toEqual(['aws']);
    expect(JSON.parse(r.values.aws.value)).toEqual({ AccessKeyId: 'AKIAEXAMPLEKEYID1234', SecretAccessKey: 'abcSECRETabc' });
  });

  it('refuses a line that no longer holds the secret', () => {
    expect(() => rewrite('env', 'A=changed\n', [{ value: 'old', line: 1, column: 3, entry: 'a' }], K)).toThrow(/no longer holds/);
  });
});

describe('HTTP MCP servers with a key in a header', () => {
  const URL = 'http://127.0.0.1:7419';
  const routes = () => ({ url: URL, used: new Map<string, string>() });

  it('JSON (Claude Code, Cursor, VS Code): the url points at the proxy, the header leaves, the rest stays', () => {
    const text = `{
  "mcpServers": {
    "github": {
      "type": "http",
      "url": "https://api.githubcopilot.com/mcp/?toolsets=repos",
      "headers": { "Authorization": "Bearer ${GH}", "X-Client": "cli" }
    }
  }
}
`;
    const r = rewrite('mcp-json', text, [{ value: GH, line: 6, column: 40, keyPath: 'mcpServers.github.headers.Authorization', entry: 'github-mcp' }], K, routes());
    const after = JSON.parse(r.text);
    expect(after.mcpServers.github).toEqual({ type: 'http', url: `${URL}/_mcp/github/mcp/?toolsets=repos`, headers: { 'X-Client': 'cli' } });
    expect(r.text).not.toContain(GH);
    expect(r.values['github-mcp']).toEqual({
      value: GH,
      provider: 'generic',
      attributes: { helper: 'mcp-http', server: 'github', upstream: 'https://api.githubcopilot.com', header: 'authorization', prefix: 'Bearer ' },
    });
    expect(r.consumers).toEqual([{ entry: 'github-mcp', agent: 'mcp:github', mode: 'proxy', permission: 'write' }]);
  });

  it('Windsurf serverUrl with a bare key header; an emptied headers object goes', () => {
    const text = '{"mcpServers":{"linear":{"serverUrl":"https://mcp.linear.app/sse","headers":{"x-api-key":"lin_api_abc123def456"}}}}';
    const r = rewrite('mcp-json', text, [{ value: 'lin_api_abc123def456', line: 1, column: 80, keyPath: 'mcpServers.linear.headers["x-api-key"]', entry: 'linear' }], K, routes());
    expect(JSON.parse(r.text).mcpServers.linear).toEqual({ serverUrl: `${URL}/_mcp/linear/sse` });
    expect(r.values.linear.attributes).toMatchObject({ header: 'x-api-key', prefix: '', upstream: 'https://mcp.linear.app' });
  });

  it('Continue YAML: requestOptions.headers', () => {
    const text = `name: assistant
mcpServers:
  - name: github
    type: streamable-http
    url: https://api.githubcopilot.com/mcp/
    requestOptions:
      headers:
        Authorization: Bearer ${GH}
`;
    const r = rewrite('mcp-yaml', text, [{ value: GH, line: 8, column: 31, keyPath: 'mcpServers[0].requestOptions.headers.Authorization', entry: 'gh' }], K, routes());
    expect(parseYaml(r.text).mcpServers[0]).toEqual({ name: 'github', type: 'streamable-http', url: `${URL}/_mcp/github/mcp/` });
    expect(r.values.gh.attributes).toMatchObject({ server: 'github', prefix: 'Bearer ' });
  });

  it('refuses what it cannot do safely, with the reason', () => {
    const text = '{"mcpServers":{"x":{"url":"https://x.example/mcp","headers":{"Authorization":"Bearer abc123secret456 extra"}}}}';
    const ref = [{ value: 'abc123secret456', line: 1, column: 60, keyPath: 'mcpServers.x.headers.Authorization', entry: 'x' }];
    expect(() => rewrite('mcp-json', text, ref, K, routes())).toThrow(/text after the secret/);
    const ok = text.replace(' extra', '');
    expect(() => rewrite('mcp-json', ok, ref, K, { used: new Map() })).toThrow(/no fixed port/);
  });

  it('route names: a name the proxy accepts, unique per entry, shared by the same entry', () => {
    const text = (name: string) => `{"mcpServers":{${JSON.stringify(name)}:{"url":"https://x.example/mcp","headers":{"Authorization":"Bearer abc123secret456"}}}}`;
    const ref = (name: string, entry: string) => [{ value: 'abc123secret456', line: 1, column: 60, keyPath: `mcpServers[${JSON.stringify(name)}].headers.Authorization`, entry }];
    const used = new Map([['github', 'old-entry']]);
    const r1 = rewrite('mcp-json', text('github'), ref('github', 'gh'), K, { url: URL, used });
    expect(JSON.parse(r1.text).mcpServers.github.url).toBe(`${URL}/_mcp/github-2/mcp`);
    expect(r1.consumers).toEqual([{ entry: 'gh', agent: 'mcp:github-2', mode: 'proxy', permission: 'write' }]);
    // The same entry in another client's config: the same route.
    expect(JSON.parse(rewrite('mcp-json', text('github'), ref('github', 'gh'), K, { url: URL, used }).text).mcpServers.github.url).toBe(`${URL}/_mcp/github-2/mcp`);
    const spaced = rewrite('mcp-json', text('GitHub Copilot'), ref('GitHub Copilot', 'copilot'), K, { url: URL, used });
    expect(spaced.values.copilot.attributes!.server).toBe('GitHub-Copilot');
  });
});

describe('line endings', () => {
  it('a YAML file written with CRLF keeps CRLF', () => {
    const text = 'name: mine\r\nmcpServers:\r\n  - name: gh\r\n    command: npx\r\n    env:\r\n      GITHUB_TOKEN: ghp_abc123secret # personal\r\n';
    const r = rewrite('mcp-yaml', text, [{ value: 'ghp_abc123secret', line: 6, column: 21, keyPath: 'mcpServers[0].env.GITHUB_TOKEN', entry: 'gh' }], K);
    expect(r.text).not.toContain('ghp_abc123secret');
    expect(r.text.split('\r\n').length).toBeGreaterThan(3);
    expect(r.text.replace(/\r\n/g, '')).not.toContain('\n');
  });
});
