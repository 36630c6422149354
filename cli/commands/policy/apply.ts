import { Flags } from '@oclif/core';
import { KeywardError } from '../../../kernel/errors.js';
import { BaseCommand } from '../../base.js';

export default class PolicyApply extends BaseCommand {
  static override summary = 'Show a change to policy.yaml, config.yaml or providers/ on disk, and put it in force once you confirm it.';
  static override description = `A running daemon does not act on edits to its configuration by itself: an agent runs as your user and could otherwise widen its own access. The daemon keeps the last confirmed version in force; this command shows the difference and asks. keyward approve asks the same.

Exit codes: 0 applied (or nothing to apply), 1 not applied, 2 error.`;
  static override enableJsonFlag = true;
  static override flags = {
    yes: Flags.boolean({ description: 'Apply without asking (the diff is still printed). Only from outside any keyward run session.' }),
  };

  async run() {
    const { flags } = await this.parse(PolicyApply);
    const { applyConfig, describeChange, pendingConfig } = await import('../../services/policy.js');
    const pending = await pendingConfig();
    if (!pending) {
      if (!this.jsonEnabled()) this.log('Nothing to apply: the configuration on disk is the one in force.');
      return { pending: null, applied: false };
    }
    if (!this.jsonEnabled() || !flags.yes) for (const line of describeChange(pending, Boolean(process.stdout.isTTY) && !process.env.NO_COLOR)) this.log(line);
    if (pending.problems.length) {
      process.exitCode = 1;
      if (!this.jsonEnabled()) this.log('\nNot applied: fix the problems first (keyward policy check), then run keyward policy apply again.');
      return { pending, applied: false };
    }
    let yes = flags.yes;
    if (!yes) {
      if (!process.stdin.isTTY)
        throw new KeywardError('keyward policy apply asks before applying, and standard input is not a terminal', { hint: 'Run it in a terminal, or pass --yes.' });
      const { promptLine } = await import('../../prompt.js');
      yes = /^y(es)?$/i.test(await promptLine('\nApply this change? [y/N] '));
    }
    if (!yes) {
      process.exitCode = 1;
      if (!this.jsonEnabled()) this.log('Not applied; the confirmed configuration stays in force.');
      return { pending, applied: false };
    }
    await applyConfig(pending.id);
    if (!this.jsonEnabled()) this.log(`Applied ${pending.id}.`);
    return { pending, applied: true };
  }
}
