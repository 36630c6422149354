import { Flags } from '@oclif/core';
import { join } from 'node:path';
import { BaseCommand } from '../../base.js';
import { plural } from '../../../kernel/units.js';

export default class RulesCheck extends BaseCommand {
  static override summary = "Validate the built-in rules and .keyward.yaml, running every rule's examples.";
  static override description = 'Exit codes: 0 everything is valid, 1 problems were found (each with file:line:column), 2 error.';
  static override enableJsonFlag = true;
  static override flags = {
    config: Flags.string({ char: 'c', description: 'Config file to check (default: .keyward.yaml in the current directory).', helpValue: 'FILE' }),
  };

  async run() {
    const { flags } = await this.parse(RulesCheck);
    const { checkRules } = await import('../../../scanners/rules-check.js');
    const { CONFIG_FILE } = await import('../../../scanners/config.js');
    const result = await checkRules(flags.config ?? join(process.cwd(), CONFIG_FILE), Boolean(flags.config));
    if (!this.jsonEnabled()) {
      for (const p of result.problems) this.log(`${p.file}${p.line ? `:${p.line}:${p.column}` : ''}: ${p.message}`);
      const summary = `${result.builtin} built-in and ${plural(result.custom, 'custom rule')}${result.config ? ` (${result.config})` : ''}`;
      this.log(result.problems.length === 0 ? `OK: ${summary}, every example behaves.` : `${result.problems.length} problem(s) in ${summary}.`);
    }
    if (result.problems.length > 0) process.exitCode = 1;
    return result;
  }
}
