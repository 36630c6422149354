import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { call, ensureDaemon, rawCall, socketPath } from '../daemon-client.js';
import { KeywardError } from '../../kernel/errors.js';
import { keywardPaths } from '../../kernel/paths.js';

/**
 * `keyward run`: opens a session for an agent, obtains its grants (waiting for a person where the
 * policy says ask), starts the command with the grants' environment, forwards signals and the
 * exit code, and ends the session when the command exits, which revokes its grants.
 */
export interface RunOptions {
  agent: string;
  task?: string;
  grants: string[];
  /** NAME=keyward://entry: the secret itself goes into NAME (release mode). */
  env: string[];
  /** A dotenv file: its keyward:// values are released like --env, the others passed as they are. */
  envFile?: string;
  ttl?: string;
  command: string[];
  /** Where progress and consent hints go. */
  stderr: NodeJS.WritableStream;
  /** NAME=VALUE of keyward's location variables (KEYWARD_HOME, XDG_*): which daemon and vault, whatever the environment says. */
  daemonEnv?: string[];
  /**
   * Fill `${NAME}` in the command's arguments with released values (--secret-in-argv). Off by
   * default: argv is readable by every user of the machine (ps, /proc/<pid>/cmdline).
   */
  secretsInArgv?: boolean;
}

const LOCATION = /^(KEYWARD_HOME|XDG_CONFIG_HOME|XDG_STATE_HOME|XDG_RUNTIME_DIR)=(\/.*)$/;

/**
 * `--daemon-env`, written by keyward migrate into the servers it rewrites: clients that filter the
 * environment they start servers with (Gemini CLI drops names holding KEY, others pass an
 * allow-list) would otherwise send keyward run to another home, and a second, empty daemon.
 */
export function applyDaemonEnv(specs: string[], env: NodeJS.ProcessEnv = process.env): void {
  for (const spec of specs) {
    const m = LOCATION.exec(spec);
    if (!m)
      throw new KeywardError(`--daemon-env ${spec} is not NAME=/absolute/path for one of KEYWARD_HOME, XDG_CONFIG_HOME, XDG_STATE_HOME, XDG_RUNTIME_DIR`, {
        exitCode: RUN_SETUP_FAILED,
      });
    env[m[1]] = m[2];
  }
}

/** Exit codes of keyward run itself (otherwise it exits with the command's code). */
export const RUN_SETUP_FAILED = 125;
export const RUN_NOT_EXECUTABLE = 126;
export const RUN_NOT_FOUND = 127;

interface Issued {
  status: 'issued';
  grant: { id: string; credential: string; permission: string; resource?: string; expires: string; mode: string };
  token: string;
  env: Record<string, string>;
}
interface Pending {
  status: 'pending';
  consent: string;
  expires: string;
  reason: string;
  approvers?: number;
}
type GrantReply = Issued | Pending | { status?: undefined; error: { code: string; message: string; hint?: string; needs?: string } };

/** `keyward://entry`, or `keyward://entry#Field` for one field of an entry holding JSON (an AWS key pair). */
const REFERENCE = /^keyward:\/\/([A-Za-z0-9][A-Za-z0-9._-]{0,63})(?:#([A-Za-z][A-Za-z0-9_]{0,63}))?$/;

export function parseEnvReference(spec: string): { name: string; credential: string; field?: string } {
  const eq = spec.indexOf('=');
  const name = spec.slice(0, eq);
  const m = REFERENCE.exec(spec.slice(eq + 1));
  if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || !m) {
    throw new KeywardError(`--env ${spec.includes('://') ? spec : '…'} is not NAME=keyward://entry`, {
      exitCode: RUN_SETUP_FAILED,
      hint: 'For example --env DATABASE_URL=keyward://prod-db',
    });
  }
  return { name, credential: m[1], ...(m[2] ? { field: m[2] } : {}) };
}

/** One field of an entry that holds JSON; the value itself never goes into the error. */
function jsonField(value: string, ref: { name: string; credential: string; field?: string }): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  const field = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>)[ref.field!] : undefined;
  if (typeof field !== 'string')
    throw new KeywardError(`${ref.name}=keyward://${ref.credential}#${ref.field}: the entry ${ref.credential} has no text field ${ref.field}`, {
      exitCode: RUN_SETUP_FAILED,
      hint: 'Name the entry alone (keyward://entry) for its whole value.',
    });
  return field;
}

