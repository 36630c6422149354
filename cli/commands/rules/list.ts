import { Flags } from '@oclif/core';
import { join } from 'node:path';
import { BaseCommand } from '../../base.js';

export default class RulesList extends BaseCommand {
  static override summary = 'List the detection rules: id, provider, keywords, and the count by category.';
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
      category: r.category ?? 'custom',
      kind: r.context ? 'context' : r.generic ? 'generic' : 'pattern',
      description: r.description,
      keywords: r.keywords,
      validated: r.validate !== undefined,
      migrate: r.migrate ?? null,
    }));
    if (!this.jsonEnabled()) {
      const idWidth = Math.max(...rules.map((r) => r.id.length));
      const providerWidth = Math.max(...rules.map((r) => r.provider.length));
      for (const r of rules) this.log(`${r.id.padEnd(idWidth)}  ${r.provider.padEnd(providerWidth)}  ${r.keywords.join(', ')}`);
      const byCategory = new Map<string, number>();
      for (const r of rules) byCategory.set(r.category, (byCategory.get(r.category) ?? 0) + 1);
      const contextCount = rules.filter((r) => r.kind === 'context').length;
      this.log(`\n${rules.length} rules (${contextCount} keyword-context)`);
      for (const [category, count] of [...byCategory].sort((a, b) => b[1] - a[1])) this.log(`  ${category.padEnd(14)} ${count}`);
    }
    return rules;
  }
}
