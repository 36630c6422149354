import { describe, expect, it } from 'vitest';
import { Detector } from '../../../scanners/detect/detector.js';
import { builtinRules } from '../../../scanners/rules/index.js';

const detector = new Detector(builtinRules);
const find = (text: string, path = 'config/settings.txt') => detector.detect({ path, data: Buffer.from(text) });

describe('built-in rules', () => {
  it('has unique, well-formed ids', () => {
    const ids = builtinRules.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z0-9]+(?:-[a-z0-9]+)*$/);
  });

  for (const rule of builtinRules) {
    describe(rule.id, () => {
      it('carries examples both ways', () => {
        expect(rule.truePositives.length).toBeGreaterThan(0);
        expect(rule.falsePositives.length).toBeGreaterThan(0);
      });
      it.each(rule.truePositives.map((e, i) => [i + 1, e]))('finds true positive #%i', (_n, example) => {
        expect(find(example).map((m) => m.ruleId)).toContain(rule.id);
      });
      it.each(rule.falsePositives.map((e, i) => [i + 1, e]))('ignores false positive #%i', (_n, example) => {
        expect(find(example).map((m) => m.ruleId)).not.toContain(rule.id);
      });
    });
  }
});