/** Requests one grant and, if a person must decide, waits for the answer. */
export async function obtain(token: string, body: Record<string, unknown>, label: string, stderr: NodeJS.WritableStream): Promise<Issued> {
  let r = await rawCall<GrantReply>('agent', 'POST', '/v1/grants', body, { token });
  if (r.status === 202 && r.body.status === 'pending') {
    const pending = r.body;
    const hint = pending.approvers ? 'answer it in `keyward approve`' : 'open `keyward approve` in another terminal, or run `keyward consent allow ' + pending.consent + '`';
    stderr.write(`keyward: ${label} needs your consent (${pending.reason}); ${hint}. Waiting until ${pending.expires.slice(11, 19)}…\n`);
    for (;;) {
      r = await rawCall<GrantReply>('agent', 'GET', `/v1/consent/${pending.consent}?wait=25`, undefined, { token, timeout: 40_000 });
      if (!(r.status === 202 && r.body.status === 'pending')) break;
    }
  }
  if (r.status === 201 && r.body.status === 'issued') return r.body;
  const error = 'error' in r.body ? r.body.error : undefined;
  throw new KeywardError(`${label}: ${error?.message ?? `the daemon answered ${r.status}`}`, { code: error?.code, hint: error?.hint, exitCode: RUN_SETUP_FAILED });
}

/**
 * Environment that sends the agent's HTTPS through keyward's proxy (interception mode) and makes
 * its TLS stacks trust keyward's local CA: curl, git, Python requests, OpenSSL, Node.
 */
export function proxyEnvironment(proxy: { url: string; caCert?: string; bundle?: string } | undefined, env: NodeJS.ProcessEnv): Record<string, string> {
  if (!proxy) return {};
  const noProxy = [env.NO_PROXY ?? env.no_proxy, '127.0.0.1', 'localhost', '::1'].filter(Boolean).join(',');
  const out: Record<string, string> = { HTTPS_PROXY: proxy.url, https_proxy: proxy.url, NO_PROXY: noProxy, no_proxy: noProxy, NODE_USE_ENV_PROXY: '1' };
  if (proxy.caCert) out.NODE_EXTRA_CA_CERTS = proxy.caCert;
  if (proxy.bundle) {
    for (const name of ['SSL_CERT_FILE', 'CURL_CA_BUNDLE', 'REQUESTS_CA_BUNDLE', 'GIT_SSL_CAINFO']) out[name] = proxy.bundle;
  }
  return out;
}

