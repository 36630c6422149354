import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base.js';

export default class ImportKeytar extends BaseCommand {
  static override summary = "Move entries that keytar-based tools stored in the OS keychain into keyward's vault.";
  static override description = `Reads the entries of one keytar service (VS Code extensions, GitHub Desktop, Electron apps and other tools store keys this way), stores each chosen one in keyward's vault through the daemon, which reads it back before recording it, and with --delete then removes the original from keytar's service.

On a terminal it lists the service's accounts and asks which to import; in scripts name them with --account or take them all with --all. Values are never shown.

Needs keytar, an optional dependency of keyward: npm install keytar (on Linux with libsecret-1-0; building it needs libsecret-1-dev, build-essential and python3).`;
  static override examples = [
    '<%= config.bin %> import keytar --service "GitHub - https://api.github.com"',
    '<%= config.bin %> import keytar --service vscode-openai --all --provider openai --prefix openai- --delete --yes',
    '<%= config.bin %> import keytar --service my-cli --account ada --json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    service: Flags.string({ char: 's', required: true, description: 'The keytar service name (exact, case-sensitive).' }),
    account: Flags.string({ char: 'a', multiple: true, description: 'Import this account (repeatable); no prompt.' }),
    all: Flags.boolean({ description: 'Import every entry of the service; no prompt.', exclusive: ['account'] }),
    delete: Flags.boolean({ description: "Delete each original from keytar's service once its copy is verified in the vault." }),
    yes: Flags.boolean({ char: 'y', description: 'Do not ask for confirmation (needed for --delete without a terminal).' }),
    provider: Flags.string({ char: 'p', description: 'Provider profile for the imported entries (default: recognised from the value, else generic).' }),
    prefix: Flags.string({ description: 'Name entries PREFIX + account (default: service-account).', helpValue: 'PREFIX' }),
    replace: Flags.boolean({ description: 'Replace vault entries that already have the name.' }),
  };

  async run() {
    const { flags } = await this.parse(ImportKeytar);
    const { importKeytar, loadKeytar } = await import('../../services/import-keytar.js');
    const { ensureDaemon, call } = await import('../../daemon-client.js');
    const interactive = process.stdin.isTTY === true && !this.jsonEnabled();
    const result = await importKeytar(
      {
        service: flags.service,
        accounts: flags.account,
        all: flags.all,
        delete: flags.delete,
        yes: flags.yes,
        provider: flags.provider,
        prefix: flags.prefix,
        replace: flags.replace,
      },
      {
        keytar: loadKeytar,
        addToVault: async (entry) => {
          await ensureDaemon();
          await call('admin', 'POST', '/v1/vault', entry);
        },
        listVault: async () => (await call<{ entries: Array<{ name: string; source: string }> }>('admin', 'GET', '/v1/vault')).entries,
        ask: interactive ? async (q) => (await import('../../prompt.js')).promptLine(q) : undefined,
        say: (line) => process.stderr.write(line + '\n'),
      },
    );
    const failed = result.entries.filter((e) => e.status === 'failed' || e.status === 'exists' || (e.deleted === false && flags.delete));
    if (!this.jsonEnabled()) {
      for (const e of result.entries) {
        if (e.status === 'not-chosen') continue;
        const what = `${e.account} → ${e.name} (${e.provider})`;
        if (e.status === 'imported') this.log(`imported  ${what}${e.deleted ? '; original deleted' : e.deleted === false ? `; original KEPT: ${e.error}` : ''}`);
        else this.log(`${e.status === 'exists' ? 'skipped ' : 'FAILED  '}  ${what}: ${e.error}${e.hint ? `\n          ${e.hint}` : ''}`);
      }
      const imported = result.entries.filter((e) => e.status === 'imported');
      if (imported.length > 0 && !flags.delete) {
        this.log(`The originals are still in keytar's service "${result.service}"; once the tools that wrote them use keyward, remove them with --delete.`);
      }
    }
    if (failed.length > 0) process.exitCode = 2;
    return result;
  }
}
