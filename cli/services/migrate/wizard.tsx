import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { render } from 'ink';
import { writeFileAtomic } from '../../../kernel/atomic-file.js';
import { keywardPaths } from '../../../kernel/paths.js';
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
 * The wizard's choices so far, by occurrence (fingerprint and file; no secret), kept until the
 * migration is applied or the wizard is quit: an interrupted run (a vault that failed at the end,
 * a closed terminal) starts from them next time.
 */
export function wizardChoicesFile(): string {
  return join(keywardPaths().state, 'migrate-wizard.json');
}

function loadChoices(items: WizardItem[]): (WizardChoice | undefined)[] | undefined {
  let saved: Record<string, WizardChoice>;
  try {
    saved = JSON.parse(readFileSync(wizardChoicesFile(), 'utf8')) as Record<string, WizardChoice>;
  } catch {
    return undefined;
  }
  const out = items.map((i) => i.occurrences.map((o) => saved[o]).find((c) => c && ['move', 'skip', 'accept'].includes(c.action)));
  return out.some(Boolean) ? out : undefined;
}

function saveChoices(items: WizardItem[], choices: WizardChoice[]): void {
  try {
    mkdirSync(dirname(wizardChoicesFile()), { recursive: true, mode: 0o700 });
    const out: Record<string, WizardChoice> = {};
    items.forEach((item, i) => {
      for (const o of item.occurrences) out[o] = choices[i];
    });
    writeFileAtomic(wizardChoicesFile(), JSON.stringify(out) + '\n', { mode: 0o600, sync: false });
  } catch {
    /* resuming is a convenience: the wizard goes on without it */
  }
}

export function clearWizardChoices(): void {
  rmSync(wizardChoicesFile(), { force: true });
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
  const resumed = loadChoices(items);
  const app = render(
    <MigrateWizard
      items={items}
      resumed={resumed}
      onChange={(chosen) => saveChoices(items, chosen)}
      providers={planner.providers}
      existing={planner.existing}
      baselineFile={baselineFile}
      review={(chosen) => summarise(planner.plan(toChoices(items, chosen)), secrets)}
      onDone={(chosen) => (result = chosen)}
    />,
    { exitOnCtrlC: true, stdout: process.stderr },
  );
  await app.waitUntilExit();
  if (!result) clearWizardChoices();
  return result ? planner.plan(toChoices(items, result)) : undefined;
}
