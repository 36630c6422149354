import { BaseCommand } from '../../base.js';
import { uninstallHook } from '../../services/hook.js';

export default class HookUninstall extends BaseCommand {
  static override summary = "Remove keyward's pre-commit hook (restoring a hook it chained).";
  static override enableJsonFlag = true;

  async run() {
    const result = uninstallHook(process.cwd());
    this.log(result.action === 'restored' ? `Removed keyward's hook; your previous hook is back at ${result.path}.` : `Removed the pre-commit hook at ${result.path}.`);
    return result;
  }
}
