/**
 * False-positive filters. Each returns a reason string when the candidate should be dropped.
 * They run on every match of a rule that has `filters` on (the default); the stricter
 * `genericFilter` runs only for the broad assignment rules.
 */

/** Words that mark documentation, templates and test data rather than real keys. */
const PLACEHOLDER_WORDS =
  /example|sample|dummy|placeholder|your[_-]?(?:api|access|secret|own|token|key|pass)|changeme|change[_-]me|redacted|replace[_-]?me|insert[_-]?(?:your|key|token)|fake[_-]?(?:key|token|secret|pass)|(?:my|some)[_-]?pass(?:w(?:or)?d)?|top[_-]?secret|super[_-]?secret|not[_ -]?(?:a[_ -]?|my[_ -]?)?re[a@]l|lorem|foobar|xxxxx|\*\*\*\*|\.\.\.|…|<[a-z_ -]+>|\[[a-z_ -]{3,}\]|\{\{|\$\{|%\(|%[A-Z_]+%/i;

/** Runs people type when they need a value that looks like a key. */
const SEQUENCES = /0123456789|123456789|abcdefghij|ABCDEFGHIJ|qwertyuiop/;
/** Shorter runs: telling in a secret's own text, too common inside decoded payloads (timestamps). */
const SHORT_SEQUENCES = /123456|abcdef|abc123/;

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
  'acme_k3j9x8m2p4q7r5t1v6w0y8z2a4c6e8g0', // keyward's own custom-rule example (docs/rules.md)
  // jwt.io's example token ({"sub":"1234567890","name":"John Doe",...}, signed with "your-256-bit-secret")
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzb21lIjoicGF5bG9hZCJ9.4twFt5NiznN84AWoo1d7KO1T_yoc0Z6XOpOVswacPZg', // PyJWT README
  'eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJrIjoidmFsdWUifQ._M8ViO_GK6TnZ9G9eqdlS7IpNWzhoGwaYYDQ3hEwwmA', // joserfc README
  // OAuth 2.0 (RFC 6749, RFC 6750) and OpenID Connect Core examples
  '2YotnFZFEjr1zCsicMWpAA',
  'tGzv3JOkF0XG5Qx2TlKWIA',
  'SplxlOBeZQQYbYS6WxSbIA',
  '7Fjfp0ZBr1KtDRbnfVdmIw',
  'czZCaGRSa3F0MzpnWDFmQmF0M2JW',
  'gX1fBat3bV',
  'mF_9.B5f-4.1JqM',
  'SlAV32hkKG',
  '8xLOxBtZp8',
  // OAuth 1.0 (RFC 5849) examples
  'dpf43f3p2l4k3l03',
  'kd94hf93k423kf44',
  'hh5s93j4hdidpola',
  'hdhd0244k9j7ao03',
  'hfdp7dh39dks9884',
  'nnch734d00sl2jdk',
  'pfkkdhi9sl3r4s00',
  // HTTP Basic authentication examples (RFC 7617 "Aladdin:open sesame", MDN "aladdin:opensesame")
  'QWxhZGRpbjpvcGVuIHNlc2FtZQ==',
  'YWxhZGRpbjpvcGVuc2VzYW1l',
]);

const JWT_SHAPE = /^eyJ[A-Za-z0-9_-]{2,}\.eyJ[A-Za-z0-9_-]{2,}\./;

export function placeholderReason(secret: string): string | undefined {
  if (DOCUMENTED_KEYS.has(secret)) return 'documented example key';
  // A JWT's own text is hundreds of base64url characters where "dummy" or "xxxxx" turn up by
  // chance: only its decoded payload is read.
  if (!JWT_SHAPE.test(secret)) {
    if (PLACEHOLDER_WORDS.test(secret)) return 'placeholder';
    if (/(.)\1{7,}/.test(secret)) return 'repeated character';
    if (SEQUENCES.test(secret) || SHORT_SEQUENCES.test(secret)) return 'sequence';
  }
  // The same words hidden by an encoding: "not-re%40l", base64 of "not my real password", a JWT
  // whose payload is jwt.io's John Doe. Only text that decodes cleanly is looked at.
  const decoded = decodedText(secret);
  if (decoded !== undefined && (PLACEHOLDER_WORDS.test(decoded) || SEQUENCES.test(decoded))) return 'placeholder (decoded)';
  return undefined;
}

/** The printable text a percent-encoded, base64 or JWT-shaped secret decodes to, if any. */
function decodedText(secret: string): string | undefined {
  let text: string | undefined;
  if (/%[0-9A-Fa-f]{2}/.test(secret)) {
    try {
      text = decodeURIComponent(secret);
    } catch {
      return undefined;
    }
  } else if (JWT_SHAPE.test(secret)) {
    text = Buffer.from(secret.split('.')[1], 'base64url').toString('utf8');
  } else if (/^[A-Za-z0-9+/]{16,}={0,2}$/.test(secret) && secret.length % 4 === 0) {
    text = Buffer.from(secret, 'base64').toString('latin1');
  }
  return text !== undefined && text !== secret && /^[\x20-\x7e\t\r\n]+$/.test(text) ? text : undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// 32 hex digits are left alone: many providers issue API keys in exactly that shape.
const HEX_HASH = /^(?:[0-9a-f]{40}|[0-9a-f]{56}|[0-9a-f]{64}|[0-9a-f]{96}|[0-9a-f]{128})$/i;
const INTEGRITY = /^(?:sha1|sha256|sha384|sha512)-[A-Za-z0-9+/]+={0,2}$/;
const REFERENCE =
  /^(?:\$[A-Za-z_{(]|%[A-Za-z_]+%|process\.env|os\.environ|os\.getenv|env\.|ENV\[|getenv\(|System\.getenv|keyward:\/\/|vault:|secret:|ref\+|op:\/\/|arn:aws:secretsmanager)/;
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
  if (/^(?:arn|urn):[A-Za-z0-9-]{0,32}:/.test(secret)) return 'ARN or URN';
  if (/^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/.test(secret)) return 'date or time';
  if (/^[A-Za-z_][A-Za-z_.-]*$/.test(secret)) return 'identifier';
  if (/^[A-Za-z][a-z]+(?:[A-Z][a-z]+)+\d{0,3}$/.test(secret)) return 'camelCase identifier';
  if (isSnakeName(secret)) return 'snake_case or CONSTANT_CASE name';
  if (QUALIFIED_NAME.test(secret) && !secret.split('.').some(isRandomPart)) return 'qualified name';
  if (/^[a-z][a-z_.-]*(?:\/[a-z_.-]+)+\/?$/.test(secret)) return 'path of words';
  if (/^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*\(/.test(secret)) return 'function call';
  if (/^(?:[\\/.~]|[A-Za-z]:\\)[\w./\\-]*$/.test(secret)) return 'file path';
  if (/^https?:\/\/[^@\s]*$/.test(secret)) return 'url';
  if (/^\d+(?:\.\d+)*$/.test(secret)) return 'number or version';
  if (/^(?:true|false|null|none|nil|undefined|required|optional|string|bearer|basic)$/i.test(secret)) return 'keyword';
  if (/^0x[0-9a-fA-F]{40}$/.test(secret)) return 'public address';
  if (DIGEST.test(secret)) return 'digest or image reference';
  if (VERSIONED.test(secret) && /^[\w.+:@/-]+$/.test(secret)) return 'version or package spec';
  if (FILE_NAME.test(secret)) return 'file name';
  if (/^[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$/.test(secret)) return 'email address';
  if (/^\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?$/.test(secret)) return 'ip address';
  if (/^[\w.-]+:[\w.-]+=[A-Za-z]+$/.test(secret)) return 'setting, not a value';
  if (isKebabName(secret)) return 'kebab-case name';
  if (/^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*=[\w$.]*$/.test(secret) && !/^[A-Za-z0-9+/]+=+$/.test(secret)) return 'code, not a value';
  if (/^[\w.-]*%[sd](?![A-Za-z0-9])[\w.-]*$/.test(secret)) return 'format string';
  // A value that spells out what it is ("SomeKindOfPassword123!@#", "TESTACCESSKEY12345",
  // "OAuth2Token") is a name or a made-up example: random keys never contain these words.
  if (SELF_NAMING.test(secret)) return 'names a secret rather than holding one';
  if (isTestPath(path)) return 'test path';
  return undefined;
}

/**
 * `rfc5958.PrivateKeyInfo`, `self._private_key_pkcs12`, `IPython.core.magics.osm:OSMagics`,
 * `Nt.tokenShortNameIdx++`: dotted names whose parts are words with at most two runs of digits
 * (so dotted tokens such as JWTs or Discord tokens, with digits everywhere, are not names).
 */
const NAME_PART = '[A-Za-z_$][A-Za-z_$]*(?:\\d+[A-Za-z_$]*){0,2}';
const QUALIFIED_NAME = new RegExp(`^[-!]?${NAME_PART}(?:\\.${NAME_PART}){1,8}(?::${NAME_PART})?(?:\\+\\+|--|\\(\\))?$`);
/** A long run mixing upper case, lower case and digits is a key's body, not a word of a name. */
const isRandomPart = (part: string) => part.length >= 16 && /\d/.test(part) && /[a-z]/.test(part) && /[A-Z]/.test(part);

/**
 * `max_tokens_per_1_minute`, `crypto_sign_curve25519_BYTES`, `_IMDSV2_SESSION_TOKEN_TTL_SECONDS`:
 * words of one case joined by underscores. Each part is short with at most one run of digits,
 * and lower-case names need three parts, so prefixed tokens (`tok_3942e86f8daa2315`,
 * `dop_v1_<64 hex>`, `AVNS_k2Jf…`) are not names.
 */
function isSnakeName(secret: string): boolean {
  const parts = secret.replace(/^[-!]?_?/, '').split('_');
  if (parts.length < 2 || parts.length > 12) return false;
  let upper = 0;
  for (const part of parts) {
    if (part.length === 0 || part.length > 16 || !/^[A-Za-z]*\d*[A-Za-z]*$/.test(part)) return false;
    if (/^[A-Z0-9]+$/.test(part) && /[A-Z]/.test(part)) upper++;
    else if (!/^[a-z0-9]+$/.test(part)) return false;
  }
  return upper === parts.length ? /^_?[A-Z]/.test(secret.replace(/^[-!]/, '')) : parts.length >= 3;
}

/** `sha256:<hex>`, `ghcr.io/acme/app@sha256:<hex>`: content addresses, public by design. */
const DIGEST = /(?:^|@)(?:sha1|sha256|sha384|sha512|md5|blake2b|blake3):[0-9a-f]{32,128}$/i;
/** A dotted version inside the value (`jackson-databind-2.15.2`, `rc1.4.0_20240101-SNAPSHOT`, `@acme/x@3.2.1`). */
const VERSIONED = /(?:^|[^\d.])v?\d{1,4}\.\d{1,4}\.\d{1,6}(?![\d.]*\d{7})|(?:^|[._-])(?:SNAPSHOT|RELEASE|FINAL|GA)$/;
/** A file name or path by its extension (`trust.jks`, `server_priv.pem`): where a key is, not the key. */
const FILE_NAME = /^[\w.~/\\-]*\.(?:pem|jks|p12|pfx|key|crt|cer|der|csr|json|ya?ml|toml|txt|env|conf|cfg|ini|properties|xml|keystore|truststore|gpg|asc|pub|kdbx|p8)$/i;

/**
 * `keyring-2024-01-prod`, `release-candidate-3`: lower-case words and numbers joined by dashes,
 * every part a word or a number (random keys mix letters and digits within their parts).
 */
function isKebabName(secret: string): boolean {
  const parts = secret.split('-');
  return parts.length >= 3 && parts.every((p) => /^(?:[a-z]{1,16}|\d{1,8})$/.test(p)) && parts.some((p) => /^[a-z]{3,}$/.test(p));
}

const SELF_NAMING = /passw(?:or)?d|secret|token|credential|api[_.-]?key|access[_.-]?key|private[_.-]?key/i;
