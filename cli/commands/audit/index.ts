import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base.js';
import { KeywardError } from '../../../kernel/errors.js';

export default class Audit extends BaseCommand {
  static override summary = 'Show the audit log: who acted, under whose delegation, with which grant, against what.';
  static override examples = ['<%= config.bin %> audit --since 1h', '<%= config.bin %> audit --agent "mcp:*" --json', '<%= config.bin %> audit --follow'];
  static override flags = {
    agent: Flags.string({ description: 'Only records of agents matching this glob.' }),
    event: Flags.string({ description: 'Only these events (glob, e.g. "grant.*").' }),
    since: Flags.string({ description: 'Only records newer than this (e.g. 15m, 1h, 2d).', helpValue: 'DURATION' }),
    follow: Flags.boolean({ char: 'f', description: 'Keep printing new records as they are written.' }),
    json: Flags.boolean({ description: 'JSON: an array, or one record per line with --follow.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Audit);
    const { parseDuration } = await import('../../../kernel/units.js');
    let since: number | undefined;
    if (flags.since) {
      const ms = parseDuration(flags.since);
      if (ms === undefined) throw new KeywardError(`--since ${flags.since} is not a duration`, { hint: 'For example 15m, 1h or 2d.' });
      since = Date.now() - ms;
    }
    const { showAudit } = await import('../../services/audit.js');
    await showAudit({ agent: flags.agent, event: flags.event, since, follow: flags.follow, json: flags.json }, (line) => process.stdout.write(line + '\n'));
  }
}
