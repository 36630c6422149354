import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { KeywardError } from '../kernel/errors.js';
import { keywardPaths, type KeywardPaths } from '../kernel/paths.js';

export interface DaemonFiles {
  agentSock: string;
  adminSock: string;
  pidFile: string;
  audit: string;
  auditHead: string;
  policy: string;
  vaultIndex: string;
  fileVault: string;
  log: string;
}

export function daemonFiles(paths: KeywardPaths = keywardPaths()): DaemonFiles {
  return {
    agentSock: join(paths.runtime, 'agent.sock'),
    adminSock: join(paths.runtime, 'admin.sock'),
    pidFile: join(paths.runtime, 'daemon.pid'),
    audit: join(paths.state, 'audit.jsonl'),
    auditHead: join(paths.state, 'audit.head'),
    policy: join(paths.config, 'policy.yaml'),
    vaultIndex: join(paths.config, 'vault.json'),
    fileVault: join(paths.state, 'vault.enc'),
    log: join(paths.state, 'daemon.log'),
  };
}

/** Creates a private directory, or checks that an existing one is ours and private. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory()) throw new KeywardError(`${dir} is not a directory (a symbolic link?)`, { hint: 'Remove it; keyward creates its own private directory there.' });
  if (uid !== undefined && st.uid !== uid)
    throw new KeywardError(`${dir} belongs to another user`, { hint: 'Someone else created it: remove it, or set XDG_RUNTIME_DIR / KEYWARD_HOME to a private directory.' });
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

/** Is a daemon answering on this socket? */
export function ping(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, agent: false, path: '/v1/health', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}
