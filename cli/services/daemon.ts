import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../../kernel/atomic-file.js';
import { daemonFiles, ping } from '../../daemon/files.js';
import { keywardPaths } from '../../kernel/paths.js';
import { call } from '../daemon-client.js';
import { KeywardError } from '../../kernel/errors.js';

/** `keyward daemon start --foreground`: runs until SIGTERM/SIGINT, logging JSON lines to stderr. */
export async function runForeground(options: { debug?: boolean; passphrase?: string } = {}): Promise<void> {
  const { startDaemon } = await import('../../daemon/daemon.js');
  const daemon = await startDaemon({
    log: (line) => process.stderr.write(line + '\n'),
    logLevel: options.debug || process.env.KEYWARD_LOG === 'debug' ? 'debug' : 'info',
    passphrase: options.passphrase,
  });
  const onSignal = (signal: NodeJS.Signals) => void daemon.stop(`received ${signal}`);
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  process.once('SIGHUP', onSignal);
  await daemon.stopped;
}

/**
 * The file vault's passphrase for a daemon about to start: from stdin when asked (how `daemon
 * start` hands it to the background daemon), from KEYWARD_VAULT_PASSPHRASE, or typed at a
 * terminal. Undefined when the vault is not a file vault, or nobody can be asked (the daemon then
 * starts locked; `keyward vault unlock` opens it).
 */
export async function vaultPassphrase(options: { stdin?: boolean } = {}): Promise<string | undefined> {
  if (options.stdin) {
    const { readStdin } = await import('../prompt.js');
    return (await readStdin()).split('\n')[0] || undefined;
  }
  if (process.env.KEYWARD_VAULT_PASSPHRASE) return process.env.KEYWARD_VAULT_PASSPHRASE;
  const { loadDaemonConfig } = await import('../../daemon/config.js');
  if (loadDaemonConfig().config.vaultBackend !== 'file' || !process.stdin.isTTY) return undefined;
  const { promptHidden } = await import('../prompt.js');
  return (await promptHidden('Vault passphrase: ')) || undefined;
}

export async function daemonStatus(): Promise<{ running: boolean; detail?: Record<string, unknown> }> {
  const files = daemonFiles(keywardPaths());
  if (!(await ping(files.adminSock))) return { running: false };
  return { running: true, detail: await call('admin', 'GET', '/v1/status') };
}

/** The daemon's pid from its pid file, or undefined. */
function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Waits until the process has exited and released its pid file; false when `ms` passed first. */
async function exited(pid: number | undefined, pidFile: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    const gone = pid === undefined ? !existsSync(pidFile) : !isAlive(pid) && readPid(pidFile) !== pid;
    if (gone) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `keyward daemon stop`: asks the daemon to shut down and returns only once its process has
 * exited (its last audit record written, its sockets and pid file removed), so that a `daemon
 * start` right after finds the place free. SIGTERM after `graceMs` if it has not gone; an error
 * naming the pid if even that does not end it within `killMs`.
 */
export async function stopDaemon(options: { graceMs?: number; killMs?: number } = {}): Promise<{ wasRunning: boolean; pid?: number }> {
  const files = daemonFiles(keywardPaths());
  if (!(await ping(files.adminSock))) return { wasRunning: false };
  const pid = readPid(files.pidFile);
  await call('admin', 'POST', '/v1/shutdown', {});
  if (await exited(pid, files.pidFile, options.graceMs ?? 10_000)) return { wasRunning: true, pid };
  // It acknowledged but did not go: ask the process directly.
  if (pid !== undefined && isAlive(pid)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone meanwhile */
    }
  }
  const killMs = options.killMs ?? 5_000;
  if (await exited(pid, files.pidFile, killMs)) return { wasRunning: true, pid };
  const seconds = Math.round(((options.graceMs ?? 10_000) + killMs) / 1000);
  throw new KeywardError(`the keyward daemon${pid ? ` (pid ${pid})` : ''} was asked to stop but has not exited after ${seconds} s`, {
    hint: pid ? `It may be stuck: see it with \`ps -p ${pid}\`, end it with \`kill -9 ${pid}\`, then start it again.` : `Remove ${files.pidFile} if no daemon runs.`,
  });
}

const runJs = () => fileURLToPath(new URL('../../../bin/run.js', import.meta.url));
const SYSTEMD_UNIT = 'keyward.service';
const LAUNCHD_LABEL = 'dev.keyward.daemon';

function serviceFile(): string {
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`);
  return join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'systemd', 'user', SYSTEMD_UNIT);
}

/** The unit or plist text; only KEYWARD_HOME is carried over from this environment. */
export function serviceDefinition(platform = process.platform): string {
  const node = process.execPath;
  const home = process.env.KEYWARD_HOME;
  if (platform === 'darwin') {
    const env = home ? `\n  <key>EnvironmentVariables</key>\n  <dict><key>KEYWARD_HOME</key><string>${home}</string></dict>` : '';
    return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>${LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array><string>${node}</string><string>${runJs()}</string><string>daemon</string><string>start</string><string>--foreground</string></array>${env}
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>
  <key>StandardErrorPath</key><string>${join(keywardPaths().state, 'daemon.log')}</string>
</dict>
</plist>
`;
  }
  return `# keyward credential broker, installed by \`keyward daemon install\`.
[Unit]
Description=keyward credential broker for AI agents

[Service]
Type=simple
ExecStart="${node}" "${runJs()}" daemon start --foreground
Restart=on-failure
RestartSec=2
${home ? `Environment="KEYWARD_HOME=${home}"\n` : ''}
[Install]
WantedBy=default.target
`;
}

export function installService(): { file: string; enabled: boolean; how: string } {
  const file = serviceFile();
  mkdirSync(dirname(file), { recursive: true });
  writeFileAtomic(file, serviceDefinition());
  if (process.platform === 'darwin') {
    spawnSync('launchctl', ['unload', file], { stdio: 'ignore' });
    const r = spawnSync('launchctl', ['load', '-w', file], { encoding: 'utf8' });
    return { file, enabled: r.status === 0, how: `launchctl load -w ${file}` };
  }
  const how = `systemctl --user daemon-reload && systemctl --user enable --now ${SYSTEMD_UNIT}`;
  const reload = spawnSync('systemctl', ['--user', 'daemon-reload'], { encoding: 'utf8' });
  if (reload.status !== 0) return { file, enabled: false, how };
  const enable = spawnSync('systemctl', ['--user', 'enable', '--now', SYSTEMD_UNIT], { encoding: 'utf8' });
  return { file, enabled: enable.status === 0, how };
}

export function uninstallService(): { file: string; removed: boolean } {
  const file = serviceFile();
  if (!existsSync(file)) return { file, removed: false };
  if (process.platform === 'darwin') spawnSync('launchctl', ['unload', '-w', file], { stdio: 'ignore' });
  else spawnSync('systemctl', ['--user', 'disable', '--now', SYSTEMD_UNIT], { stdio: 'ignore' });
  try {
    unlinkSync(file);
  } catch (error) {
    throw new KeywardError(`cannot remove ${file}: ${(error as Error).message}`);
  }
  if (process.platform !== 'darwin') spawnSync('systemctl', ['--user', 'daemon-reload'], { stdio: 'ignore' });
  return { file, removed: true };
}
