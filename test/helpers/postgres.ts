import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { tempDir } from './cli.js';

/**
 * A private PostgreSQL cluster for one test file: initdb in a temp dir, listening only on a Unix
 * socket there (no TCP port), scram-sha-256 passwords, stopped by `stop()`. As root, the server
 * runs as the `postgres` user (initdb refuses root).
 */
export interface TestPostgres {
  socketDir: string;
  port: number;
  /** A URL for a role on the test database `app`. */
  url(user: string, password: string, database?: string): string;
  /** psql as the cluster's superuser; throws on failure. */
  superuser(sql: string): string;
  stop(): void;
}

export function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length) return join(root, versions[0], 'bin');
  const found = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).stdout.trim();
  return found ? found.replace(/\/initdb$/, '') : undefined;
}

export const HAS_POSTGRES = Boolean(postgresBin()) && spawnSync('psql', ['--version']).status === 0;

export function startPostgres(): TestPostgres {
  const bin = postgresBin()!;
  const dir = tempDir('keyward-pg-');
  const asRoot = userInfo().uid === 0;
  const run = (cmd: string, args: string[]) =>
    execFileSync(asRoot ? 'runuser' : cmd, asRoot ? ['-u', 'postgres', '--', cmd, ...args] : args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (asRoot) {
    chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })));
    chmodSync(dir, 0o700);
  }
  const superPassword = 'super-' + Math.random().toString(36).slice(2);
  writeFileSync(join(dir, 'pw'), superPassword + '\n');
  if (asRoot) execFileSync('chown', ['postgres', join(dir, 'pw')]);
  run(join(bin, 'initdb'), ['-D', join(dir, 'data'), '-U', 'pgsuper', '--auth=scram-sha-256', `--pwfile=${join(dir, 'pw')}`, '-E', 'UTF8', '--no-sync']);
  const port = 5432;
  run(join(bin, 'pg_ctl'), [
    '-D',
    join(dir, 'data'),
    '-l',
    join(dir, 'log'),
    '-w',
    '-o',
    `-c listen_addresses='' -c unix_socket_directories=${dir} -c port=${port} -c fsync=off`,
    'start',
  ]);
  const url = (user: string, password: string, database = 'app') =>
    `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@localhost:${port}/${database}?host=${encodeURIComponent(dir)}`;
  const superuser = (sql: string, database = 'app') =>
    execFileSync('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-Atq', '-c', sql, url('pgsuper', superPassword, database)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  superuser('CREATE DATABASE app', 'postgres');
  return {
    socketDir: dir,
    port,
    url,
    superuser,
    stop() {
      try {
        run(join(bin, 'pg_ctl'), ['-D', join(dir, 'data'), '-m', 'immediate', 'stop']);
      } catch {
        /* already stopped */
      }
    },
  };
}
