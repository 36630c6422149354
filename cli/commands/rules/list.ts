import { Flags } from '@oclif/core';
import { join } from 'node:path';
import { BaseCommand } from '../../base.js';
import { plural } from '../../../kernel/units.js';

export default class RulesList extends BaseCommand {
  static override summary = 'List the detection rules: id, provider, keywords.';
  static override enableJsonFlag = true;
  static override flags = {
    config: Flags.string({ char: 'c', description: 'Include custom rules from this config (default: .keyward.yaml here, if any).', helpValue: 'FILE' }),
  };

  async run() {
    const { flags } = await this.parse(RulesList);
    const { requireValidConfig, CONFIG_FILE } = await import('../../../scanners/config.js');
    const { buildRuleSet } = await import('../../../scanners/ruleset.js');
    const { config } = await requireValidConfig(flags.config ?? join(process.cwd(), CONFIG_FILE), Boolean(flags.config));
    const rules = buildRuleSet(config).rules.map((r) => ({
      id: r.id,
      provider: r.provider,
      description: r.description,
      keywords: r.keywords,
      validated: r.validate !== undefined,
      migrate: r.migrate ?? null,
    }));
    if (!this.jsonEnabled()) {
      const idWidth = Math.max(...rules.map((r) => r.id.length));
      const providerWidth = Math.max(...rules.map((r) => r.provider.length));
      for (const r of rules) this.log(`${r.id.padEnd(idWidth)}  ${r.provider.padEnd(providerWidth)}  ${r.keywords.join(', ')}`);
      this.log(`\n${plural(rules.length, 'rule')}`);
    }
    return rules;
  }
}
