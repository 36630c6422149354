import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, type AuditRecord } from '../../../daemon/audit/log.js';
import { Broker } from '../../../daemon/broker/broker.js';
import { DEFAULT_POLICY } from '../../../daemon/policy/policy.js';
import { loadProviders } from '../../../daemon/providers/registry.js';
import { adminRoutes, type RouteDeps } from '../../../daemon/server/routes.js';
import type { Context } from '../../../daemon/server/http.js';
import type { Vault } from '../../../daemon/vault/vault.js';

/**
 * The admin socket's caller check, in-process against real processes: the peer is a real child
 * of this test, so its ancestry and environment are read from /proc as the daemon reads them.
 * Each refusal reason is tested on its own, so turning either one off fails a test.
 */
const linux = process.platform === 'linux';

let dir: string;
let audit: AuditLog;
let broker: Broker;
const children: ChildProcess[] = [];

/** A process that waits (for stdin to close), with exactly the environment given. */
function child(env: NodeJS.ProcessEnv): Promise<number> {
  const p = spawn(process.execPath, ['-e', 'process.stdin.resume()'], { env, stdio: ['pipe', 'ignore', 'ignore'] });
  children.push(p);
  return new Promise((resolve, reject) => {
    p.once('spawn', () => resolve(p.pid!));
    p.once('error', reject);
  });
}

