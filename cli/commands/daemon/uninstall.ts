import { BaseCommand } from '../../base.js';

export default class DaemonUninstall extends BaseCommand {
  static override summary = 'Stop starting the daemon at login (removes the systemd unit or launchd agent).';
  static override enableJsonFlag = true;

  async run() {
    const { uninstallService } = await import('../../services/daemon.js');
    const r = uninstallService();
    this.log(r.removed ? `Removed ${r.file}.` : `Nothing to remove (${r.file} does not exist).`);
    return r;
  }
}
