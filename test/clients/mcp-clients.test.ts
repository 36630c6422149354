import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, removeDir, tempDir, writeTree } from '../helpers/cli.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { githubToken } from '../helpers/secrets.js';
import { freePort } from '../helpers/images.js';
import { waitFor } from '../helpers/wait.js';
import { CLAUDE, CLIENTS, cleanEnv, GEMINI, keywardOnPath, MCP_SERVER, NODE22, QUIET, requireClients, run } from './helpers.js';

/**
 * Claude Code and Gemini CLI list the MCP servers of configs keyward migrated: before, after and
 * after undo, each server connected (it starts only when it got the real key). Gemini CLI removes
 * every variable whose name holds KEY (KEYWARD_HOME included) before starting a server: the
 * rewritten entry carries where the daemon is itself.
 */
describe('MCP clients on migrated configs', () => {
  let d: TestDaemon;
  let work: string;
  beforeAll(async () => {
    requireClients();
    d = await startDaemon();
    work = tempDir('keyward-clients-mcp-');
  });
  afterAll(async () => {
    await d?.stop();
    removeDir(work);
  });

  it('claude mcp list and gemini mcp list: connected before, after migrate, after undo', async () => {
    const home = join(work, 'home');
    const bin = keywardOnPath(join(work, 'bin'));
    const key = githubToken();
    const sha = createHash('sha256').update(key).digest('hex');
    const server = { command: process.execPath, args: [MCP_SERVER, sha, 'GITHUB_PERSONAL_ACCESS_TOKEN'], env: { GITHUB_PERSONAL_ACCESS_TOKEN: key } };
    const claudeJson = JSON.stringify({ hasCompletedOnboarding: true, mcpServers: { github: { type: 'stdio', ...server } } }, null, 2) + '\n';
    const gemini =
      JSON.stringify(
        {
          // gemini mcp list gives a server 5 s to connect; keyward run's start-up (a session, a
          // release) takes part of that, more on a loaded CI machine.
          mcpServers: { github: { ...server, timeout: 60_000 } },
          security: { folderTrust: { enabled: false } },
          telemetry: { enabled: false },
          privacy: { usageStatisticsEnabled: false },
          general: { disableAutoUpdate: true, enableAutoUpdate: false, enableAutoUpdateNotification: false },
        },
        null,
        2,
      ) + '\n';
    writeTree(home, {
      '.claude.json': claudeJson,
      // Claude Code's own copies of its config hold the same key.
      '.claude/backups/.claude.json.backup.1733300000000': claudeJson,
      '.gemini/settings.json': gemini,
    });
    const env = { ...cleanEnv(), ...QUIET, HOME: home, PATH: `${bin}:${process.env.PATH}`, KEYWARD_HOME: d.home };
    const claude = () => run(CLAUDE, ['mcp', 'list'], { env, cwd: home });
    const geminiList = () => run(NODE22, [GEMINI, 'mcp', 'list'], { env, cwd: home });
    const connected = async (label: string) => {
      const c = await claude();
      expect(c.stdout + c.stderr, `claude, ${label}`).toMatch(/github: .*[✓✔] Connected/);
      const g = await geminiList();
      expect(g.stdout + g.stderr, `gemini, ${label}`).toMatch(/✓ github: .*Connected/);
    };

    await connected('before migration');
    // Claude Code writes its own state into ~/.claude.json: undo gives back what migrate found.
    const claudeBefore = readFileSync(join(home, '.claude.json'), 'utf8');
    const geminiBefore = readFileSync(join(home, '.gemini', 'settings.json'), 'utf8');

    const migrate = await run(process.execPath, [BIN, 'migrate', '--home', home, '--yes', '--json'], { env, cwd: home, timeout: 120_000 });
    expect(migrate.code, migrate.stderr).toBe(0);
    const result = JSON.parse(migrate.stdout);
    const backups = readdirSync(join(home, '.claude', 'backups')).map((f) => join(home, '.claude', 'backups', f));
    for (const file of [join(home, '.claude.json'), join(home, '.gemini', 'settings.json'), ...backups]) {
      const text = readFileSync(file, 'utf8');
      expect(text, file).not.toContain(key);
      const entry = JSON.parse(text).mcpServers.github;
      // keyward from PATH, and where the daemon is: a client's filtered environment cannot lose it.
      expect(entry.command, file).toBe(join(bin, 'keyward'));
      expect(entry.args.slice(0, 3), file).toEqual(['run', '--daemon-env', `KEYWARD_HOME=${d.home}`]);
    }
    expect(migrate.stderr).not.toContain('is not on PATH');

    await connected('after migration');

    const undo = await run(process.execPath, [BIN, 'migrate', 'undo', result.id], { env, cwd: home });
    expect(undo.code, undo.stderr).toBe(0);
    expect(readFileSync(join(home, '.claude.json'), 'utf8')).toBe(claudeBefore);
    expect(readFileSync(join(home, '.gemini', 'settings.json'), 'utf8')).toBe(geminiBefore);
    await connected('after undo');
  });
});

