import { BaseCommand } from '../../base.js';

export default class DaemonInstall extends BaseCommand {
  static override summary = 'Start the daemon at login: a systemd user unit (Linux) or a launchd agent (macOS).';
  static override enableJsonFlag = true;

  async run() {
    const { installService } = await import('../../services/daemon.js');
    const r = installService();
    this.log(`Wrote ${r.file}.`);
    this.log(r.enabled ? `Enabled and started it (${r.how}).` : `Enable it with: ${r.how}`);
    return r;
  }
}
