import type { ContextAlphabet, ContextSpec, Rule } from '../types.js';

/**
 * Keyword-context rules: keys with no prefix of their own (Sendbird's 40 hex digits, an Asana
 * client secret, a Kucoin secret that is a UUID) are found where a provider, product or variable
 * name stands shortly before them. A rule is data (`words`, `window`, `alphabet`, `length`); this
 * module turns it into the pattern the detector runs, so adding a provider is a few lines.
 */

/** Characters of each alphabet, as a regex class body. */
const CLASS: Record<ContextAlphabet, string> = {
  hex: '0-9a-f',
  'hex-upper': '0-9A-F',
  base62: 'A-Za-z0-9',
  'alnum-lower': 'a-z0-9',
  'alnum-upper': 'A-Z0-9',
  base64: 'A-Za-z0-9+/',
  base64url: 'A-Za-z0-9_-',
  uuid: '0-9a-fA-F',
  digits: '0-9',
};

const UUID_VALUE = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';

/** Default distance, in characters, between the end of a word and the start of its value. */
export const DEFAULT_CONTEXT_WINDOW = 40;

/** `asana` → `[aA][sS][aA][nN][aA]`: case-insensitive words without making the value's class case-insensitive. */
function anyCase(word: string): string {
  return [...word]
    .map((ch) => {
      const lower = ch.toLowerCase();
      const upper = ch.toUpperCase();
      if (lower !== upper) return `[${lower}${upper}]`;
      return ch.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    })
    .join('');
}

/** The value part of the pattern: the secret as a named group, bounded on both sides. */
export function contextValue(spec: Pick<ContextSpec, 'alphabet' | 'length'> & { shape?: string }): string {
  if (spec.shape) return `(?<![A-Za-z0-9_+/.-])(?<secret>${spec.shape})(?![A-Za-z0-9_+/=-])`;
  if (spec.alphabet === 'uuid') return `(?<![A-Za-z0-9_-])(?<secret>${UUID_VALUE})(?![A-Za-z0-9_-])`;
  const cls = CLASS[spec.alphabet];
  const [min, max] = typeof spec.length === 'number' ? [spec.length, spec.length] : spec.length;
  const count = min === max ? `{${min}}` : `{${min},${max}}`;
  const padding = spec.alphabet === 'base64' ? '={0,2}' : '';
  // Random keys mix letters and digits; names, words and counters of the same length do not.
  // Checked inside the pattern so that a name between the word and the value (ASANA_CLIENT_SECRET)
  // is passed over rather than ending the search.
  const mixed = spec.alphabet === 'digits' ? '' : `(?=[${cls}]*[0-9])(?=[${cls}]*[A-Za-z])`;
  const edge = 'A-Za-z0-9_+/-';
  return `(?<![${edge}])${mixed}(?<secret>[${cls}]${count}${padding})(?![${edge}=])`;
}

export interface ContextRuleSpec extends Omit<Rule, 'keywords' | 'pattern' | 'flags' | 'context' | 'window'> {
  words: string[];
  window?: number;
  alphabet: ContextAlphabet;
  length: number | [number, number];
  /** Regex source of the value when an alphabet and a length cannot say it (`[0-9a-f]{8}:[0-9a-f]{8}`). */
  shape?: string;
}

/** Builds a detection rule from keyword-context data. */
export function contextRule(spec: ContextRuleSpec): Rule {
  const { words, window = DEFAULT_CONTEXT_WINDOW, alphabet, length, shape, ...rest } = spec;
  if (words.length === 0) throw new Error(`context rule ${spec.id} has no words`);
  const word = `(?:${words.map(anyCase).join('|')})`;
  // The gap stays on the word's line and ends where a value can start (after a separator).
  const pattern = `${word}[^\\n]{0,${window}}?${contextValue({ alphabet, length, shape })}`;
  return {
    ...rest,
    keywords: words,
    pattern,
    entropy: rest.entropy ?? (alphabet === 'hex' || alphabet === 'hex-upper' || alphabet === 'uuid' ? 3 : 3.2),
    context: { words, window, alphabet, length, ...(shape ? { shape } : {}) },
  };
}
