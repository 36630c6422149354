import { describe, expect, it } from 'vitest';
import { Detector } from '../../../scanners/detect/detector.js';
import { builtinRules } from '../../../scanners/rules/index.js';

/**
 * Every rule against inputs built to make a backtracking regex engine go quadratic or worse:
 * long runs of the characters its classes accept, with no terminator, around each keyword.
 * The bound is loose (shared, noisy machines); catastrophic backtracking takes far longer.
 */
const BOUND_MS = 1500;

function pathological(keyword: string, example: string): string[] {
  const runs = ['a', 'A', '0', '-', '_', '.', '/', '=', ' ', '\t', 'aA0_-', 'A1/+=', '\\n'];
  const inputs = runs.map((r) => keyword + '=' + r.repeat(Math.ceil(60_000 / r.length)));
  inputs.push((keyword + '.').repeat(10_000));
  inputs.push((keyword + ' = "').repeat(5_000));
  inputs.push((keyword + '\n').repeat(10_000));
  inputs.push(keyword + ':' + 'x:'.repeat(20_000));
  inputs.push(example.slice(0, -2).repeat(2_000));
  inputs.push((example.slice(0, Math.floor(example.length / 2)) + '\n').repeat(2_000));
  return inputs;
}

describe('rules resist catastrophic backtracking', () => {
  for (const rule of builtinRules) {
    it(rule.id, () => {
      const detector = new Detector([rule]);
      for (const keyword of rule.keywords) {
        for (const input of pathological(keyword, rule.truePositives[0])) {
          const started = performance.now();
          detector.detect({ path: 'p.txt', data: Buffer.from(input) });
          const elapsed = performance.now() - started;
          expect(elapsed, `${rule.id} on ${JSON.stringify(input.slice(0, 30))}…`).toBeLessThan(BOUND_MS);
        }
      }
    });
  }
});
