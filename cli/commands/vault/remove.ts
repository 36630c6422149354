import { Args } from '@oclif/core';
import { BaseCommand } from '../../base.js';

export default class VaultRemove extends BaseCommand {
  static override summary = 'Remove a vault entry (and revoke its active grants).';
  static override enableJsonFlag = true;
  static override args = { name: Args.string({ required: true }) };

  async run() {
    const { args } = await this.parse(VaultRemove);
    const { ensureDaemon, call } = await import('../../daemon-client.js');
    await ensureDaemon();
    const r = await call('admin', 'DELETE', `/v1/vault/${encodeURIComponent(args.name)}`);
    this.log(`Removed ${args.name} from the vault.`);
    return r;
  }
}