/**
 * The MCP SDK's own client on a remote (HTTP) server whose key was in a header: direct before
 * migration, through the daemon's /_mcp/ route after it (a person asked once, "always" then holds
 * for the next client), direct again after undo. The route needs a fixed proxy port.
 */
describe('the MCP SDK client on a migrated HTTP server', () => {
  let d: TestDaemon;
  let work: string;
  let proxyPort: number;
  beforeAll(async () => {
    requireClients();
    proxyPort = await freePort();
    d = await startDaemon({ files: { 'config/config.yaml': `proxy: { port: ${proxyPort} }\n` } });
    work = tempDir('keyward-clients-mcp-sdk-');
  });
  afterAll(async () => {
    await d?.stop();
    removeDir(work);
  });

  it('the MCP SDK client on an HTTP server: its key in a header before, the /_mcp/ route after migrate (asked once, then "always"), undo', async () => {
    const home = join(work, 'sdk-home');
    const key = githubToken();
    const server = spawn(process.execPath, [join(CLIENTS, 'fixtures', 'mcp-http-server.mjs'), createHash('sha256').update(key).digest('hex')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let serverErr = '';
    server.stderr!.on('data', (b: Buffer) => (serverErr += b));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        server.stdout!.once('data', (b: Buffer) => resolve(Number(String(b).trim())));
        server.once('exit', (code) => reject(new Error(`the MCP server exited ${code}: ${serverErr}`)));
      });
      const config = JSON.stringify({ mcpServers: { tools: { url: `http://127.0.0.1:${port}/mcp`, headers: { Authorization: `Bearer ${key}` } } } }, null, 2) + '\n';
      writeTree(home, { '.cursor/mcp.json': config });
      const env = { ...cleanEnv(), ...QUIET, HOME: home, PATH: `${keywardOnPath(join(work, 'bin'))}:${process.env.PATH}`, KEYWARD_HOME: d.home };
      const client = () => run(process.execPath, [join(CLIENTS, 'fixtures', 'mcp-http-client.mjs'), join(home, '.cursor', 'mcp.json'), 'tools'], { env, cwd: home });
      const works = (r: { code: number; stdout: string; stderr: string }, label: string) => {
        expect(r.code, `${label}: ${r.stderr}\n${serverErr}`).toBe(0);
        expect(JSON.parse(r.stdout), label).toEqual({ tools: ['ping'], text: 'pong' });
      };
      works(await client(), 'before migration');

      const migrate = await run(process.execPath, [BIN, 'migrate', '--home', home, '--yes', '--json'], { env, cwd: home, timeout: 120_000 });
      expect(migrate.code, migrate.stderr).toBe(0);
      const result = JSON.parse(migrate.stdout);
      const migrated = JSON.parse(readFileSync(join(home, '.cursor', 'mcp.json'), 'utf8')).mcpServers.tools;
      // The daemon's proxy, and no key.
      expect(migrated).toEqual({ url: `http://127.0.0.1:${proxyPort}/_mcp/tools/mcp` });

      // The first client is asked about: "always" lets it through and writes a rule that takes effect.
      const asked = async () => (await d.api('admin', 'GET', '/v1/consent')).body.pending.find((c: { agent: string }) => c.agent === 'mcp:tools') as { id: string } | undefined;
      const first = client();
      const pending = await waitFor('a consent request for mcp:tools', asked, { timeoutMs: 60_000 });
      const always = await d.cli(['consent', 'allow', pending.id, '--always']);
      expect(always.code, always.stderr).toBe(0);
      works(await first, 'after migration, first client');
      // The next client is not asked.
      works(await client(), 'after migration, next client');
      const audit = JSON.parse((await d.cli(['audit', '--agent', 'mcp:tools', '--json'])).stdout);
      expect(audit.filter((a: { event: string }) => a.event === 'consent.request')).toHaveLength(1);
      expect(JSON.stringify(audit)).not.toContain(key);

      const undo = await run(process.execPath, [BIN, 'migrate', 'undo', result.id], { env, cwd: home });
      expect(undo.code, undo.stderr).toBe(0);
      expect(readFileSync(join(home, '.cursor', 'mcp.json'), 'utf8')).toBe(config);
      works(await client(), 'after undo');
    } finally {
      server.kill();
    }
  });
});
