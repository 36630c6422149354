import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base.js';
import { installHook } from '../../services/hook.js';

export default class HookInstall extends BaseCommand {
  static override summary = 'Install a git pre-commit hook that runs `keyward scan --staged`.';
  static override description =
    "An existing pre-commit hook that is not keyward's is kept and chained: it runs first, then keyward. With --force it is replaced instead (a backup is kept beside it). Honours core.hooksPath.";
  static override enableJsonFlag = true;
  static override flags = {
    force: Flags.boolean({ description: 'Replace a foreign pre-commit hook instead of chaining it (keeps a .keyward-backup copy).' }),
  };

  async run() {
    const { flags } = await this.parse(HookInstall);
    const result = installHook(process.cwd(), { force: flags.force });
    const messages = {
      installed: `Installed the pre-commit hook at ${result.path}.`,
      updated: `Updated keyward's pre-commit hook at ${result.path}.`,
      chained: `Installed the pre-commit hook at ${result.path}; your existing hook moved to ${result.chained} and still runs first.`,
      replaced: `Replaced the pre-commit hook at ${result.path}; the old one is at ${result.backup}.`,
    } as Record<string, string>;
    this.log(messages[result.action]);
    return result;
  }
}
