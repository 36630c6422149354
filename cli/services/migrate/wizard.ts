import type { MigrationPlan, RawFinding } from './plan.js';
import { confirm } from './command.js';
import { redactedDiff, ruleText } from './plan.js';

/**
 * The interactive path of `keyward migrate`. Returns the plan to apply, or undefined to change
 * nothing.
 */
export async function runWizard(findings: RawFinding[], plan: MigrationPlan): Promise<MigrationPlan | undefined> {
  const secrets = findings.map((f) => f.secret);
  for (const f of plan.files) process.stderr.write(redactedDiff(f, secrets));
  for (const r of plan.rules) process.stderr.write(`policy: ${ruleText(r)}\n`);
  return (await confirm(`Migrate ${plan.files.length} file(s)? [y/N] `)) ? plan : undefined;
}
