import { homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

/**
 * Where keyward keeps things. `KEYWARD_HOME=DIR` puts everything under one directory (tests use
 * it); otherwise the XDG base directories, with their documented fallbacks.
 */
export interface KeywardPaths {
  /** `config.yaml`, `policy.yaml`, `providers/`. */
  config: string;
  /** `audit.jsonl`, the file vault, migration journal and backups. */
  state: string;
  /** Sockets and the pid file: a 0700 directory. */
  runtime: string;
  /** Derived data that can be thrown away. */
  cache: string;
}

export function keywardPaths(env: NodeJS.ProcessEnv = process.env): KeywardPaths {
  const home = env.KEYWARD_HOME;
  if (home) {
    return { config: join(home, 'config'), state: join(home, 'state'), runtime: join(home, 'run'), cache: join(home, 'cache') };
  }
  const userHome = env.HOME || homedir();
  const uid = typeof process.getuid === 'function' ? process.getuid() : userInfo().username;
  return {
    config: join(env.XDG_CONFIG_HOME || join(userHome, '.config'), 'keyward'),
    state: join(env.XDG_STATE_HOME || join(userHome, '.local', 'state'), 'keyward'),
    runtime: env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'keyward') : join(tmpdir(), `keyward-${uid}`),
    cache: join(env.XDG_CACHE_HOME || join(userHome, '.cache'), 'keyward'),
  };
}
