import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base.js';

export default class VaultInit extends BaseCommand {
  static override summary = 'Choose where vault values live: the OS keychain (default) or an encrypted file.';
  static override description =
    'Without --file, checks that the OS keychain works and records it as the backend. With --file, creates an AES-256-GCM file vault whose key is derived (scrypt) from a passphrase taken from KEYWARD_VAULT_PASSPHRASE or a prompt; `keyward daemon start` then asks for it on a terminal, and `keyward vault unlock` opens a daemon that started without it. keyward never falls back to a file silently.';
  static override enableJsonFlag = true;
  static override flags = { file: Flags.boolean({ description: 'Use the encrypted file vault (for machines without a keychain).' }) };

  async run() {
    const { flags } = await this.parse(VaultInit);
    const { initVault } = await import('../../services/vault.js');
    const r = await initVault({ file: flags.file });
    this.log(r.message);
    return r;
  }
}
