import { readFileSync } from 'node:fs';
import { Document, parseDocument } from 'yaml';
import { KeywardError } from '../../kernel/errors.js';
import { writeFileAtomic } from '../../kernel/atomic-file.js';
import { formatDuration } from '../../kernel/units.js';
import type { PolicyRule } from './policy.js';

/** Appends an "always allow" rule to policy.yaml, keeping its comments and layout. */
export function appendPolicyRule(file: string, rule: PolicyRule): string {
  let doc: Document;
  try {
    doc = parseDocument(readFileSync(file, 'utf8'));
  } catch {
    doc = new Document({ defaults: { decision: 'ask', maxTtl: '1h' }, rules: [] });
  }
  if (doc.errors.length) throw new KeywardError('policy.yaml has errors; not adding a rule to it', { hint: 'Run keyward policy check.' });
  const plain: Record<string, unknown> = {};
  for (const key of ['agent', 'credential', 'permission', 'resource', 'mode'] as const) if (rule[key] !== undefined) plain[key] = rule[key];
  plain.decision = rule.decision;
  if (rule.maxTtl) plain.maxTtl = formatDuration(rule.maxTtl);
  const node = doc.createNode(plain, { flow: true });
  if (!doc.has('rules') || doc.get('rules') === null) doc.set('rules', doc.createNode([]));
  const rules = doc.get('rules', true) as { add?: (n: unknown) => void } | undefined;
  if (!rules?.add) throw new KeywardError('policy.yaml: rules is not a list; not adding a rule to it', { hint: 'Run keyward policy check.' });
  rules.add(node);
  writeFileAtomic(file, doc.toString(), { mode: 0o600 });
  return `- ${JSON.stringify(plain).replace(/"([a-zA-Z]+)":/g, '$1: ')}`;
}
