import { Document, parseDocument } from 'yaml';
import { KeywardError } from '../../kernel/errors.js';
import { formatDuration } from '../../kernel/units.js';
import type { PolicyRule } from './policy.js';

/**
 * Adds an "always allow" rule to policy text, keeping its comments and layout; undefined text is
 * a missing policy.yaml. Returns the new text and the rule as one line.
 */
export function appendPolicyRule(current: string | undefined, rule: PolicyRule): { text: string; line: string } {
  const doc: Document = current === undefined || current.trim() === '' ? new Document({ defaults: { decision: 'ask', maxTtl: '1h' }, rules: [] }) : parseDocument(current);
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
  return { text: doc.toString(), line: `- ${JSON.stringify(plain).replace(/"([a-zA-Z]+)":/g, '$1: ')}` };
}
