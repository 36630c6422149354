import { chmodSync, closeSync, existsSync, openSync, readFileSync, unlinkSync, watch, writeSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../kernel/atomic-file.js';
import { diffSnapshots, hashes, isGuarded, newChangeId, readConfigSnapshot, sameSnapshot, type ConfigSnapshot, type PendingChange } from './config-guard.js';
import { DaemonError } from './errors.js';
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
import { parsePolicy, type LoadedPolicy } from './policy/load.js';
import { DEFAULT_POLICY, type Policy } from './policy/policy.js';
import { loadProviders, type ProviderRegistry } from './providers/registry.js';
import { LocalCA } from './proxy/ca.js';
import { CredentialProxy } from './proxy/proxy.js';
import { createApiServer, type IdentityMode } from './server/http.js';
import { identityMechanisms, isAlive, loadPeerCredentials } from './server/identity.js';
import { adminRoutes, agentRoutes } from './server/routes.js';
import { FileStore } from './vault/file-store.js';
import { KeychainStore } from './vault/keychain.js';
import type { SecretStore } from './vault/store.js';
import { Sealer } from './vault/sealer.js';
import { Vault } from './vault/vault.js';
import { FindingRecorder, startDaemonWatch, type DaemonWatch } from './watch.js';

export function secretStoreFor(config: DaemonConfig, files: DaemonFiles, passphrase: string | undefined): SecretStore {
  if (config.vaultBackend === 'file') return new FileStore(files.fileVault, () => passphrase);
  return new KeychainStore();
}

/**
 * Takes the file vault's passphrase out of the environment: it is read once, here, and removed
 * from this process's environment so that nothing the daemon starts inherits it.
 */
function takePassphrase(env: NodeJS.ProcessEnv, given: string | undefined): string | undefined {
  const fromEnv = env.KEYWARD_VAULT_PASSPHRASE;
  delete env.KEYWARD_VAULT_PASSPHRASE;
  delete process.env.KEYWARD_VAULT_PASSPHRASE;
  return given || fromEnv || undefined;
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
  /** The file vault's passphrase, when it did not come through the environment (a prompt, stdin). */
  passphrase?: string;
}

/**
 * Starts the daemon in this process: private directories, one instance per user, the audit
 * log, policy (a change on disk waits for a person's confirmation), the vault, and both sockets. Resolves once
 * both sockets listen.
 */
export async function startDaemon(options: DaemonOptions = {}): Promise<RunningDaemon> {
  const paths = options.paths ?? keywardPaths(options.env);
  const env = options.env ?? process.env;
  let passphrase = takePassphrase(env, options.passphrase);
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
  // The configuration in force is the one read now: edits made while the daemon was stopped take
  // effect at start (see docs/security-model.md), and are named in the daemon.start record.
  let confirmed = readConfigSnapshot(paths.config);
  const confirmedFile = join(paths.state, 'config.confirmed.json');
  const changedWhileStopped = changedSince(confirmedFile, confirmed);
  saveConfirmed(confirmedFile, confirmed);
  await audit.append({
    event: 'daemon.start',
    pid: process.pid,
    reason: 'sessions and grants from earlier runs are void: tokens live only in the daemon that issued them',
    detail: {
      version: keywardVersion(),
      previousShutdown: previous === undefined ? 'none' : previous === 'daemon.stop' ? 'clean' : 'unclean',
      ...(audit.recovered ? { recovered: audit.recovered } : {}),
      ...(audit.recovery ? { recovery: audit.recovery } : {}),
      config: hashes(confirmed),
      ...(changedWhileStopped.length ? { configChangedWhileStopped: changedWhileStopped } : {}),
    },
  });

  let policy: Policy = DEFAULT_POLICY;
  const initial = policyFrom(confirmed, files.policy);
  if (initial.policy) policy = initial.policy;
  else log({ level: 'warn', msg: 'policy.yaml has problems; the default policy (ask) is in force', problems: initial.problems.map((p) => `${p.line}:${p.column} ${p.message}`) });
  let providers: ProviderRegistry = loadProviders(paths.config, confirmed);
  for (const p of providers.problems) log({ level: 'warn', msg: 'provider file problem', file: p.file, problem: `${p.line}:${p.column} ${p.message}` });

  /**
   * Puts a configuration in force: what a person confirmed (keyward policy apply, keyward
   * approve, POST /v1/policy/reload, or a consent answer of "always"). A policy.yaml with
   * problems is refused and the last confirmed configuration stays.
   */
  const applySnapshot = async (snapshot: ConfigSnapshot, by: string, id?: string) => {
    const loaded = policyFrom(snapshot, files.policy);
    if (!loaded.policy) {
      const problems = loaded.problems.map((p) => `line ${p.line}: ${p.message}`);
      await audit.append({ event: 'policy.reload', decision: 'rejected', reason: `kept the last good policy: ${problems[0]}` });
      log({ level: 'warn', msg: 'policy.yaml rejected, last good policy kept', problems });
      return { ok: false, problems };
    }
    const changes = diffSnapshots(confirmed, snapshot);
    policy = loaded.policy;
    providers = loadProviders(paths.config, snapshot);
    confirmed = snapshot;
    saveConfirmed(confirmedFile, confirmed);
    if (pending && (pending.id === id || sameSnapshot(pending.snapshot, snapshot))) pending = undefined;
    if (changes.length) {
      await audit.append({
        event: 'config.confirmed',
        decision: 'accepted',
        reason: `confirmed by ${by}`,
        detail: { ...(id ? { id } : {}), files: changes.map(({ path, change, before, after }) => ({ path, change, before, after })) },
      });
    }
    await audit.append({ event: 'policy.reload', decision: 'accepted', detail: { rules: policy.rules.length } });
    log({ msg: 'configuration confirmed', by, rules: policy.rules.length, files: changes.map((c) => c.path) });
    return { ok: true, problems: [] as string[] };
  };
  const reloadPolicy = () => applySnapshot(readConfigSnapshot(paths.config), 'a person over admin.sock (policy reload)');

  /** A change on disk: a proposal that waits for a person; the confirmed configuration stays. */
  let pending: PendingChange | undefined;
  const propose = async () => {
    const disk = readConfigSnapshot(paths.config);
    if (sameSnapshot(disk, confirmed)) {
      if (pending) {
        await audit.append({ event: 'config.withdrawn', reason: 'the files on disk are back to the confirmed configuration', detail: { id: pending.id } });
        pending = undefined;
      }
      return;
    }
    if (pending && sameSnapshot(disk, pending.snapshot)) return;
    const changes = diffSnapshots(confirmed, disk);
    const loaded = policyFrom(disk, files.policy);
    const problems = [
      ...loaded.problems.map((p) => `policy.yaml line ${p.line}: ${p.message}`),
      ...loadProviders(paths.config, disk).problems.map((p) => `${p.file} line ${p.line}: ${p.message}`),
    ];
    pending = { id: newChangeId(), detected: new Date().toISOString(), files: changes, problems, snapshot: disk };
    await audit.append({
      event: 'config.proposed',
      decision: 'pending',
      reason: 'a change on disk to keyward configuration waits for a person (keyward approve, or keyward policy apply); the confirmed configuration stays in force',
      detail: { id: pending.id, files: changes.map(({ path, change, before, after }) => ({ path, change, before, after })), ...(problems.length ? { problems } : {}) },
    });
    if (!loaded.policy) {
      await audit.append({ event: 'policy.reload', decision: 'rejected', reason: `kept the last good policy: line ${loaded.problems[0].line}: ${loaded.problems[0].message}` });
    }
    log({ level: 'warn', msg: 'configuration changed on disk; it waits for a person to confirm it (keyward policy apply)', id: pending.id, files: changes.map((c) => c.path) });
  };
  const config_ = {
    pending: () =>
      pending ? { id: pending.id, detected: pending.detected, problems: pending.problems, files: pending.files.map(({ path, change, diff }) => ({ path, change, diff })) } : null,
    apply: async (id: string, by: string) => {
      await propose(); // what is on disk now, so a person never confirms a stale view
      if (!pending || pending.id !== id) {
        throw new DaemonError(
          'conflict',
          pending ? `the configuration changed again since ${id} was shown (now ${pending.id}); look again` : `no pending configuration change ${id}`,
          {
            hint: 'Run keyward policy apply again to see the current change.',
          },
        );
      }
      if (pending.problems.length)
        throw new DaemonError('invalid_policy', `the change cannot be applied: ${pending.problems[0]}`, { hint: 'Fix the files (keyward policy check), then apply again.' });
      const r = await applySnapshot(pending.snapshot, by, id);
      if (!r.ok) throw new DaemonError('invalid_policy', `the change cannot be applied: ${r.problems[0]}`);
      return { applied: id };
    },
  };

  // Who is calling, from the kernel; where the platform cannot tell, fail closed unless
  // config.yaml turns the check off.
  const identityLoaded = loadPeerCredentials() !== undefined;
  const identity: IdentityMode = identityLoaded ? 'kernel' : config.requireCallerIdentity ? 'fail-closed' : 'off';
  if (!identityLoaded) log({ level: 'warn', msg: `callers cannot be identified on this platform; identity mode ${identity}`, ...identityMechanisms() });

  const store = secretStoreFor(config, files, passphrase);
  if (store instanceof FileStore && passphrase) {
    // Open it now, so the passphrase is needed only this once.
    try {
      await store.check();
    } catch (error) {
      log({ level: 'warn', msg: 'the file vault stays locked', error: error instanceof Error ? error.message : String(error) });
    }
  }
  passphrase = undefined;
  const vault = new Vault(store, files.vaultIndex);
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
      // A person answered "always": the rule joins the confirmed policy. A change an agent made
      // on disk and nobody confirmed must not ride along, so the rule is added to the confirmed
      // text; the file on disk gets it too when it held the confirmed text.
      const onDisk = readConfigSnapshot(paths.config).get('policy.yaml');
      const { text: rendered, line } = appendPolicyRule(confirmed.get('policy.yaml'), rule);
      const next = new Map(confirmed);
      next.set('policy.yaml', rendered);
      if (onDisk === confirmed.get('policy.yaml')) writeFileAtomic(files.policy, rendered, { mode: 0o600 });
      await applySnapshot(next, 'a person answering a consent request with "always"');
      return line;
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
  const proxyDeps: ConstructorParameters<typeof CredentialProxy>[0] = {
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
  };
  proxy = new CredentialProxy(proxyDeps);
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
    config: config_,
    shutdown: () => void stop('requested over admin.sock'),
    proxy: () => (proxy?.url ? { url: proxy.url, ...(ca ? { caCert: ca.files.cert, bundle: ca.files.bundle } : {}) } : undefined),
    forgetSecret: (credential: string) => proxy?.forget(credential),
    sealer: new Sealer(vault.store),
    findings,
    vaultLocked: () => store instanceof FileStore && store.locked,
    unlockVault: async (typed: string) => {
      if (!(store instanceof FileStore)) return;
      await store.unlockWith(typed);
      if (!ca && proxy) {
        // The local CA's key lives in the vault: interception can start now.
        try {
          ca = await LocalCA.load(vault.store, paths.config);
          proxyDeps.ca = ca;
        } catch (error) {
          log({ level: 'warn', msg: 'proxy interception is still off', error: error instanceof Error ? error.message : String(error) });
        }
      }
    },
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
      vaultLocked: store instanceof FileStore && store.locked,
      callerIdentity: { mode: identity, ...identityMechanisms() },
      policy: { file: files.policy, rules: policy.rules.length, defaults: policy.defaults.decision },
      config: { pending: pending ? pending.id : null },
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
  const agentServer = createApiServer({ socket: 'agent', router: agentRoutes(deps), log, identity });
  const adminServer = createApiServer({ socket: 'admin', router: adminRoutes(deps), log, identity });
  servers.push(agentServer, adminServer);
  await listen(agentServer, files.agentSock);
  await listen(adminServer, files.adminSock);

  // Every change under the config directory (subfolders included) becomes a proposal.
  let watcher: FSWatcher | undefined;
  let reloadTimer: NodeJS.Timeout | undefined;
  try {
    watcher = watch(paths.config, { persistent: false, recursive: true }, (_event, name) => {
      if (name !== null && !isGuarded(String(name)) && !String(name).startsWith('providers')) return;
      if (reloadTimer) clearTimeout(reloadTimer);
      reloadTimer = setTimeout(() => void propose().catch((e) => log({ level: 'error', msg: 'configuration check failed', error: String(e) })), 100);
    });
  } catch (error) {
    log({ level: 'warn', msg: 'cannot watch the config directory; apply changes with keyward policy apply', error: String(error) });
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

/** The policy of a configuration snapshot; no policy.yaml is the default policy. */
function policyFrom(snapshot: ConfigSnapshot, file: string): LoadedPolicy {
  const text = snapshot.get('policy.yaml');
  return text === undefined ? { policy: DEFAULT_POLICY, problems: [] } : parsePolicy(text, file);
}

/** The files whose content differs from what the last daemon had in force. */
function changedSince(file: string, snapshot: ConfigSnapshot): string[] {
  let before: Record<string, string>;
  try {
    before = (JSON.parse(readFileSync(file, 'utf8')) as { files: Record<string, string> }).files;
  } catch {
    return [];
  }
  const now = hashes(snapshot);
  return [...new Set([...Object.keys(before), ...Object.keys(now)])].filter((k) => before[k] !== now[k]).sort();
}

function saveConfirmed(file: string, snapshot: ConfigSnapshot): void {
  try {
    writeFileAtomic(file, JSON.stringify({ files: hashes(snapshot) }, null, 2) + '\n', { mode: 0o600, sync: false });
  } catch {
    /* only used to name changes made while the daemon is stopped */
  }
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
