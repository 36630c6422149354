import { chmodSync, closeSync, existsSync, openSync, readFileSync, unlinkSync, watch, writeSync, type FSWatcher } from 'node:fs';
import type { Server, ServerResponse } from 'node:http';
import { hostname, userInfo } from 'node:os';
import { KeywardError } from '../kernel/errors.js';
import { keywardVersion } from '../kernel/version.js';
import { AuditLog } from './audit/log.js';
import { Broker } from './broker/broker.js';
import { minterFor } from './providers/minters/index.js';
import { loadDaemonConfig, type DaemonConfig } from './config.js';
import { daemonFiles, ensurePrivateDir, ping, type DaemonFiles } from './files.js';
import { keywardPaths, type KeywardPaths } from '../kernel/paths.js';
import { appendPolicyRule } from './policy/append.js';
import { loadPolicyFile } from './policy/load.js';
import { DEFAULT_POLICY, type Policy } from './policy/policy.js';
import { loadProviders, type ProviderRegistry } from './providers/registry.js';
import { LocalCA } from './proxy/ca.js';
import { CredentialProxy } from './proxy/proxy.js';
import { createApiServer } from './server/http.js';
import { isAlive } from './server/identity.js';
import { adminRoutes, agentRoutes } from './server/routes.js';
import { FileStore } from './vault/file-store.js';
import { KeychainStore } from './vault/keychain.js';
import type { SecretStore } from './vault/store.js';
import { Sealer } from './vault/sealer.js';
import { Vault } from './vault/vault.js';
import { FindingRecorder, startDaemonWatch, type DaemonWatch } from './watch.js';

export function secretStoreFor(config: DaemonConfig, files: DaemonFiles, env: NodeJS.ProcessEnv): SecretStore {
  if (config.vaultBackend === 'file') return new FileStore(files.fileVault, () => env.KEYWARD_VAULT_PASSPHRASE);
  return new KeychainStore();
}

export interface RunningDaemon {
  files: DaemonFiles;
  stop(reason: string): Promise<void>;
  stopped: Promise<void>;
}

export interface DaemonOptions {
  paths?: KeywardPaths;
  env?: NodeJS.ProcessEnv;
  /** JSON lines go here; undefined silences logging. */
  log?: (line: string) => void;
  logLevel?: 'info' | 'debug';
}

/**
 * Starts the daemon in this process: private directories, one instance per user, the audit
 * log, policy (reloaded on change, last good kept), the vault, and both sockets. Resolves once
 * both sockets listen.
 */
