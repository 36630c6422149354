import { resolve } from 'node:path';
import { addToBaseline } from '../../../scanners/baseline.js';
import { KeywardError } from '../../../kernel/errors.js';
import { applyPlan } from './apply.js';
import { call } from '../../daemon-client.js';
import { collectFindings, launcher, planner } from './index.js';
import { redactedDiff, ruleText, type MigrationPlan } from './plan.js';
import { plural } from '../../../kernel/units.js';

export interface MigrateCommand {
  paths: string[];
  dryRun?: boolean;
  yes?: boolean;
  json?: boolean;
  fromReport?: string;
  /** Where accepted findings go, and which findings were accepted before. */
  baseline?: string;
  home?: string;
}

export const DEFAULT_BASELINE = '.keyward-baseline.json';

function describe(plan: MigrationPlan): string[] {
  const out: string[] = [];
  const secrets = plan.files.flatMap((f) => f.findings.map((x) => x.secret));
  for (const f of plan.files) out.push(redactedDiff(f, secrets));
  if (plan.entries.size) out.push(`Vault entries: ${[...plan.entries.entries()].map(([name, e]) => `${name} (${e.provider})`).join(', ')}`);
  if (plan.rules.length) out.push('Policy rules to add to policy.yaml:', ...plan.rules.map((r) => `  ${ruleText(r)}`));
  for (const n of plan.notes) out.push(`note: ${n}`);
  for (const s of plan.skipped) out.push(`skipped ${s.file}:${s.line} (${s.ruleId}): ${s.reason}`);
  for (const e of plan.exposed) out.push(`EXPOSED ${e.file} (${e.ruleId}) in ${e.where}: cannot be rewritten; rotate the key at the provider${e.rotate ? `: ${e.rotate}` : ''}`);
  return out;
}

export async function runMigrate(options: MigrateCommand): Promise<number> {
  const baselineFile = options.baseline ?? DEFAULT_BASELINE;
  const findings = await collectFindings({ paths: options.paths, fromReport: options.fromReport, cwd: process.cwd(), home: options.home, baselineFile });
  const planning = await planner(findings);
  const plan = planning.plan();
  const summary = {
    files: plan.files.map((f) => ({ path: f.path, kind: f.kind, secrets: f.findings.length })),
    entries: [...plan.entries.entries()].map(([name, e]) => ({ name, provider: e.provider })),
    rules: plan.rules.map(ruleText),
    notes: plan.notes,
    skipped: plan.skipped,
    exposed: plan.exposed,
  };
  const say = (line: string) => process.stdout.write(line + '\n');
  if (options.dryRun) {
    if (options.json)
      say(
        JSON.stringify(
          {
            dryRun: true,
            ...summary,
            diffs: plan.files.map((f) =>
              redactedDiff(
                f,
                findings.map((x) => x.secret),
              ),
            ),
          },
          null,
          2,
        ),
      );
    else {
      for (const line of describe(plan)) say(line);
      say(plan.files.length ? `Dry run: ${plural(plan.files.length, 'file')} would change; nothing was changed.` : 'Dry run: nothing keyward can migrate.');
    }
    return plan.exposed.length ? 1 : 0;
  }
  await recordExposed(plan);
  const exposedLines = () => {
    for (const e of plan.exposed) say(`EXPOSED ${e.file} (${e.ruleId}) in ${e.where}: cannot be rewritten; rotate the key at the provider${e.rotate ? `: ${e.rotate}` : ''}`);
    return plan.exposed.length ? 1 : 0;
  };
  const interactive = !options.yes && !options.json && process.stdin.isTTY;
  if (interactive && (plan.files.length || plan.skipped.length)) {
    const { runWizard } = await import('./wizard.js');
    const chosen = await runWizard(findings, planning, baselineFile);
    if (!chosen || (chosen.files.length === 0 && chosen.accepted.length === 0)) {
      say('Nothing was changed.');
      return exposedLines();
    }
    if (chosen.accepted.length) {
      const added = addToBaseline(resolve(baselineFile), chosen.accepted, undefined, { cwd: process.cwd(), home: options.home ? resolve(options.home) : undefined });
      say(`${plural(added, 'accepted finding')} added to ${baselineFile} (scan with --baseline ${baselineFile} to leave them out)`);
    }
    if (chosen.files.length === 0) return exposedLines();
    return finish(chosen, options, say);
  }
  if (plan.files.length === 0) {
    if (options.json) say(JSON.stringify({ applied: false, ...summary }, null, 2));
    else {
      for (const line of describe(plan)) say(line);
      say('Nothing keyward can migrate.');
    }
    return plan.exposed.length ? 1 : 0;
  }
  if (!options.yes) {
    if (options.json) throw new KeywardError('keyward migrate --json changes files only with --yes', { hint: 'Look first with --dry-run --json, then apply with --yes --json.' });
    throw new KeywardError('keyward migrate asks before changing files, and there is no terminal to ask on', { hint: 'Look first with --dry-run, then apply with --yes.' });
  }
  return finish(plan, options, say);
}

async function finish(plan: MigrationPlan, options: MigrateCommand, say: (line: string) => void): Promise<number> {
  if (!options.json) for (const r of plan.rules) say(`adding policy rule ${ruleText(r)}`);
  const result = await applyPlan(plan, launcher());
  if (options.json) say(JSON.stringify({ applied: true, ...result, notes: plan.notes, skipped: plan.skipped, exposed: plan.exposed }, null, 2));
  else {
    for (const f of result.files) say(`migrated ${f.path} (${f.kind})`);
    for (const n of plan.notes) say(`note: ${n}`);
    for (const e of plan.exposed) say(`EXPOSED ${e.file} (${e.ruleId}) in ${e.where}: rotate the key at the provider${e.rotate ? `: ${e.rotate}` : ''}`);
    say(
      `Migration ${result.id}: ${plural(result.files.length, 'file')}, ${plural(result.entries.length, 'vault entry', 'vault entries')}. Undo with: keyward migrate undo ${result.id}`,
    );
  }
  // Keys that stay exposed (history, images) still need the user: rotate them.
  return plan.exposed.length ? 1 : 0;
}

/** Keys keyward cannot take back go to the audit log, so that what is still exposed is on record. */
async function recordExposed(plan: MigrationPlan): Promise<void> {
  for (const e of plan.exposed.slice(0, 100)) {
    await call('admin', 'POST', '/v1/events/migration', {
      event: 'migrate.exposed',
      reason: `${e.ruleId} in ${e.where}: rotate it at the provider`,
      detail: { file: e.file.slice(0, 500), where: e.where.slice(0, 500), provider: e.provider, ...(e.rotate ? { rotate: e.rotate.slice(0, 500) } : {}) },
    }).catch(() => undefined);
  }
}
