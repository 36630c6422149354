import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base.js';
import { KeywardError } from '../../kernel/errors.js';

export default class Revoke extends BaseCommand {
  static override summary = "Revoke grants: one by id, a session's, an agent's (glob), or all.";
  static override examples = [
    '<%= config.bin %> revoke gr_2bX9…',
    '<%= config.bin %> revoke --session ses_…',
    '<%= config.bin %> revoke --agent "mcp:*"',
    '<%= config.bin %> revoke --all',
  ];
  static override enableJsonFlag = true;
  static override args = { grant: Args.string({ description: 'Grant id (from keyward grants).' }) };
  static override flags = {
    session: Flags.string({ description: 'Every grant of this session.' }),
    agent: Flags.string({ description: 'Every grant of agents matching this glob.' }),
    all: Flags.boolean({ description: 'Every active grant.' }),
  };

  async run() {
    const { args, flags } = await this.parse(Revoke);
    const chosen = [args.grant, flags.session, flags.agent, flags.all || undefined].filter((x) => x !== undefined);
    if (chosen.length !== 1) throw new KeywardError('say what to revoke: a grant id, --session, --agent or --all (exactly one)');
    const { call, ensureDaemon } = await import('../daemon-client.js');
    await ensureDaemon();
    const r = await call<{ revoked: number }>('admin', 'POST', '/v1/revoke', { grant: args.grant, session: flags.session, agent: flags.agent, all: flags.all || undefined });
    if (args.grant && r.revoked === 0) throw new KeywardError(`no active grant ${args.grant}`, { hint: 'See the active ones with: keyward grants' });
    this.log(`Revoked ${r.revoked} grant(s).`);
    return r;
  }
}
