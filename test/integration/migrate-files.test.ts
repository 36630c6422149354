import { lstatSync, readFileSync, readlinkSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, removeDir, runCli, tempDir, writeTree } from '../helpers/cli.js';
import { HAS_KEYRING, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { awsKeyId, githubToken, randomAlnum } from '../helpers/secrets.js';

/**
 * Files as people keep them: a credentials file that is a dotfile manager's symlink; a keyward
 * that is not installed (run from a checkout); a proxy port another program holds.
 */
describe.skipIf(!HAS_KEYRING)('keyward migrate and where files and programs really are', () => {
  let d: TestDaemon;
  let work: string;
  beforeAll(async () => {
    d = await startDaemon();
    work = tempDir('keyward-migrate-files-');
  });
  afterAll(async () => {
    await d?.stop();
    removeDir(work);
  });

  it('rewrites a symlinked file at its target and keeps the link; without keyward on PATH it names the checkout and warns', async () => {
    const home = join(work, 'home');
    const id = awsKeyId();
    const secret = `${randomAlnum(20)}/${randomAlnum(19)}`;
    const credentials = `[default]\naws_access_key_id = ${id}\naws_secret_access_key = ${secret}\n`;
    writeTree(home, { 'dotfiles/aws/credentials': credentials, '.aws/.keep': '' });
    const target = join(home, 'dotfiles', 'aws', 'credentials');
    symlinkSync('../dotfiles/aws/credentials', join(home, '.aws', 'credentials'));
    // A PATH without keyward on it.
    const r = await runCli(['migrate', '--home', home, '--yes', '--json'], { cwd: home, env: { ...d.env, HOME: home, PATH: '/usr/bin:/bin' } });
    expect(r.code, r.stderr).toBe(0);
    expect(lstatSync(join(home, '.aws', 'credentials')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(home, '.aws', 'credentials'))).toBe('../dotfiles/aws/credentials');
    const after = readFileSync(target, 'utf8');
    expect(after).not.toContain(secret);
    expect(after).toContain(`credential_process = ${process.execPath} ${BIN} aws-credentials --profile default`);
    expect(r.stderr).toContain(`warning: keyward is not on PATH, so the configs name ${process.execPath} ${BIN}`);

    const undo = await runCli(['migrate', 'undo', JSON.parse(r.stdout).id], { cwd: home, env: { ...d.env, HOME: home } });
    expect(undo.code, undo.stderr).toBe(0);
    expect(lstatSync(join(home, '.aws', 'credentials')).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, 'utf8')).toBe(credentials);
  }, 120_000);

  it('refuses to point an HTTP MCP server at a proxy port the daemon could not take', async () => {
    // Another program holds the configured port: the daemon's proxy falls back to another one.
    const holder: Server = createServer((_req, res) => res.end('not keyward'));
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as AddressInfo).port;
    const other = await startDaemon({ files: { 'config/config.yaml': `proxy: { port: ${port} }\n` } });
    try {
      const status = (await other.api('admin', 'GET', '/v1/status')).body.proxyPort;
      expect(status).toMatchObject({ configured: port, fallback: true });
      const home = join(work, 'home-port');
      const token = githubToken();
      const config =
        JSON.stringify({ mcpServers: { remote: { type: 'http', url: 'https://mcp.example.test/mcp', headers: { Authorization: `Bearer ${token}` } } } }, null, 2) + '\n';
      writeTree(home, { '.cursor/mcp.json': config });
      const r = await runCli(['migrate', '--home', home, '--dry-run', '--json'], { cwd: home, env: { ...other.env, HOME: home } });
      const plan = JSON.parse(r.stdout);
      expect(plan.files).toEqual([]);
      expect(plan.skipped.map((s: { reason: string }) => s.reason)).toEqual([
        `MCP server remote cannot be pointed at keyward's proxy: port ${port} (proxy.port in config.yaml) is taken by another program, so the daemon's proxy listens on ${status.actual}: free port ${port} or set proxy.port to a free one, restart the daemon (keyward daemon stop; keyward daemon start) and migrate again`,
      ]);
      expect(readFileSync(join(home, '.cursor', 'mcp.json'), 'utf8')).toBe(config);
    } finally {
      await other.stop();
      await new Promise<void>((r) => holder.close(() => r()));
    }
  }, 120_000);
});
