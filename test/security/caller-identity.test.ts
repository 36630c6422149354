import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir } from '../helpers/cli.js';
import { socketFile, type TestDaemon } from '../helpers/daemon.js';
import { IS_LINUX, addEntry, auditText, script, securityDaemon } from './fixture.js';

/**
 * Admin from inside an agent session. The daemon learns who calls admin.sock from the kernel
 * (SO_PEERCRED), so text an attacker controls (socket paths in `ss` output) and depth (a chain
 * of processes longer than any walk limit) no longer decide.
 */

// Connects to admin.sock, learns the daemon-side inode of that connection (from ss, as the
// attacker did), binds and connects ~64 Unix sockets whose paths hold a forged `ss` line naming
// pid 1 for that inode, then asks for the vault list. Prints the HTTP status line and body.
const FORGE = `
import net from 'node:net';
import { once } from 'node:events';
import { readlinkSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
const [adminSock, dir] = process.argv.slice(2);
const admin = net.connect(adminSock);
await once(admin, 'connect');
const mine = /socket:\\[(\\d+)\\]/.exec(readlinkSync('/proc/self/fd/' + admin._handle.fd))[1];
let daemonSide = '0';
try {
  for (const line of execFileSync('ss', ['-xpnH']).toString().split('\\n')) {
    const f = line.trim().split(/\\s+/);
    if (f[5] === mine) daemonSide = f[7];
  }
} catch {}
const forged = '\\nu_str ESTAB 0 0 * 1 * ' + daemonSide + ' users:(("init",pid=1,fd=3))\\n';
const held = [];
for (let i = 0; i < 64; i++) {
  const path = dir + '/' + i + forged;
  const server = net.createServer((s) => held.push(s));
  server.listen(path);
  await once(server, 'listening');
  const c = net.connect(path);
  await once(c, 'connect');
  held.push(server, c);
}
admin.write('GET /v1/vault HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n');
let text = '';
admin.on('data', (d) => (text += d));
await once(admin, 'end');
console.log(JSON.stringify({ daemonSide, reply: text }));
process.exit(0);
`;

// GET /v1/vault on admin.sock; prints the status and body as one JSON line.
const PROBE = `
import { request } from 'node:http';
const req = request({ socketPath: process.argv[2], path: '/v1/vault', method: 'GET', agent: false }, (res) => {
  let text = '';
  res.on('data', (d) => (text += d));
  res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, body: text })));
});
req.end();
`;

describe.skipIf(!IS_LINUX)('caller identity from the kernel', () => {
  let d: TestDaemon;
  const secret = 'sk-live-' + 'x'.repeat(24);

  beforeAll(async () => {
    d = await securityDaemon();
    await addEntry(d, 'db', secret);
  });
  afterAll(async () => {
    await d?.stop();
    if (d) removeDir(d.home);
  });

  it('says in `daemon status` how callers are identified', async () => {
    const status = await d.cli(['daemon', 'status']);
    expect(status.stdout).toMatch(/callers +from the kernel \(sockets SO_PEERCRED, proxy \/proc\/net\/tcp\)/);
    const json = JSON.parse((await d.cli(['daemon', 'status', '--json'])).stdout);
    expect(json.detail.callerIdentity).toMatchObject({ mode: 'kernel', unix: 'SO_PEERCRED', tcp: '/proc/net/tcp' });
  });

  it('attack 1: forged `ss` lines in socket paths do not make a session process pid 1', async () => {
    const attacker = script('forge.mjs', FORGE);
    const dir = script('x', '').replace(/\/x$/, '');
    const r = await d.cli(['run', '--agent', 'evil', '--', process.execPath, attacker, socketFile(d.home, 'admin'), dir], { timeout: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.reply).toMatch(/^HTTP\/1\.1 403/);
    expect(out.reply).toContain('"code":"admin_refused"');
    expect(out.reply).not.toContain('"entries"');
    expect(auditText(d)).toMatch(/"event":"admin\.refused"[^\n]*"agent":"evil"[^\n]*"route":"GET \/v1\/vault"/);
    removeDir(dir);
  });

  it('attack 10: a process 260 levels below the session root, with its environment cleared, is still inside', async () => {
    const probe = script('probe.mjs', PROBE);
    // Each level is a shell that waits for the next: the chain really is 260 processes deep.
    const deep = script('deep.sh', '#!/bin/sh\nn=$1\nshift\nif [ "$n" -gt 0 ]; then sh "$0" $((n - 1)) "$@"; else exec env -i "$@"; fi\n');
    // The probe works from outside any session: the refusal below is the session's doing.
    const control = JSON.parse((await import('node:child_process')).execFileSync(process.execPath, [probe, socketFile(d.home, 'admin')]).toString());
    expect(control.status).toBe(200);
    const r = await d.cli(['run', '--agent', 'deep', '--', 'sh', deep, '260', process.execPath, probe, socketFile(d.home, 'admin')], { timeout: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out.status).toBe(403);
    expect(out.body).toContain('admin_refused');
    expect(out.body).not.toContain(secret);
  });

  it('refuses admin calls from a process that carries KEYWARD_SESSION, even outside any session tree', async () => {
    const probe = script('probe.mjs', PROBE);
    const { execFileSync } = await import('node:child_process');
    const out = JSON.parse(execFileSync(process.execPath, [probe, socketFile(d.home, 'admin')], { env: { ...process.env, KEYWARD_SESSION: 'kws_stale' } }).toString());
    expect(out.status).toBe(403);
    expect(out.body).toContain('carries KEYWARD_SESSION');
  });
});
