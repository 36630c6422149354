import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base.js';
import { plural } from '../../../kernel/units.js';

export default class PolicyCheck extends BaseCommand {
  static override summary = 'Validate policy.yaml (and provider files), with line numbers.';
  static override description =
    'Exit codes: 0 valid, 1 problems found, 2 error. A running daemon does not act on a change on disk by itself: it keeps the confirmed configuration until a person runs keyward policy apply (or answers in keyward approve).';
  static override enableJsonFlag = true;
  static override flags = { file: Flags.string({ description: 'Check this file instead of policy.yaml in the config directory.', helpValue: 'PATH' }) };

  async run() {
    const { flags } = await this.parse(PolicyCheck);
    const { checkPolicy } = await import('../../services/policy.js');
    const r = checkPolicy(flags.file);
    if (!this.jsonEnabled()) {
      for (const p of r.problems) this.log(`${p.file}:${p.line}:${p.column}: ${p.message}`);
      this.log(
        r.problems.length
          ? `${r.problems.length} problem(s).`
          : `OK: ${r.file} — ${plural(r.rules, 'rule')}, default ${r.defaults}${r.exists ? '' : ' (the file does not exist: the default policy applies)'}.`,
      );
    }
    if (r.problems.length) process.exitCode = 1;
    return r;
  }
}
