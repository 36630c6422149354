import { BaseCommand } from '../../base.js';

export default class DaemonStop extends BaseCommand {
  static override summary = 'Stop the keyward daemon; every session and grant ends with it.';
  static override enableJsonFlag = true;

  async run() {
    const { stopDaemon } = await import('../../services/daemon.js');
    const r = await stopDaemon();
    this.log(r.wasRunning ? 'keyward daemon stopped.' : 'keyward daemon was not running.');
    return r;
  }
}
