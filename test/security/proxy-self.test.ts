import { spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, removeDir, runCli, tempDir } from '../helpers/cli.js';
import { startDaemonWrapped } from '../helpers/daemon-wrapped.js';
import { apiCall, socketFile, type TestDaemon } from '../helpers/daemon.js';
import { httpUpstream, type Upstream } from '../helpers/upstream.js';
import { HAS_CURL, HAS_PRLIMIT, HAS_SETPRIV, IS_LINUX, IS_ROOT, addEntry, auditText, proxyPort, script, securityDaemon, until } from './fixture.js';

/**
 * The proxy never becomes the caller: CONNECT back to its own port is refused under every name of
 * this machine, each connection is attributed to the process that opened it (another OS user's
 * is closed), and connections are capped per process and in total below the descriptor limit.
 */
const POLICY = `rules:
  - { agent: "mcp:demo", credential: demo-mcp, permission: write, decision: allow }
  - { agent: "victim", credential: openai, permission: chat, decision: allow }
`;

/** curl as a separate process (the upstream runs in this one, so never spawnSync). */
const curl = (args: string[], asNobody = false): Promise<{ status: number | null; stdout: string; stderr: string }> => {
  const cmd = asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', 'curl', ...args] : ['curl', ...args];
  return new Promise((resolve) => {
    const child = spawn(cmd[0], cmd.slice(1), { env: { ...process.env, NO_PROXY: '', no_proxy: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (x: Buffer) => (stdout += x));
    child.stderr.on('data', (x: Buffer) => (stderr += x));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
};

describe.skipIf(!IS_LINUX || !HAS_CURL)('the proxy never becomes the caller', () => {
  let d: TestDaemon;
  let up: Upstream;
  let port = 0;
  const mcpKey = 'mcp_' + 'k'.repeat(32);
  const openaiKey = 'sk-' + 'o'.repeat(40);

  beforeAll(async () => {
    up = await httpUpstream();
    d = await securityDaemon({ policy: POLICY, files: { 'config/providers/openai.yaml': `upstream: ${up.url}\n` } });
    await addEntry(d, 'demo-mcp', mcpKey, 'generic', { helper: 'mcp-http', server: 'demo', upstream: up.url, header: 'authorization', prefix: 'Bearer ' });
    await addEntry(d, 'openai', openaiKey, 'openai');
    port = await proxyPort(d);
  });
  afterAll(async () => {
    await d?.stop();
    await up?.close();
    if (d) removeDir(d.home);
  });

  const sawKey = (key: string) => up.received.some((r) => JSON.stringify(r.headers).includes(key));

  it.skipIf(!IS_ROOT || !HAS_SETPRIV)('attack 3: another OS user tunnelling to the proxy through itself gets no MCP key', async () => {
    const body = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}';
    const viaSelf = await curl(['-sS', '-p', '-x', `http://127.0.0.1:${port}`, '-H', 'content-type: application/json', '-d', body, `http://127.0.0.1:${port}/_mcp/demo/mcp`], true);
    expect(viaSelf.status).not.toBe(0);
    const direct = await curl(['-sS', '-H', 'content-type: application/json', '-d', body, `http://127.0.0.1:${port}/_mcp/demo/mcp`], true);
    expect(JSON.parse(direct.stdout).error.code).toBe('foreign_user'); // the proxy serves the daemon's user only
    expect(sawKey(mcpKey)).toBe(false);
    // The same request from this user reaches the upstream with the key: the refusals above
    // are about who asks.
    const mine = await curl(['-sS', '-m', '5', '-H', 'content-type: application/json', '-d', body, `http://127.0.0.1:${port}/_mcp/demo/mcp`]);
    expect(mine.stderr).not.toContain('Failed to connect');
    expect(sawKey(mcpKey)).toBe(true);
  });

  it("attack 3: a grant token taken from an agent's environment, sent through a CONNECT to the proxy itself, under every name", async () => {
    const holder = spawn(process.execPath, [BIN, 'run', '--agent', 'victim', '--grant', 'openai:chat', '--', 'sh', '-c', 'echo "$OPENAI_API_KEY"; exec sleep 60'], { env: d.env });
    let out = '';
    holder.stdout.on('data', (x: Buffer) => (out += x));
    const stolen = await until(() => /kwg_\w+/.exec(out)?.[0], 'the agent token');
    const before = up.received.length;
    // Sent directly, the token is refused: this process is not in the victim's session.
    const direct = await curl(['-sS', '-H', `authorization: Bearer ${stolen}`, `http://127.0.0.1:${port}/openai/v1/models`]);
    expect(JSON.parse(direct.stdout).error.code).toBe('foreign_session');
    // Through a tunnel to the proxy, under each of its names.
    const names = ['127.0.0.1', 'localhost', '127.0.0.2', '[::1]', '0.0.0.0', '127.1', '2130706433'];
    for (const name of names) {
      const r = await curl(['-sS', '-p', '-x', `http://127.0.0.1:${port}`, '-H', `authorization: Bearer ${stolen}`, `http://${name}:${port}/openai/v1/models`]);
      expect(r.status, `${name}: ${r.stdout}`).not.toBe(0);
      expect(r.stderr, name).toMatch(/CONNECT tunnel failed, response 403|Proxy CONNECT aborted|Recv failure/);
    }
    expect(up.received.length).toBe(before);
    expect(sawKey(openaiKey)).toBe(false);
    expect(auditText(d)).toContain('"reason":"a tunnel to the proxy itself"');
    holder.kill('SIGTERM');
    await new Promise((r) => holder.once('exit', r));
  });
});

// Opens `count` connections to the proxy (half of them CONNECT tunnels back to the proxy) and
// keeps them until its stdin closes.
const FLOOD = `
import net from 'node:net';
const [port, count] = process.argv.slice(2).map(Number);
const held = [];
for (let i = 0; i < count; i++) {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  s.on('connect', () => { if (i % 2) s.write('CONNECT 127.0.0.1:' + port + ' HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'); });
  held.push(s);
}
console.log('flooding');
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;

describe.skipIf(!IS_LINUX || !HAS_PRLIMIT || !HAS_CURL)('attack 7: a flood of proxy connections under prlimit --nofile=1024', () => {
  it('is refused per process and in total, while keyward run, admin calls and other clients keep working', async () => {
    const home = tempDir('keyward-flood-');
    mkdirSync(join(home, 'config'), { recursive: true, mode: 0o700 });
    writeFileSync(join(home, 'config', 'config.yaml'), 'proxy: { port: 0 }\n');
    const daemon = await startDaemonWrapped(home, ['prlimit', '--nofile=1024:1024', '--']);
    const env = { ...process.env, KEYWARD_HOME: home, NO_COLOR: '1' };
    const status = JSON.parse(spawnSync(process.execPath, [BIN, 'daemon', 'status', '--json'], { env, encoding: 'utf8' }).stdout);
    const port = Number(new URL(status.detail.proxy).port);
    const descriptors = () => readdirSync(`/proc/${status.detail.pid}/fd`).length;
    const flood = script('flood.mjs', FLOOD);
    const foreign = IS_ROOT && HAS_SETPRIV;
    const floods = [spawn('prlimit', ['--nofile=4096:4096', '--', process.execPath, flood, String(port), '600'], { stdio: ['pipe', 'ignore', 'inherit'] })];
    try {
      // The daemon refuses the flood: one process gets its share, another OS user nothing.
      await until(() => daemon.output().includes('too many connections from one process'), 'the per-process cap', 60_000);
      if (foreign) {
        floods.push(
          spawn('prlimit', ['--nofile=4096:4096', '--', 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, flood, String(port), '600'], {
            stdio: ['pipe', 'ignore', 'inherit'],
          }),
        );
        await until(() => daemon.output().includes('the proxy serves uid'), "the other user's refusal", 150_000);
      }
      expect(descriptors()).toBeLessThan(1024);
      // While the floods still hold their connections: keyward run, an admin call, another client.
      const run = await runCli(['run', '--agent', 'during-flood', '--', 'true'], { env });
      expect(run.code, run.stderr).toBe(0);
      const grants = await runCli(['grants', '--json'], { env });
      expect(grants.code, grants.stderr).toBe(0);
      const other = await curl(['-sS', '-m', '20', `http://127.0.0.1:${port}/openai/v1/models`]);
      expect(JSON.parse(other.stdout).error.code).toBe('no_grant_token');
      expect(descriptors()).toBeLessThan(1024);
    } finally {
      for (const f of floods) f.stdin!.end();
      await daemon.kill();
      removeDir(home);
    }
  }, 300_000);
});

