import { BaseCommand } from '../../base.js';

export default class VaultList extends BaseCommand {
  static override summary = 'List vault entries: name, provider, created, last used. Never values.';
  static override enableJsonFlag = true;

  async run() {
    const { ensureDaemon, call } = await import('../../daemon-client.js');
    await ensureDaemon();
    const r = await call<{ entries: { name: string; provider: string; created: string; lastUsed?: string; source: string }[]; backend: string }>('admin', 'GET', '/v1/vault');
    if (!this.jsonEnabled()) {
      if (r.entries.length === 0) this.log(`The vault (${r.backend}) is empty. Add a key with: keyward vault add <name> --provider <provider>`);
      else {
        const rows = [
          ['NAME', 'PROVIDER', 'CREATED', 'LAST USED', 'SOURCE'],
          ...r.entries.map((e) => [e.name, e.provider, e.created.slice(0, 16).replace('T', ' '), e.lastUsed ? e.lastUsed.slice(0, 16).replace('T', ' ') : '-', e.source]),
        ];
        const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
        for (const row of rows)
          this.log(
            row
              .map((c, i) => c.padEnd(widths[i]))
              .join('  ')
              .trimEnd(),
          );
      }
    }
    return r;
  }
}