/** KEY=value lines of a dotenv file: `export`, quotes and comments as dotenv reads them. */
export function readEnvFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new KeywardError(`cannot read --env-file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { exitCode: RUN_SETUP_FAILED });
  }
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    let value = m[2];
    const quoted = /^(["'])(.*)\1(\s+#.*)?$/.exec(value);
    if (quoted) value = quoted[1] === '"' ? quoted[2].replace(/\\n/g, '\n').replace(/\\"/g, '"') : quoted[2];
    else value = value.replace(/\s+#.*$/, '');
    out[m[1]] = value;
  }
  return out;
}

/** Whatever stops the set-up, the command did not run: keyward run's own exit code. */
function setupError(error: unknown): unknown {
  if (error instanceof KeywardError && error.exitCode !== RUN_SETUP_FAILED) {
    return new KeywardError(error.message, { code: error.code, hint: error.hint, exitCode: RUN_SETUP_FAILED });
  }
  return error;
}

async function asSetup<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw setupError(error);
  }
}

export async function runAgent(options: RunOptions): Promise<number> {
  if (options.command.length === 0)
    throw new KeywardError('no command to run', { exitCode: RUN_SETUP_FAILED, hint: 'Put it after --, e.g. keyward run --agent claude-code --grant openai:chat -- claude' });
  applyDaemonEnv(options.daemonEnv ?? []);
  const references = options.env.map(parseEnvReference);
  const argvRefs = new Set<string>();
  const plain: Record<string, string> = {};
  if (options.envFile) {
    for (const [name, value] of Object.entries(readEnvFile(options.envFile))) {
      if (REFERENCE.test(value)) references.push(parseEnvReference(`${name}=${value}`));
      else plain[name] = value;
    }
  }
  // A released value in argv is readable by every user of the machine: only on request.
  const releasedNames = new Set(references.map((r) => r.name));
  for (const arg of options.command) for (const m of arg.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) if (releasedNames.has(m[1])) argvRefs.add(m[1]);
  if (argvRefs.size > 0 && !options.secretsInArgv) {
    const names = [...argvRefs].map((n) => '${' + n + '}').join(', ');
    throw new KeywardError(
      `${names} in the command line would put a released secret into the command's arguments, which every user of this machine can read (ps, /proc/<pid>/cmdline)`,
      {
        exitCode: RUN_SETUP_FAILED,
        hint: 'Let the command read it from the environment variable instead; if it only takes the key as an argument, add --secret-in-argv to accept that.',
      },
    );
  }
  const opened = await asSetup(async () => {
    // A daemon started here has only the vault of this home: say which, so that a missing entry
    // is not a mystery when the caller meant another one.
    if ((await ensureDaemon()).started) options.stderr.write(`keyward: started the daemon for ${keywardPaths().config} (no daemon was running there)\n`);
    const parentToken = process.env.KEYWARD_SESSION;
    return call<{ session: { id: string; chain: string[] }; token: string; proxy?: { url: string; caCert?: string; bundle?: string } }>(
      'agent',
      'POST',
      '/v1/sessions',
      { agent: options.agent, task: options.task, pid: process.pid },
      { token: parentToken },
    );
  });
  const token = opened.token;
  const end = async () => {
    try {
      await call('agent', 'DELETE', '/v1/sessions/current', undefined, { token, timeout: 5000 });
    } catch {
      /* the daemon also ends sessions whose process is gone */
    }
  };

  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...plain, KEYWARD_AGENT_SOCK: socketPath('agent'), KEYWARD_SESSION: token, ...proxyEnvironment(opened.proxy, process.env) };
  // The file vault's passphrase opens every key: the agent never gets it, not even by accident.
  delete childEnv.KEYWARD_VAULT_PASSPHRASE;
  try {
    for (const spec of options.grants) {
      const issued = await obtain(token, { spec, ttl: options.ttl }, `grant ${spec}`, options.stderr);
      Object.assign(childEnv, issued.env);
    }
    for (const ref of references) {
      const issued = await obtain(token, { credential: ref.credential, mode: 'release', ttl: options.ttl }, `release of ${ref.credential} into ${ref.name}`, options.stderr);
      const resolved = await call<{ value: string }>('agent', 'POST', '/v1/resolve', { grant: issued.token }, { token });
      childEnv[ref.name] = ref.field ? jsonField(resolved.value, ref) : resolved.value;
    }
  } catch (error) {
    await end();
    throw setupError(error);
  }

  // `${NAME}` in the command's arguments is filled from the variables released above: how a
  // migrated MCP server that only takes --api-key=… gets its key without it on disk.
  // Only with --secret-in-argv (checked above).
  if (argvRefs.size > 0)
    options.stderr.write(`keyward: --secret-in-argv: the value of ${[...argvRefs].join(', ')} is in the command's arguments, visible to every user of this machine\n`);
  const [cmd, ...args] = options.command.map((arg) =>
    arg.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => (argvRefs.has(name) ? (childEnv[name] ?? '') : whole)),
  );
  const child = spawn(cmd, args, { stdio: 'inherit', env: childEnv });
  const forwarded: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
  const forward = (signal: NodeJS.Signals) => {
    if (child.pid && child.exitCode === null) child.kill(signal);
  };
  for (const s of forwarded) process.on(s, forward);
  const code = await new Promise<number>((resolve) => {
    child.on('error', (error: NodeJS.ErrnoException) => {
      options.stderr.write(`keyward: cannot run ${cmd}: ${error.code === 'ENOENT' ? 'command not found' : error.code === 'EACCES' ? 'permission denied' : error.message}\n`);
      resolve(error.code === 'ENOENT' ? RUN_NOT_FOUND : RUN_NOT_EXECUTABLE);
    });
    child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 128 + (constants.signals[signal] ?? 1) : 1)));
  });
  for (const s of forwarded) process.off(s, forward);
  await end();
  return code;
}
