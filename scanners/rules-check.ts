import { readFileSync } from 'node:fs';
import { Detector } from './detect/detector.js';
import type { ConfigProblem } from './config.js';
import { customRules } from './config.js';
import { builtinRules } from './rules/index.js';
import type { Rule } from './types.js';

export interface RuleCheckResult {
  builtin: number;
  custom: number;
  config?: string;
  problems: ConfigProblem[];
}

/** Runs every rule's examples: true positives must be found by that rule, false ones must not. */
export function checkExamples(rules: readonly Rule[], detector: Detector): { rule: Rule; kind: 'truePositives' | 'falsePositives'; index: number }[] {
  const failures: { rule: Rule; kind: 'truePositives' | 'falsePositives'; index: number }[] = [];
  for (const rule of rules) {
    const found = (text: string) => detector.detect({ path: 'example.txt', data: Buffer.from(text) }).some((m) => m.ruleId === rule.id);
    rule.truePositives.forEach((t, index) => {
      if (!found(t)) failures.push({ rule, kind: 'truePositives', index });
    });
    rule.falsePositives.forEach((t, index) => {
      if (found(t)) failures.push({ rule, kind: 'falsePositives', index });
    });
  }
  return failures;
}

/**
 * `keyward rules check`: the built-in rules against their examples, and a config file (if any)
 * against its schema and its custom rules' examples, with line numbers.
 */
export async function checkRules(configFile: string | undefined, explicit: boolean): Promise<RuleCheckResult> {
  const problems: ConfigProblem[] = [];
  let custom: Rule[] = [];
  let text: string | undefined;
  if (configFile) {
    try {
      text = readFileSync(configFile, 'utf8');
    } catch (error) {
      if (explicit || (error as NodeJS.ErrnoException).code !== 'ENOENT') {
        problems.push({ file: configFile, line: 0, column: 0, message: `cannot read: ${(error as Error).message}` });
      }
    }
  }
  let locate: ((path: (string | number)[]) => { line: number; column: number }) | undefined;
  if (text !== undefined && configFile) {
    const { parseScanConfig } = await import('./config-parse.js');
    const parsed = parseScanConfig(text, configFile);
    problems.push(...parsed.problems);
    locate = parsed.locate;
    if (parsed.problems.length === 0) {
      custom = customRules(parsed.config);
      const ids = new Set(builtinRules.map((r) => r.id));
      custom.forEach((r, i) => {
        if (ids.has(r.id)) problems.push({ file: configFile, ...parsed.locate(['rules', i, 'id']), message: `rules.${i}.id: "${r.id}" is already a built-in rule id` });
        if (r.truePositives.length === 0) {
          problems.push({ file: configFile, ...parsed.locate(['rules', i]), message: `rules.${i} (${r.id}): add truePositives, examples the rule must find` });
        }
        ids.add(r.id);
      });
      for (const id of parsed.config.disable ?? []) {
        if (!ids.has(id)) problems.push({ file: configFile, ...parsed.locate(['disable']), message: `disable: no rule has the id "${id}"` });
      }
    }
  }
  const all = [...builtinRules, ...custom];
  let detector: Detector | undefined;
  try {
    // Examples prove the rule itself: no decoding of encoded runs.
    detector = new Detector(all, { decodeDepth: 0 });
  } catch (error) {
    problems.push({ file: configFile ?? '(built-in rules)', line: 0, column: 0, message: (error as Error).message });
  }
  if (detector) {
    for (const f of checkExamples(all, detector)) {
      const customIndex = custom.indexOf(f.rule);
      const where =
        customIndex >= 0 && locate && configFile ? { file: configFile, ...locate(['rules', customIndex, f.kind, f.index]) } : { file: '(built-in rules)', line: 0, column: 0 };
      const what = f.kind === 'truePositives' ? 'is not found by the rule' : 'is found by the rule but must not be';
      problems.push({ ...where, message: `${f.rule.id}: ${f.kind}[${f.index}] ${what}` });
    }
  }
  return { builtin: builtinRules.length, custom: custom.length, config: text !== undefined ? configFile : undefined, problems };
}
