import { isAbsolute, relative, resolve } from 'node:path';
import { addToBaseline, homeBaselinePath } from '../../../scanners/baseline.js';
import { KeywardError } from '../../../kernel/errors.js';
import { applyPlan } from './apply.js';
import { call } from '../../daemon-client.js';
import { collectFindings, planner, resolveLauncher } from './index.js';
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
  const planning = await planner(findings, options.home);
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
    // The vault must take the keys: find out before anyone spends time on the screens.
    if (plan.files.length) await checkVault();
    const { runWizard, clearWizardChoices } = await import('./wizard.js');
    const chosen = await runWizard(findings, planning, baselineFile);
    if (!chosen || (chosen.files.length === 0 && chosen.accepted.length === 0)) {
      say('Nothing was changed.');
      return exposedLines();
    }
    if (chosen.accepted.length) acceptFindings(chosen.accepted, baselineFile, options, say);
    if (chosen.files.length === 0) {
      clearWizardChoices();
      return exposedLines();
    }
    const code = await finish(chosen, options, say, { reviewed: true });
    clearWizardChoices();
    return code;
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

/**
 * Accepted findings go to a baseline: the project's for files in the project, keyward's own
 * (home-baseline.json) for files elsewhere (`~/.cursor/mcp.json`), which `keyward scan home` and
 * `keyward migrate` read.
 */
function acceptFindings(accepted: MigrationPlan['accepted'], baselineFile: string, options: MigrateCommand, say: (line: string) => void): void {
  const cwd = process.cwd();
  const inProject = (file: string) => !relative(cwd, resolve(file)).startsWith('..') && !isAbsolute(relative(cwd, resolve(file)));
  const where = { cwd, home: options.home ? resolve(options.home) : undefined };
  const project = accepted.filter((f) => inProject(f.file));
  const home = accepted.filter((f) => !inProject(f.file));
  if (project.length) {
    const added = addToBaseline(resolve(baselineFile), project, undefined, where);
    say(`${plural(added, 'accepted finding')} added to ${baselineFile} (scan with --baseline ${baselineFile} to leave them out)`);
  }
  if (home.length) {
    const file = homeBaselinePath();
    const added = addToBaseline(file, home, undefined, where);
    say(`${plural(added, 'accepted finding')} outside this project added to ${file} (keyward scan home and keyward migrate leave them out)`);
  }
}

/** The vault answers (a keychain that opens, a passphrase for the file vault): sealing probes both. */
async function checkVault(): Promise<void> {
  try {
    await call('admin', 'POST', '/v1/seal', { data: '', context: 'migrate: vault check' });
  } catch (error) {
    const e = error instanceof KeywardError ? error : undefined;
    throw new KeywardError(`the vault cannot take keys now, so nothing was asked and nothing changed: ${e?.message ?? String(error)}`, {
      code: e?.code,
      hint: e?.hint ?? 'keyward vault list shows whether the vault opens.',
    });
  }
}

async function finish(plan: MigrationPlan, options: MigrateCommand, say: (line: string) => void, shown: { reviewed?: boolean } = {}): Promise<number> {
  const resolved = resolveLauncher();
  if (resolved.warning) process.stderr.write(`warning: ${resolved.warning}\n`);
  const result = await applyPlan(plan, resolved.argv);
  if (options.json) say(JSON.stringify({ applied: true, ...result, notes: plan.notes, skipped: plan.skipped, exposed: plan.exposed }, null, 2));
  else {
    for (const f of result.files) say(`migrated ${f.path} (${f.kind})`);
    for (const r of result.rules) say(`added policy rule ${r}`);
    // The review showed the notes already.
    if (!shown.reviewed) for (const n of [...new Set(plan.notes)]) say(`note: ${n}`);
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
