import { BaseCommand } from '../base.js';

/** The minted credential's upstream id (an access key id, a role, repositories): never a secret. */
function upstreamLabel(u: Record<string, string | string[]> | undefined): string {
  if (!u) return '-';
  const id = u.accessKeyId ?? u.role ?? u.repositories;
  return `${String(u.kind)} ${Array.isArray(id) ? id.join(',') : (id ?? '')}`.trim();
}

export default class Grants extends BaseCommand {
  static override summary = 'List active grants: agent, task, credential, permission, resource, expiry, and the minted upstream credential (its id, never the secret).';
  static override enableJsonFlag = true;

  async run() {
    const { call, ensureDaemon } = await import('../daemon-client.js');
    await ensureDaemon();
    const r = await call<{
      grants: {
        id: string;
        agent: string;
        chain: string[];
        task?: string;
        credential: string;
        permission: string;
        resource?: string;
        mode: string;
        expires: string;
        upstream?: Record<string, string | string[]>;
      }[];
    }>('admin', 'GET', '/v1/grants');
    if (!this.jsonEnabled()) {
      const { safeText } = await import('../../kernel/terminal.js');
      if (r.grants.length === 0) this.log('No active grants.');
      else {
        const now = Date.now();
        const rows = [
          ['ID', 'AGENT', 'TASK', 'CREDENTIAL', 'PERMISSION', 'RESOURCE', 'MODE', 'EXPIRES IN', 'UPSTREAM'],
          ...r.grants.map((g) =>
            [
              g.id,
              g.chain.slice(1).join(' → '),
              (g.task ?? '-').slice(0, 30),
              g.credential,
              g.permission,
              g.resource ?? '-',
              g.mode,
              `${Math.max(0, Math.round((Date.parse(g.expires) - now) / 60000))}m`,
              upstreamLabel(g.upstream),
            ].map((cell) => safeText(cell)),
          ),
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
    return r.grants;
  }
}
