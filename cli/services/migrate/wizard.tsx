import { render } from 'ink';
import { redact } from '../../../scanners/ruleset.js';
import { MigrateWizard, type Review, type WizardChoice, type WizardItem } from '../../ui/migrate-wizard.js';
import type { Planner } from './index.js';
import { occurrence, redactedDiff, ruleText, type Choice, type MigrationPlan, type RawFinding } from './plan.js';

/** One wizard screen per vault entry the default plan would create: one key, wherever it was found. */
export function wizardItems(findings: RawFinding[], plan: MigrationPlan, providers: string[]): WizardItem[] {
  const byEntry = new Map<string, RawFinding[]>();
  for (const f of findings) {
    const entry = plan.names.get(occurrence(f));
    if (entry) byEntry.set(entry, [...(byEntry.get(entry) ?? []), f]);
  }
  const items: WizardItem[] = [];
  for (const [name, group] of byEntry) {
    const first = group[0];
    const mine = new Set(group.map(occurrence));
    const secrets = new Set(group.map((f) => f.secret));
    const seen = new Set<string>();
    const place = (f: RawFinding) => !seen.has(`${f.file}:${f.line}`) && seen.add(`${f.file}:${f.line}`);
    const own = group.filter(place);
    const elsewhere = findings.filter((f) => secrets.has(f.secret) && !mine.has(occurrence(f))).filter(place);
    const profile = plan.entries.get(name)?.provider ?? first.profile ?? 'generic';
    items.push({
      occurrences: [...mine],
      description: first.description,
      ruleId: first.ruleId,
      provider: first.provider,
      confidence: first.confidence,
      masked: [...secrets].map(redact).join(', '),
      locations: [...own, ...elsewhere].map((f) => ({ file: f.file, line: f.line, keyPath: f.keyPath })),
      suggestedName: name,
      nameFixed: group.some((f) => plan.fixedNames.has(occurrence(f))),
      suggestedProfile: providers.includes(profile) ? profile : 'generic',
    });
  }
  return items;
}

export function toChoices(items: WizardItem[], chosen: WizardChoice[]): Map<string, Choice> {
  const out = new Map<string, Choice>();
  items.forEach((item, i) => {
    for (const key of item.occurrences) out.set(key, chosen[i]);
  });
  return out;
}

export function summarise(plan: MigrationPlan, secrets: string[]): Review {
  return {
    files: plan.files.map((f) => ({ path: f.path, kind: f.kind, changes: redactedDiff(f, secrets).trimEnd().split('\n').slice(2) })),
    entries: [...plan.entries.entries()].map(([name, e]) => ({ name, provider: e.provider })),
    rules: plan.rules.map(ruleText),
    notes: plan.notes,
    skipped: plan.skipped.filter((s) => s.reason !== 'skipped').map((s) => `${s.file}:${s.line} (${s.ruleId}): ${s.reason}`),
    accepted: new Set(plan.accepted.map((f) => f.fingerprint)).size,
  };
}

/**
 * The interactive path of `keyward migrate`: returns the plan the user approved, or undefined to
 * change nothing.
 */
export async function runWizard(findings: RawFinding[], planner: { plan: Planner; existing: Set<string>; providers: string[] }, baselineFile: string): Promise<MigrationPlan | undefined> {
  const initial = planner.plan();
  const items = wizardItems(findings, initial, planner.providers);
  const secrets = findings.map((f) => f.secret);
  let result: WizardChoice[] | undefined;
  const app = render(
    <MigrateWizard
      items={items}
      providers={planner.providers}
      existing={planner.existing}
      baselineFile={baselineFile}
      review={(chosen) => summarise(planner.plan(toChoices(items, chosen)), secrets)}
      onDone={(chosen) => (result = chosen)}
    />,
    { exitOnCtrlC: true, stdout: process.stderr },
  );
  await app.waitUntilExit();
  return result ? planner.plan(toChoices(items, result)) : undefined;
}