/** A grandchild: `sh` starts `sleep`, so the session root is two generations up. */
function grandchild(env: NodeJS.ProcessEnv): Promise<{ parent: number; pid: number }> {
  const p = spawn('sh', ['-c', 'sleep 60 & echo $!; wait'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(p);
  return new Promise((resolve, reject) => {
    p.stdout!.once('data', (d: Buffer) => resolve({ parent: p.pid!, pid: Number(d.toString().trim()) }));
    p.once('error', reject);
  });
}

function call(peer: number | undefined, path = '/v1/status', method = 'GET', identity?: 'off' | 'fail-closed') {
  const router = adminRoutes({
    broker,
    vault: { list: () => [], store: { kind: 'keychain' } } as unknown as Vault,
    audit,
    version: 'test',
    status: () => ({ ok: true }),
    reloadPolicy: async () => ({ ok: true, problems: [] }),
    shutdown: () => {},
    approvers: new Set(),
    proxy: () => undefined,
    forgetSecret: () => {},
    sealer: { seal: async (b) => b, unseal: async (b) => b },
    findings: {} as RouteDeps['findings'],
    config: { pending: () => null, apply: async () => ({ applied: 'none' }) },
    vaultLocked: () => false,
    unlockVault: async () => {},
  });
  const found = router.match(method, path);
  if (!found || found === 'method') throw new Error(`no route ${method} ${path}`);
  const ctx = {
    req: { method },
    url: new URL(`http://keyward.local${path}`),
    params: found.params,
    peer: async () => peer,
    ...(identity ? { identity } : {}),
  } as unknown as Context;
  return found.handler(ctx);
}

async function refusals(): Promise<AuditRecord[]> {
  await audit.append({ event: 'test.flush' });
  return readFileSync(join(dir, 'audit.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AuditRecord)
    .filter((r) => r.event === 'admin.refused');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'keyward-admin-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(async () => {
  rmSync(join(dir, 'audit.jsonl'), { force: true });
  audit = new AuditLog(join(dir, 'audit.jsonl'), join(dir, 'audit.head'));
  await audit.open();
  broker = new Broker({
    vault: { describe: () => undefined } as unknown as Vault,
    audit,
    policy: () => DEFAULT_POLICY,
    providers: () => loadProviders(join(dir, 'none')),
    delegator: 'ada',
    defaultTtlMs: 60_000,
    consentTimeoutMs: 60_000,
  });
});
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await broker.shutdown();
  await audit.close();
});

const CLEAN_ENV = { PATH: process.env.PATH };

describe.skipIf(!linux)('admin.sock caller check (Linux: /proc)', () => {
  it('serves a caller outside every session, with no session in its environment', async () => {
    const pid = await child(CLEAN_ENV);
    await broker.openSession({ agent: 'elsewhere', pid: 999_999 });
    expect(await call(pid)).toEqual({ status: 200, body: { ok: true } });
    expect(await refusals()).toEqual([]);
  });

  it('refuses a process whose ancestor is a session root, even with a clean environment', async () => {
    const { parent, pid } = await grandchild(CLEAN_ENV);
    const { session } = await broker.openSession({ agent: 'claude-code', pid: parent });
    await expect(call(pid)).rejects.toMatchObject({
      code: 'admin_refused',
      message: `admin.sock refuses this caller: process ${pid} runs inside agent session ${session.id} (claude-code)`,
    });
    expect(await refusals()).toEqual([
      expect.objectContaining({ pid, agent: 'claude-code', session: session.id, chain: ['ada', 'claude-code'], detail: { route: 'GET /v1/status' } }),
    ]);
  });

  it('refuses the session root itself', async () => {
    const pid = await child(CLEAN_ENV);
    const { session } = await broker.openSession({ agent: 'claude-code', pid });
    await expect(call(pid, '/v1/vault')).rejects.toMatchObject({ code: 'admin_refused', message: expect.stringContaining(`inside agent session ${session.id}`) });
  });

  it('refuses a process carrying KEYWARD_SESSION, outside every session tree', async () => {
    const pid = await child({ ...CLEAN_ENV, KEYWARD_SESSION: 'kws_anything' });
    await expect(call(pid, '/v1/consent')).rejects.toMatchObject({
      code: 'admin_refused',
      message: 'admin.sock refuses this caller: the calling process carries KEYWARD_SESSION in its environment',
    });
    const [r] = await refusals();
    expect(r).toMatchObject({ pid, reason: 'the calling process carries KEYWARD_SESSION in its environment', detail: { route: 'GET /v1/consent' } });
    expect(r.session).toBeUndefined();
    expect(r.agent).toBeUndefined();
  });

  it('does not treat a session that does not own its process tree as an ancestor', async () => {
    const { parent, pid } = await grandchild(CLEAN_ENV);
    await broker.openSession({ agent: 'editor', pid: parent, tree: false });
    expect(await call(pid)).toEqual({ status: 200, body: { ok: true } });
  });

  it('refuses a caller it cannot identify (fail closed)', async () => {
    await expect(call(undefined, '/v1/vault')).rejects.toMatchObject({
      code: 'admin_refused',
      message: 'admin.sock refuses this caller: the calling process could not be identified',
    });
    const [r] = await refusals();
    expect(r).toMatchObject({ reason: 'the calling process could not be identified', detail: { route: 'GET /v1/vault' } });
    expect(r.pid).toBeUndefined();
  });

  it('says what to do instead', async () => {
    await expect(call(undefined)).rejects.toMatchObject({
      code: 'admin_refused',
      hint: 'Administrative commands (vault, consent answers, revoke) must be run by you, outside any `keyward run` session.',
    });
  });

  it('refuses a caller whose environment it cannot read (the process is gone)', async () => {
    const p = spawn(process.execPath, ['-e', ''], { env: CLEAN_ENV, stdio: 'ignore' });
    const pid = await new Promise<number>((resolve) => p.once('exit', () => resolve(p.pid!)));
    await expect(call(pid)).rejects.toMatchObject({
      code: 'admin_refused',
      message: `admin.sock refuses this caller: the environment of process ${pid} cannot be read`,
    });
  });

  it('with security.requireCallerIdentity, says that the platform gives no identity', async () => {
    await expect(call(undefined, '/v1/vault', 'GET', 'fail-closed')).rejects.toMatchObject({
      code: 'admin_refused',
      message: 'admin.sock refuses this caller: this platform gives no peer identity, so admin calls are refused (security.requireCallerIdentity in config.yaml)',
    });
  });

  it('checks nothing when caller identity is off (the configuration says so)', async () => {
    const pid = await child({ ...CLEAN_ENV, KEYWARD_SESSION: 'kws_anything' });
    await broker.openSession({ agent: 'claude-code', pid });
    expect(await call(pid, '/v1/status', 'GET', 'off')).toEqual({ status: 200, body: { ok: true } });
    expect(await refusals()).toEqual([]);
  });

  it('keeps health open to anyone', async () => {
    expect(await call(undefined, '/v1/health')).toMatchObject({ status: 200, body: { ok: true } });
    expect(await refusals()).toEqual([]);
  });
});
