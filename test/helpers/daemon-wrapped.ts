import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from './cli.js';
import { apiCall, socketFile } from './daemon.js';
import { vaultEnv } from './vault.js';

/**
 * The real daemon started through a wrapper command (prlimit, dbus-run-session…), in its own
 * process group so that `kill()` ends the wrapper and everything it started.
 */
export async function startDaemonWrapped(home: string, wrapper: string[], policy?: string): Promise<{ kill(): Promise<void>; output(): string }> {
  mkdirSync(join(home, 'config'), { recursive: true, mode: 0o700 });
  if (policy) writeFileSync(join(home, 'config', 'policy.yaml'), policy);
  const child = spawn(wrapper[0], [...wrapper.slice(1), process.execPath, BIN, 'daemon', 'start', '--foreground'], {
    env: { ...process.env, ...vaultEnv(), KEYWARD_HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d));
  child.stderr!.on('data', (d: Buffer) => (output += d));
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      if ((await apiCall(socketFile(home, 'admin'), 'GET', '/v1/health')).status === 200) break;
    } catch {
      /* not yet */
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`daemon did not start: ${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const exited = new Promise<void>((resolveExit) => child.once('close', () => resolveExit()));
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      /* gone */
    }
  };
  return {
    /** Ends the wrapper and the daemon, and resolves once they have exited (so the home can be removed). */
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        signalGroup('SIGTERM');
        const timer = setTimeout(() => signalGroup('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      // The daemon may outlive the wrapper by a moment: wait until nothing in the group is left.
      for (let i = 0; i < 200; i++) {
        try {
          process.kill(-child.pid!, 0);
        } catch {
          return;
        }
        await new Promise((r) => setTimeout(r, 25));
      }
      signalGroup('SIGKILL');
    },
    output: () => output,
  };
}
