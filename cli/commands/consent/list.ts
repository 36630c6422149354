import { BaseCommand } from '../../base.js';

export default class ConsentList extends BaseCommand {
  static override summary = 'List consent requests waiting for an answer, oldest first.';
  static override enableJsonFlag = true;

  async run() {
    const { call, ensureDaemon } = await import('../../daemon-client.js');
    await ensureDaemon();
    const r = await call<{
      pending: {
        id: string;
        chain: string[];
        task?: string;
        credential: string;
        permission: string;
        resource?: string;
        mode: string;
        expires: string;
        policy: { reason: string };
      }[];
    }>('admin', 'GET', '/v1/consent');
    if (!this.jsonEnabled()) {
      const { safeText } = await import('../../../kernel/terminal.js');
      if (r.pending.length === 0) this.log('No consent requests are waiting.');
      for (const c of r.pending) {
        // Agents choose their names, tasks and resources: escaped, so none can redraw the lines above.
        this.log(
          safeText(
            `${c.id}  ${c.chain.join(' → ')} wants ${[c.credential, c.permission, c.resource].filter(Boolean).join(':')} (${c.mode}${c.mode === 'release' ? ': the raw secret' : ''})`,
          ),
        );
        this.log(safeText(`    task: ${c.task ?? '-'} · policy: ${c.policy.reason} · times out at ${c.expires.slice(11, 19)}`));
      }
    }
    return r.pending;
  }
}
