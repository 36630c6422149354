import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { existsSync, mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { BIN, runCli, tempDir, type CliResult } from './cli.js';
import { prepareTestVault, vaultEnv } from './vault.js';

export { HAS_KEYRING } from './vault.js';

export interface TestDaemon {
  home: string;
  env: NodeJS.ProcessEnv;
  process: ChildProcess;
  /** Everything the daemon wrote to stdout and stderr. */
  output(): string;
  cli(args: string[], options?: { input?: string; env?: NodeJS.ProcessEnv; timeout?: number }): Promise<CliResult>;
  api(socket: 'agent' | 'admin', method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

export function socketFile(home: string, socket: 'agent' | 'admin'): string {
  return join(home, 'run', `${socket}.sock`);
}

export function apiCall(socketPath: string, method: string, path: string, body?: unknown, token?: string, raw?: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const payload = raw ?? (body === undefined ? undefined : JSON.stringify(body));
    const req = request(
      { socketPath, agent: false, method, path, headers: { ...(payload ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString('utf8')));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
          } catch {
            resolve({ status: res.statusCode ?? 0, body: text });
          }
        });
      },
    );
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/**
 * The real daemon in the foreground, in a fresh KEYWARD_HOME, as a child of the test. Its vault
 * is the OS keychain where the tests have one, else the encrypted file vault (test/helpers/vault.ts);
 * `vault: false` leaves the home without one, for tests of that case.
 */
export async function startDaemon(options: { home?: string; env?: NodeJS.ProcessEnv; files?: Record<string, string>; vault?: false } = {}): Promise<TestDaemon> {
  const home = options.home ?? tempDir('keyward-daemon-');
  mkdirSync(join(home, 'config'), { recursive: true, mode: 0o700 });
  const { writeFileSync } = await import('node:fs');
  for (const [rel, text] of Object.entries(options.files ?? {})) writeFileSync(join(home, rel), text);
  // Tests run daemons in parallel: each proxy takes a free port unless a test configures one.
  if (!existsSync(join(home, 'config', 'config.yaml'))) writeFileSync(join(home, 'config', 'config.yaml'), 'proxy: { port: 0 }\n');
  if (options.vault !== false) await prepareTestVault(home);
  const env = { ...process.env, KEYWARD_HOME: home, NO_COLOR: '1', ...(options.vault === false ? {} : vaultEnv()), ...options.env };
  const child = spawn(process.execPath, [BIN, 'daemon', 'start', '--foreground'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString('utf8')));
  const deadline = Date.now() + 30_000; // generous: a loaded CI machine starts node slowly
  for (;;) {
    if (existsSync(socketFile(home, 'admin'))) {
      try {
        const r = await apiCall(socketFile(home, 'admin'), 'GET', '/v1/health');
        if (r.status === 200) break;
      } catch {
        /* not yet */
      }
    }
    if (child.exitCode !== null) throw new Error(`daemon exited ${child.exitCode}: ${output}`);
    if (Date.now() > deadline) throw new Error(`daemon did not start: ${output}`);
    await new Promise((r) => setTimeout(r, 30));
  }
  const daemon: TestDaemon = {
    home,
    env,
    process: child,
    output: () => output,
    cli: (args, o = {}) => runCli(args, { env: { ...env, ...o.env }, input: o.input, timeout: o.timeout }),
    api: (socket, method, path, body, token) => apiCall(socketFile(home, socket), method, path, body, token),
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
  return daemon;
}

/** A session opened by a separate process that holds it open; `close()` ends that process. */
export interface HeldSession {
  token: string;
  session: { id: string; chain: string[] };
  pid: number;
  /**
   * A call on agent.sock made by the holder process (inside the session), with the session's
   * token unless another is given ('' for none).
   */
  api(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export async function holdSession(home: string, agent: string, parentToken?: string): Promise<HeldSession> {
  const { fileURLToPath } = await import('node:url');
  const script = fileURLToPath(new URL('./session-holder.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, socketFile(home, 'agent'), agent, ...(parentToken ? [parentToken] : [])], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting = new Map<number, (reply: { status: number; body: any }) => void>();
  let first: ((line: string) => void) | undefined;
  let buffered = '';
  child.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString('utf8');
    let nl: number;
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (first) {
        const f = first;
        first = undefined;
        f(line);
        continue;
      }
      const reply = JSON.parse(line);
      waiting.get(reply.id)?.({ status: reply.status, body: reply.body });
      waiting.delete(reply.id);
    }
  });
  const line = await new Promise<string>((resolve, reject) => {
    first = resolve;
    child.once('exit', (code) => reject(new Error(`session holder exited ${code}`)));
  });
  const reply = JSON.parse(line);
  if (!reply.token) throw new Error(`no session: ${line}`);
  let next = 0;
  return {
    token: reply.token,
    session: reply.session,
    pid: child.pid!,
    api(method, path, body, token) {
      const id = next++;
      if (child.exitCode !== null || child.signalCode !== null) return Promise.reject(new Error('the session holder has exited'));
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        child.stdin!.write(JSON.stringify({ id, method, path, body, token }) + '\n');
      });
    },
    async close() {
      if (child.exitCode !== null) return;
      child.stdin!.end();
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/**
 * One HTTP request over a raw socket, so that a server which answers before reading the whole
 * body (a size limit) is heard: the answer is read even if writing the rest of the body fails.
 * A connection that closes without an answer rejects, so a test cannot mistake it for a refusal.
 */
export function rawRequest(
  socketPath: string,
  method: string,
  path: string,
  body: Buffer,
  options: { chunked?: boolean; /** Declare the body's length but send only its first KiB: the answer must not wait for the rest. */ declareOnly?: boolean } = {},
): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      // The whole answer is in once its JSON body is: stop, whether or not the server closes.
      if (options.declareOnly && /\r\n\r\n[\s\S]*\}$/.test(Buffer.concat(chunks).toString('utf8'))) socket.end();
    });
    socket.on('error', () => {
      /* EPIPE/ECONNRESET while the body is still being written: the answer decides */
    });
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1];
      if (!status) return reject(new Error(`the connection closed without an HTTP answer (got ${JSON.stringify(text.slice(0, 100))})`));
      const raw = text.slice(text.indexOf('\r\n\r\n') + 4);
      let parsed: unknown = raw;
      try {
        parsed = JSON.parse(raw);
      } catch {
        /* not JSON: keep the text */
      }
      resolve({ status: Number(status), body: parsed });
    });
    const framing = options.chunked ? 'transfer-encoding: chunked' : `content-length: ${body.length}`;
    const parts: Buffer[] = [Buffer.from(`${method} ${path} HTTP/1.1\r\nhost: keyward\r\ncontent-type: application/json\r\n${framing}\r\nconnection: close\r\n\r\n`)];
    if (options.chunked) {
      for (let at = 0; at < body.length; at += 16 * 1024) {
        const part = body.subarray(at, at + 16 * 1024);
        parts.push(Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n'));
      }
      parts.push(Buffer.from('0\r\n\r\n'));
    } else parts.push(options.declareOnly ? body.subarray(0, 1024) : body);
    // One write: a server that answers early and closes cannot fail a later write (EPIPE), which
    // would discard its answer unread.
    socket.write(Buffer.concat(parts));
  });
}
