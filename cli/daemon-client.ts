import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { daemonFiles, ensurePrivateDir, ping } from '../daemon/files.js';
import { keywardPaths } from '../kernel/paths.js';
import { KeywardError } from '../kernel/errors.js';

/**
 * A typed client for the daemon's two sockets. API errors become KeywardErrors carrying the
 * daemon's message and hint; a daemon that is not running says how to start it.
 */
export type SocketName = 'agent' | 'admin';

export interface CallOptions {
  token?: string;
  /** Milliseconds before giving up on the response. */
  timeout?: number;
}

export function socketPath(socket: SocketName, env: NodeJS.ProcessEnv = process.env): string {
  if (socket === 'agent' && env.KEYWARD_AGENT_SOCK) return env.KEYWARD_AGENT_SOCK;
  const files = daemonFiles(keywardPaths(env));
  return socket === 'agent' ? files.agentSock : files.adminSock;
}

export interface ApiResponse<T> {
  status: number;
  body: T;
}

/** One HTTP request over a Unix socket; resolves with any status, rejects only on transport errors. */
export function rawCall<T = Record<string, unknown>>(socket: SocketName, method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<ApiResponse<T>> {
  const target = socketPath(socket);
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    const req = request(
      {
        socketPath: target,
        // A fresh connection per call: a kept-alive one can be closed by the daemon's idle timeout
        // just as it is reused (EPIPE), and long-lived callers (keyward run) call minutes apart.
        agent: false,
        method,
        path,
        timeout: options.timeout ?? 30_000,
        headers: {
          ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          try {
            resolve({ status: res.statusCode ?? 0, body: (text ? JSON.parse(text) : {}) as T });
          } catch {
            reject(new KeywardError(`the daemon sent a response that is not JSON (${res.statusCode})`, { hint: 'Is something else listening on the keyward socket?' }));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
        reject(new KeywardError('the keyward daemon is not running', { code: 'daemon_down', hint: 'Start it with: keyward daemon start' }));
      } else if (error.message === 'timeout') {
        reject(new KeywardError(`the daemon did not answer ${method} ${path} in time`, { code: 'timeout', hint: 'Check it with: keyward daemon status' }));
      } else if (error.code === 'EACCES') {
        reject(new KeywardError(`no permission to use ${target}`, { hint: 'The sockets belong to the user who started the daemon.' }));
      } else {
        reject(new KeywardError(`cannot reach the daemon: ${error.message}`, { code: 'daemon_down' }));
      }
    });
    if (payload) req.write(payload);
    req.end();
  });
}

/** Like rawCall, but any non-2xx status is an error with the daemon's message and hint. */
export async function call<T = Record<string, unknown>>(socket: SocketName, method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<T> {
  const r = await rawCall<T & { error?: { code: string; message: string; hint?: string } }>(socket, method, path, body, options);
  if (r.status >= 200 && r.status < 300) return r.body;
  const error = r.body.error;
  throw new KeywardError(error?.message ?? `the daemon answered ${r.status}`, { code: error?.code ?? 'api_error', hint: error?.hint });
}

export { ping };

/** admin.sock of this user's daemon. */
export function adminSocket(): string {
  return daemonFiles(keywardPaths()).adminSock;
}

const runJs = () => fileURLToPath(new URL('../../bin/run.js', import.meta.url));

/**
 * Starts the daemon in the background if it is not running (idempotent) and waits until it
 * answers. Its output goes to daemon.log in the state directory.
 */
export async function ensureDaemon(options: { timeoutMs?: number; passphrase?: string } = {}): Promise<{ started: boolean; pid?: number }> {
  const paths = keywardPaths();
  const files = daemonFiles(paths);
  if (await ping(files.adminSock)) return { started: false };
  ensurePrivateDir(paths.state);
  const logFd = openSync(files.log, 'a', 0o600);
  // The file vault's passphrase goes to the daemon through a pipe, never its environment: a
  // process's initial environment stays readable in /proc/<pid>/environ for its whole life.
  const passphrase = options.passphrase ?? process.env.KEYWARD_VAULT_PASSPHRASE;
  const env = { ...process.env };
  delete env.KEYWARD_VAULT_PASSPHRASE;
  const child = spawn(process.execPath, [runJs(), 'daemon', 'start', '--foreground', ...(passphrase ? ['--passphrase-stdin'] : [])], {
    detached: true,
    stdio: [passphrase ? 'pipe' : 'ignore', logFd, logFd],
    env,
  });
  if (passphrase) {
    child.stdin!.on('error', () => {});
    child.stdin!.end(passphrase + '\n');
  }
  closeSync(logFd);
  let exited: number | null = null;
  child.on('exit', (code) => (exited = code ?? 1));
  child.unref();
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  while (Date.now() < deadline) {
    if (await ping(files.adminSock, 500)) return { started: true, pid: child.pid };
    if (exited !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const tail = readTail(files.log);
  throw new KeywardError(`the daemon did not start${exited !== null ? ` (it exited with ${exited})` : ''}`, {
    code: 'daemon_start_failed',
    hint: tail ? `Its log (${files.log}) ends with:\n    ${tail}` : `See ${files.log}.`,
  });
}

function readTail(file: string): string | undefined {
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n').slice(-3);
    return lines
      .map((l) => {
        try {
          const e = JSON.parse(l) as { msg?: string; error?: string; hint?: string };
          return [e.msg, e.error, e.hint].filter(Boolean).join(': ');
        } catch {
          return l;
        }
      })
      .join('\n    ');
  } catch {
    return undefined;
  }
}