export async function startDaemon(options: DaemonOptions = {}): Promise<RunningDaemon> {
  const paths = options.paths ?? keywardPaths(options.env);
  const env = options.env ?? process.env;
  const files = daemonFiles(paths);
  const debug = options.logLevel === 'debug';
  const log = (entry: Record<string, unknown>) => {
    if (!options.log || (entry.level === 'debug' && !debug)) return;
    options.log(JSON.stringify({ time: new Date().toISOString(), level: 'info', ...entry }));
  };

  for (const dir of [paths.runtime, paths.state, paths.config]) ensurePrivateDir(dir);

  // One daemon per user: a live daemon answers on the socket; a stale socket is replaced.
  if (await ping(files.adminSock)) {
    throw new KeywardError('a keyward daemon is already running for this user', { code: 'already_running', hint: 'See it with: keyward daemon status' });
  }
  const lock = acquirePidFile(files.pidFile);
  for (const sock of [files.agentSock, files.adminSock]) {
    if (existsSync(sock)) unlinkSync(sock);
  }

  const { config, problems: configProblems } = loadDaemonConfig(paths);
  for (const p of configProblems) log({ level: 'warn', msg: 'config.yaml problem, using defaults', problem: `${p.line}:${p.column} ${p.message}` });

  const audit = new AuditLog(files.audit, files.auditHead);
  await audit.open();
  const previous = lastAuditEvent(files.audit);
  await audit.append({
    event: 'daemon.start',
    pid: process.pid,
    reason: 'sessions and grants from earlier runs are void: tokens live only in the daemon that issued them',
    detail: {
      version: keywardVersion(),
      previousShutdown: previous === undefined ? 'none' : previous === 'daemon.stop' ? 'clean' : 'unclean',
      ...(audit.recovered ? { recovered: audit.recovered } : {}),
    },
  });

  let policy: Policy = DEFAULT_POLICY;
  const initial = loadPolicyFile(files.policy);
  if (initial.policy) policy = initial.policy;
  else log({ level: 'warn', msg: 'policy.yaml has problems; the default policy (ask) is in force', problems: initial.problems.map((p) => `${p.line}:${p.column} ${p.message}`) });
  let providers: ProviderRegistry = loadProviders(paths.config);
  for (const p of providers.problems) log({ level: 'warn', msg: 'provider file problem', file: p.file, problem: `${p.line}:${p.column} ${p.message}` });

  const reloadPolicy = async () => {
    const loaded = loadPolicyFile(files.policy);
    providers = loadProviders(paths.config);
    if (!loaded.policy) {
      const problems = loaded.problems.map((p) => `line ${p.line}: ${p.message}`);
      await audit.append({ event: 'policy.reload', decision: 'rejected', reason: `kept the last good policy: ${problems[0]}` });
      log({ level: 'warn', msg: 'policy.yaml rejected, last good policy kept', problems });
      return { ok: false, problems };
    }
    policy = loaded.policy;
    await audit.append({ event: 'policy.reload', decision: 'accepted', detail: { rules: policy.rules.length } });
    log({ msg: 'policy reloaded', rules: policy.rules.length });
    return { ok: true, problems: [] };
  };

  const vault = new Vault(secretStoreFor(config, files, env), files.vaultIndex);
  const approvers = new Set<ServerResponse>();
  let proxy: CredentialProxy | undefined;
  const broker = new Broker({
    vault,
    audit,
    policy: () => policy,
    providers: () => providers,
    delegator: safeUserName(),
    defaultTtlMs: config.defaultTtlMs,
    consentTimeoutMs: config.consentTimeoutMs,
    addPolicyRule: async (rule) => {
      const text = appendPolicyRule(files.policy, rule);
      await reloadPolicy();
      return text;
    },
    proxyBase: (credential) => proxy?.baseUrl(credential),
    minterFor,
    owner: `${safeUserName()}@${hostname()}`,
    log,
  });
  // PostgreSQL roles and the like that a crashed run minted and never dropped.
  void broker.sweepMinted();

  // The credential-injecting proxy. Interception needs the local CA, whose key is in the vault;
  // if the vault cannot be read now, base-URL mode still works and CONNECT is tunnelled only.
  let ca: LocalCA | undefined;
  try {
    ca = await LocalCA.load(vault.store, paths.config);
  } catch (error) {
    log({ level: 'warn', msg: 'proxy interception is off: the local CA could not be loaded', error: error instanceof Error ? error.message : String(error) });
  }
  proxy = new CredentialProxy({
    broker,
    vault,
    audit,
    providers: () => providers,
    policy: () => policy,
    ca,
    log,
    maxBody: config.proxyMaxBody,
    upstreamTimeout: config.proxyUpstreamTimeoutMs,
    port: config.proxyPort,
    consentTimeout: config.consentTimeoutMs,
  });
  await proxy.listen();

  const findings = new FindingRecorder(audit);
  let daemonWatch: DaemonWatch | undefined;

  const started = new Date();
  let stopping: Promise<void> | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  const servers: Server[] = [];

  const deps = {
    broker,
    vault,
    audit,
    version: keywardVersion(),
    approvers,
    reloadPolicy,
    shutdown: () => void stop('requested over admin.sock'),
    proxy: () => (proxy?.url ? { url: proxy.url, ...(ca ? { caCert: ca.files.cert, bundle: ca.files.bundle } : {}) } : undefined),
    forgetSecret: (credential: string) => proxy?.forget(credential),
    sealer: new Sealer(vault.store),
    findings,
    status: () => ({
      pid: process.pid,
      proxy: proxy?.url ?? null,
      // `fallback`: the configured port was taken, so clients set up for it (keyward migrate's
      // MCP URLs) cannot reach this daemon until it is free and the daemon restarted.
      proxyPort: { configured: config.proxyPort, actual: proxy?.port ?? null, fallback: Boolean(proxy?.portFallback) },
      version: keywardVersion(),
      started: started.toISOString(),
      sockets: { agent: files.agentSock, admin: files.adminSock },
      vault: vault.store.kind,
      policy: { file: files.policy, rules: policy.rules.length, defaults: policy.defaults.decision },
      approvers: approvers.size,
      ...(daemonWatch ? { watch: daemonWatch.status() } : {}),
      ...broker.counts(),
    }),
  };

  const listen = (server: Server, path: string) =>
    new Promise<void>((resolve, reject) => {
      const previousMask = process.umask(0o177);
      server.once('error', reject);
      server.listen(path, () => {
        process.umask(previousMask);
        chmodSync(path, 0o600);
        server.off('error', reject);
        resolve();
      });
    });
  const agentServer = createApiServer({ socket: 'agent', router: agentRoutes(deps), log });
  const adminServer = createApiServer({ socket: 'admin', router: adminRoutes(deps), log });
  servers.push(agentServer, adminServer);
  await listen(agentServer, files.agentSock);
  await listen(adminServer, files.adminSock);

  let watcher: FSWatcher | undefined;
  let reloadTimer: NodeJS.Timeout | undefined;
  try {
    watcher = watch(paths.config, { persistent: false }, (_event, name) => {
      if (name !== 'policy.yaml' && !String(name).startsWith('providers')) return;
      if (reloadTimer) clearTimeout(reloadTimer);
      reloadTimer = setTimeout(() => void reloadPolicy().catch((e) => log({ level: 'error', msg: 'policy reload failed', error: String(e) })), 100);
    });
  } catch (error) {
    log({ level: 'warn', msg: 'cannot watch the config directory; reload policy with keyward policy check --reload', error: String(error) });
  }

  // Secrets written to the paths listed under `watch:` in config.yaml become audit records.
  if (config.watch.length > 0) daemonWatch = await startDaemonWatch({ paths: config.watch, recorder: findings, log });

  const reaper = setInterval(() => void broker.reapSessions(isAlive).catch((e) => log({ level: 'error', msg: 'session reaper failed', error: String(e) })), 2000);
  reaper.unref();

  async function stop(reason: string): Promise<void> {
    stopping ??= (async () => {
      log({ msg: 'stopping', reason });
      clearInterval(reaper);
      watcher?.close();
      daemonWatch?.close();
      for (const res of approvers) res.end();
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((r) => {
              s.close(() => r());
              s.closeAllConnections();
            }),
        ),
      );
      await proxy?.close();
      await broker.shutdown();
      vault.flushUse();
      try {
        await audit.append({ event: 'daemon.stop', pid: process.pid, reason });
      } catch (error) {
        log({ level: 'error', msg: 'could not record the shutdown in the audit log', error: String(error) });
      }
      await audit.close();
      for (const f of [files.agentSock, files.adminSock]) {
        try {
          unlinkSync(f);
        } catch {
          /* already gone */
        }
      }
      lock.release();
      resolveStopped();
    })();
    return stopping;
  }

  log({ msg: 'listening', agent: files.agentSock, admin: files.adminSock, vault: vault.store.kind, pid: process.pid });
  return { files, stop, stopped };
}

function safeUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid:${process.getuid?.() ?? '?'}`;
  }
}

/** The event of the last complete audit record, to tell whether the previous daemon stopped cleanly. */
function lastAuditEvent(file: string): string | undefined {
  try {
    const text = readFileSync(file, 'utf8').trimEnd();
    const line = text.slice(text.lastIndexOf('\n') + 1);
    return line ? (JSON.parse(line) as { event: string }).event : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The pid file, created exclusively: two daemons starting at once cannot both win. A pid file
 * of a dead process is stale and replaced.
 */
function acquirePidFile(file: string): { release(): void } {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return {
        release() {
          try {
            if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
          } catch {
            /* gone */
          }
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (pid && pid !== process.pid && isAlive(pid)) {
        throw new KeywardError(`another keyward daemon (pid ${pid}) is starting or running`, { code: 'already_running', hint: 'See it with: keyward daemon status' });
      }
      unlinkSync(file);
    }
  }
  throw new KeywardError('could not take the daemon lock', { hint: `Remove ${file} if no daemon runs.` });
}
