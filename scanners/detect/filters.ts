/**
 * False-positive filters. Each returns a reason string when the candidate should be dropped.
 * They run on every match of a rule that has `filters` on (the default); the stricter
 * `genericFilter` runs only for the broad assignment rules.
 */

/** Words that mark documentation, templates and test data rather than real keys. */
const PLACEHOLDER_WORDS =
  /example|sample|dummy|placeholder|your[_-]?(?:api|access|secret|own|token|key|pass)|changeme|change[_-]me|redacted|replace[_-]?me|insert[_-]?(?:your|key|token)|fake[_-]?(?:key|token|secret)|notreal|not[_-]a[_-]real|lorem|foobar|xxxxx|\*\*\*\*|\.\.\.\.|<[a-z_ -]+>|\{\{|\$\{|%\(|%[A-Z_]+%/i;

/** Keys the providers publish in their own documentation. */
const DOCUMENTED_KEYS = new Set([
  'AKIAIOSFODNN7EXAMPLE',
  'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  'sk_test_4eC39HqLyjWDarjtT1zdp7dc',
  'pk_test_TYooMQauvdEDq54NiTphI7jx',
  'sk_test_BQokikJOvBiI2HlWgH4olfQ2',
  'pk_test_6pRNASCoBOKtIshFeQd4XMUh',
  'AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe',
  'xoxb-not-a-real-token-this-will-not-work',
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==', // Azurite
  'perm:cm9vdA==.dG9rZW4=.rNZ38ije7uiWwnUTRDdyFDdUkoPUPi', // YouTrack documentation
  'tfp_943af478d3ff3d4d760020c11af102b79c440513', // Typeform documentation
  're_c1tpEyD8_NKFusih9vKVQknRAQfmFcWCv', // Resend documentation
]);

export function placeholderReason(secret: string): string | undefined {
  if (DOCUMENTED_KEYS.has(secret)) return 'documented example key';
  if (PLACEHOLDER_WORDS.test(secret)) return 'placeholder';
  if (/(.)\1{7,}/.test(secret)) return 'repeated character';
  if (/0123456789|123456789|abcdefghij|ABCDEFGHIJ|qwertyuiop/.test(secret)) return 'sequence';
  return undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// 32 hex digits are left alone: many providers issue API keys in exactly that shape.
const HEX_HASH = /^(?:[0-9a-f]{40}|[0-9a-f]{56}|[0-9a-f]{64}|[0-9a-f]{96}|[0-9a-f]{128})$/i;
const INTEGRITY = /^(?:sha1|sha256|sha384|sha512)-[A-Za-z0-9+/]+={0,2}$/;
const REFERENCE = /^(?:\$[A-Za-z_{(]|%[A-Za-z_]+%|process\.env|os\.environ|os\.getenv|env\.|ENV\[|getenv\(|System\.getenv|keyward:\/\/|vault:|secret:|ref\+|op:\/\/|arn:aws:secretsmanager)/;
const TEST_PATH =
  /(?:^|[\\/])(?:tests?|__tests__|__mocks__|specs?|fixtures?|testdata|test-data|mocks?|examples?|samples?)[\\/]|(?:\.|_|-)(?:test|spec|mock|fixture|example|sample|template|dist)(?:\.[A-Za-z0-9]+)?$|\.env\.(?:example|sample|template|dist|defaults)$|(?:^|[\\/])test_[^\\/]*\.py$/i;

export function isTestPath(path: string): boolean {
  return TEST_PATH.test(path);
}

/**
 * The stricter filter for generic assignment rules: references to other places, identifiers,
 * hashes, UUIDs, integrity strings, and anything in a test path.
 */
export function genericReason(secret: string, path: string): string | undefined {
  if (REFERENCE.test(secret)) return 'reference to another variable';
  if (UUID.test(secret)) return 'uuid';
  if (HEX_HASH.test(secret)) return 'hex digest or git sha';
  if (INTEGRITY.test(secret)) return 'integrity hash';
  if (/^[A-Za-z_][A-Za-z_.-]*$/.test(secret)) return 'identifier';
  if (/^[A-Za-z][a-z]+(?:[A-Z][a-z]+)+\d{0,3}$/.test(secret)) return 'camelCase identifier';
  if (/^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*\(/.test(secret)) return 'function call';
  if (/^(?:[\\/.~]|[A-Za-z]:\\)[\w./\\-]*$/.test(secret)) return 'file path';
  if (/^https?:\/\/[^@\s]*$/.test(secret)) return 'url';
  if (/^\d+(?:\.\d+)*$/.test(secret)) return 'number or version';
  if (/^(?:true|false|null|none|nil|undefined|required|optional|string|bearer|basic)$/i.test(secret)) return 'keyword';
  if (isTestPath(path)) return 'test path';
  return undefined;
}