/** Opens COUNT connections to a Unix socket, sends nothing, and after 3 s reports what each got. */
const SOCKET_FLOOD = `
import net from 'node:net';
const [path, count] = [process.argv[2], Number(process.argv[3])];
const state = [];
for (let i = 0; i < count; i++) {
  const entry = { data: '', closed: false };
  state.push(entry);
  const s = net.connect(path);
  s.on('error', () => {});
  s.on('data', (d) => (entry.data += d));
  s.on('close', () => (entry.closed = true));
}
setTimeout(() => {
  const refused = state.filter((e) => e.data.startsWith('HTTP/1.1 429') && e.data.includes('"too_many_connections"')).length;
  const open = state.filter((e) => !e.closed && !e.data).length;
  const other = state.filter((e) => e.data && !e.data.startsWith('HTTP/1.1 429')).map((e) => e.data.slice(0, 40));
  console.log(JSON.stringify({ refused, open, dropped: count - refused - open - other.length, other }));
}, 3000);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;

describe.skipIf(!IS_LINUX || !HAS_PRLIMIT)('attack 7b: a flood of connections to agent.sock under prlimit --nofile=1024', () => {
  it('answers the excess 429 too_many_connections, keeps one process to its share, and serves the others', async () => {
    const home = tempDir('keyward-sockflood-');
    const daemon = await startDaemonWrapped(home, ['prlimit', '--nofile=1024:1024', '--']);
    const env = { ...process.env, KEYWARD_HOME: home, NO_COLOR: '1' };
    const flood = spawn(process.execPath, [script('sockflood.mjs', SOCKET_FLOOD), join(home, 'run', 'agent.sock'), '300'], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      let out = '';
      flood.stdout!.on('data', (d: Buffer) => (out += d));
      await until(() => out.includes('\n'), 'the flood report', 60_000);
      const report = JSON.parse(out) as { refused: number; open: number; dropped: number; other: string[] };
      // --nofile=1024: 120 connections per socket, 60 per process (docs/security-model.md).
      expect(report.other).toEqual([]);
      expect(report.open).toBeGreaterThan(0);
      expect(report.open).toBeLessThanOrEqual(60);
      expect(report.refused).toBeGreaterThan(0);
      expect(daemon.output()).toContain('agent.sock: too many connections from one process');
      // While the flood holds its share: keyward run (agent.sock) and an admin call.
      const run = await runCli(['run', '--agent', 'during-flood', '--', 'true'], { env });
      expect(run.code, run.stderr).toBe(0);
      const grants = await runCli(['grants', '--json'], { env });
      expect(grants.code, grants.stderr).toBe(0);
      expect((await apiCall(socketFile(home, 'admin'), 'GET', '/v1/health')).status).toBe(200);
    } finally {
      flood.stdin!.end();
      await daemon.kill();
      removeDir(home);
    }
  }, 120_000);
});

describe.skipIf(!IS_LINUX || !HAS_PRLIMIT)('a soft descriptor limit of 1,024 under a higher hard limit', () => {
  it('is raised to the hard limit at start (Node does so), and the caps follow it', async () => {
    const home = tempDir('keyward-nofile-');
    const daemon = await startDaemonWrapped(home, ['prlimit', '--nofile=1024:4096', '--']);
    const env = { ...process.env, KEYWARD_HOME: home, NO_COLOR: '1' };
    const flood = spawn(process.execPath, [script('sockflood.mjs', SOCKET_FLOOD), join(home, 'run', 'agent.sock'), '300'], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const status = JSON.parse(spawnSync(process.execPath, [BIN, 'daemon', 'status', '--json'], { env, encoding: 'utf8' }).stdout);
      expect(readFileSync(`/proc/${status.detail.pid}/limits`, 'utf8')).toMatch(/^Max open files +4096 +4096 /m);
      let out = '';
      flood.stdout!.on('data', (d: Buffer) => (out += d));
      await until(() => out.includes('\n'), 'the flood report', 60_000);
      // (4096 - 64) / 8 / 2 = 252 per process on agent.sock, where 1,024 would allow 60.
      const report = JSON.parse(out) as { refused: number; open: number };
      expect(report.open).toBe(252);
      expect(report.refused).toBeGreaterThan(0);
    } finally {
      flood.stdin!.end();
      await daemon.kill();
      removeDir(home);
    }
  }, 120_000);
});
