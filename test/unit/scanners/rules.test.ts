import { describe, expect, it } from 'vitest';
import { Detector } from '../../../scanners/detect/detector.js';
import { contextRule } from '../../../scanners/rules/context.js';
import * as contextRules from '../../../scanners/rules/context-rules.js';
import { extractionRules } from '../../../scanners/rules/extraction.js';
import * as formats from '../../../scanners/rules/formats.js';
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

/**
 * A must-not example says "not a secret here", so no rule of the whole set may report it, not only
 * its own. The exceptions are listed with their reason: the example is another provider's key,
 * which that provider's rule rightly reports (`rule#example`: rules that may report it).
 */
const ALSO_REPORTED_BY: Record<string, string[]> = {
  // Keys of one provider in another's format: the other provider's rule finds them, as it should.
  'paystack-secret-key#1': ['stripe-secret-key'], // sk_live_ + 40 hex also fits Stripe's shape
  'paystack-secret-key#3': ['stripe-secret-key'], // a Stripe key
  'stripe-secret-key#4': ['paystack-secret-key'], // a Paystack key
  'stripe-secret-key#5': ['clerk-secret-key'], // a Clerk key
  'stripe-test-key#4': ['paystack-secret-key'], // a Paystack test key
  'stripe-test-key#5': ['clerk-secret-key'], // a Clerk test key
  'flutterwave-encryption-key#2': ['flutterwave-secret-key'], // the secret key, not the encryption key
  'pypi-upload-token#3': ['pypi-test-upload-token'], // a TestPyPI token
  'elastic-api-key#4': ['http-authorization-header'], // too short for Elastic; still a credential header
  'clerk-secret-key#3': ['stripe-secret-key'], // a Stripe key
  'square-access-token#2': ['square-production-access-token'], // the production token's format
  'confluent-api-secret#1': ['confluent-api-key'], // the API key, not its secret
};
/**
 * The generic assignment rule still reports must-not examples of specific rules (a variable name
 * with KEY or SECRET and a random-looking value); it is being narrowed. This ceiling can only go
 * down: docs/testing.md#known-debt.
 */
const GENERIC = 'generic-secret-assignment';
const GENERIC_CEILING = 172;

describe('must-not examples against the whole rule set', () => {
  const reportedBy = (example: string) => [...new Set(find(example).map((m) => m.ruleId))].sort();
  for (const rule of builtinRules) {
    rule.falsePositives.forEach((example, i) => {
      const key = `${rule.id}#${i + 1}`;
      it(`${key} is reported by no rule${ALSO_REPORTED_BY[key] ? ` but ${ALSO_REPORTED_BY[key].join(', ')}` : ''}`, () => {
        const found = reportedBy(example);
        expect(found.filter((id) => id !== GENERIC)).toEqual(ALSO_REPORTED_BY[key] ?? []);
      });
    });
  }
  it(`leaves at most ${GENERIC_CEILING} must-not examples to ${GENERIC}, and the generic rule's own to nobody`, () => {
    const generic = builtinRules.filter((r) => r.id !== GENERIC).flatMap((r) => r.falsePositives.filter((e) => reportedBy(e).includes(GENERIC)));
    expect(generic.length).toBeLessThanOrEqual(GENERIC_CEILING);
    for (const example of builtinRules.find((r) => r.id === GENERIC)!.falsePositives) expect(reportedBy(example)).toEqual([]);
  });
  it('lists no exception that no longer applies', () => {
    for (const key of Object.keys(ALSO_REPORTED_BY)) {
      const [id, n] = key.split('#');
      expect(builtinRules.find((r) => r.id === id)?.falsePositives[Number(n) - 1], key).toBeDefined();
    }
  });
});

describe('documented-format, keyword-context and extraction rules', () => {
  // Their must-not examples are checked against every rule, not only their own: a decoy that
  // another rule reports would still be a false positive for the person reading the report.
  const strict = [...Object.values(formats).flat(), ...Object.values(contextRules).flat(), ...extractionRules];
  it('number more than 150, and the built-in set at least 400', () => {
    expect(strict.length).toBeGreaterThan(150);
    expect(builtinRules.length).toBeGreaterThanOrEqual(400);
  });
  for (const rule of strict) {
    it.each(rule.falsePositives.map((e, i) => [rule.id, i + 1, e]))('%s: no rule reports false positive #%i', (_id, _n, example) => {
      expect(find(example).map((m) => `${m.ruleId}:${m.secret}`)).toEqual([]);
    });
  }
});

describe('keyword-context rules', () => {
  const rule = contextRule({
    id: 'acme-context',
    description: 'Acme key',
    provider: 'acme',
    words: ['acme'],
    alphabet: 'hex',
    length: 32,
    truePositives: [],
    falsePositives: [],
  });
  const acme = new Detector([rule]);
  const hits = (text: string) => acme.detect({ path: 'a.env', data: Buffer.from(text) }).map((m) => m.secret);
  const key = '9f3b2c7d1e8a4f6b0c5d2e9a7b1f3c8d';

  it('finds the value after the word, past a variable name, on the same line', () => {
    expect(hits(`ACME_CLIENT_SECRET=${key}`)).toEqual([key]);
    expect(hits(`acme:\n  secret: ${key}`)).toEqual([]);
    expect(hits(`headers = {"X-Acme-Key": "${key}"}`)).toEqual([key]);
  });
  it('needs the value within the window, with the exact length and both letters and digits', () => {
    expect(hits(`acme ${'-'.repeat(60)} ${key}`)).toEqual([]);
    expect(hits(`ACME_KEY=${key}0`)).toEqual([]);
    expect(hits(`ACME_KEY=${'abcdefabcdefabcdefabcdefabcdefab'.replace(/a/g, 'e')}`)).toEqual([]);
    expect(hits(`ACME_ID=${'1'.repeat(32)}`)).toEqual([]);
  });
  it('records its data on the rule', () => {
    expect(rule.context).toEqual({ words: ['acme'], window: 40, alphabet: 'hex', length: 32 });
    expect(rule.keywords).toEqual(['acme']);
  });
});
