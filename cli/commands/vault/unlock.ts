import { BaseCommand } from '../../base.js';

export default class VaultUnlock extends BaseCommand {
  static override summary = 'Open the file vault of a running daemon that started without its passphrase.';
  static override description =
    'Asks for the passphrase on the terminal (or reads the first line of standard input when it is not a terminal) and hands it to the daemon over admin.sock. The daemon derives the key and forgets the passphrase. Refused from inside an agent session, like every admin call.';
  static override enableJsonFlag = true;

  async run() {
    const { call, ensureDaemon } = await import('../../daemon-client.js');
    const { KeywardError } = await import('../../../kernel/errors.js');
    await ensureDaemon();
    const status = await call<{ vault: string; vaultLocked?: boolean }>('admin', 'GET', '/v1/status');
    if (!status.vaultLocked) {
      this.log(status.vault === 'file' ? 'The file vault is open already.' : `The vault is the ${status.vault}; there is nothing to unlock.`);
      return { unlocked: true, already: true };
    }
    let passphrase: string;
    if (process.stdin.isTTY) {
      const { promptHidden } = await import('../../prompt.js');
      passphrase = await promptHidden('Vault passphrase: ');
    } else {
      const { readStdin } = await import('../../prompt.js');
      passphrase = (await readStdin()).split('\n')[0];
    }
    if (!passphrase) throw new KeywardError('no passphrase given; the vault stays locked', { hint: 'Run keyward vault unlock on a terminal, or pipe the passphrase on stdin.' });
    await call('admin', 'POST', '/v1/vault/unlock', { passphrase });
    this.log('The file vault is open.');
    return { unlocked: true };
  }
}
