import { render } from 'ink';
import { safeText } from '../../../kernel/terminal.js';
import { redact } from '../../../scanners/ruleset.js';
import { MigrateWizard, type Review, type WizardChoice, type WizardItem } from '../../ui/migrate-wizard.js';
import type { Planner } from './index.js';
import { occurrence, redactedDiff, ruleText, type Choice, type MigrationPlan, type RawFinding } from './plan.js';

/**
 * One wizard screen per vault entry the default plan would create: one key, wherever it was
 * found. Keys keyward cannot move (a file it cannot rewrite, a server it must leave alone) get a
 * screen too, with the reason, so they can be skipped or accepted into the baseline.
 */
export function wizardItems(findings: RawFinding[], plan: MigrationPlan, providers: string[]): WizardItem[] {
  const groups = new Map<string, RawFinding[]>();
  for (const f of findings) {
    if (!f.secret || f.commit || f.image) continue;
    const entry = plan.names.get(occurrence(f));
    // Unmovable findings: one screen per secret.
    const key = entry ? `entry:${entry}` : `secret:${f.secret}`;
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  const items: WizardItem[] = [];
  for (const [key, group] of groups) {
    const first = group[0];
    const name = key.startsWith('entry:') ? key.slice(6) : undefined;
    const mine = new Set(group.map(occurrence));
    const secrets = new Set(group.map((f) => f.secret));
    const seen = new Set<string>();
    const place = (f: RawFinding) => !seen.has(`${f.file}:${f.line}`) && seen.add(`${f.file}:${f.line}`);
    const own = group.filter(place);
    const elsewhere = findings.filter((f) => secrets.has(f.secret) && !mine.has(occurrence(f)) && !f.commit && !f.image).filter(place);
    const entry = name ? plan.entries.get(name) : undefined;
    const profile = entry?.provider ?? first.profile ?? 'generic';
    const skipped = plan.skipped.find((s) => s.file === first.file && s.line === first.line);
    items.push({
      occurrences: [...mine],
      // Everything shown comes from the scanned files (names, key paths, custom rules): escaped.
      description: safeText(first.description),
      ruleId: first.ruleId,
      provider: first.provider,
      confidence: first.confidence,
      masked: [...secrets].map(redact).join(', '),
      locations: [...own, ...elsewhere].map((f) => ({ file: safeText(f.file), line: f.line, keyPath: f.keyPath === undefined ? undefined : safeText(f.keyPath) })),
      suggestedName: name ?? '',
      nameFixed: group.some((f) => plan.fixedNames.has(occurrence(f))),
      profileFixed: Boolean(entry?.attributes?.helper),
      suggestedProfile: providers.includes(profile) ? profile : 'generic',
      movable: Boolean(name),
      ...(name ? {} : { reason: safeText(skipped?.reason ?? 'keyward cannot rewrite this file') }),
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
    files: plan.files.map((f) => ({ path: safeText(f.path), kind: f.kind, changes: redactedDiff(f, secrets).trimEnd().split('\n').slice(2).map(safeText) })),
    entries: [...plan.entries.entries()].map(([name, e]) => ({ name, provider: e.provider })),
    rules: plan.rules.map((r) => safeText(ruleText(r))),
    notes: plan.notes.map(safeText),
    skipped: plan.skipped.filter((s) => s.reason !== 'skipped').map((s) => safeText(`${s.file}:${s.line} (${s.ruleId}): ${s.reason}`)),
    accepted: new Set(plan.accepted.map((f) => f.fingerprint)).size,
    exposed: plan.exposed.map((e) => safeText(`${e.file} (${e.ruleId}) in ${e.where}${e.rotate ? `: ${e.rotate}` : ''}`)),
  };
}

/**
 * The interactive path of `keyward migrate`: returns the plan the user approved, or undefined to
 * change nothing.
 */
export async function runWizard(
  findings: RawFinding[],
  planner: { plan: Planner; existing: Set<string>; providers: string[] },
  baselineFile: string,
): Promise<MigrationPlan | undefined> {
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
