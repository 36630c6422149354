import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base.js';

export default class DaemonStart extends BaseCommand {
  static override summary = 'Start the keyward daemon (in the background unless --foreground).';
  static override description =
    'Idempotent: if a daemon already runs for this user, says so and exits 0. With --foreground the daemon runs in this process and logs JSON lines to stderr (for systemd and launchd).';
  static override enableJsonFlag = true;
  static override flags = {
    foreground: Flags.boolean({ description: 'Run in this process, logging JSON lines to stderr, until SIGTERM.' }),
    debug: Flags.boolean({ description: 'With --foreground: log every request too.' }),
    'passphrase-stdin': Flags.boolean({ description: 'Read the file vault passphrase from the first line of standard input.' }),
  };

  async run() {
    const { flags } = await this.parse(DaemonStart);
    const { vaultPassphrase } = await import('../../services/daemon.js');
    if (flags.foreground) {
      const { runForeground } = await import('../../services/daemon.js');
      await runForeground({ debug: flags.debug, passphrase: await vaultPassphrase({ stdin: flags['passphrase-stdin'] }) });
      return { stopped: true };
    }
    const { ensureDaemon, ping, adminSocket } = await import('../../daemon-client.js');
    // Ask for the file vault's passphrase on a terminal, unless a daemon already runs.
    const running = await ping(adminSocket());
    const r = await ensureDaemon({ passphrase: running ? undefined : await vaultPassphrase({ stdin: flags['passphrase-stdin'] }) });
    this.log(r.started ? `keyward daemon started (pid ${r.pid}).` : 'keyward daemon is already running.');
    return r;
  }
}
