/**
 * Types shared by every part of the scanner: sources produce chunks, the detector turns chunks
 * into raw matches, and the scan service turns matches into findings for the reporters.
 */

/** How sure keyward is that a finding is a live credential. */
export type Confidence = 'validated' | 'pattern';

/** Names of the offline validators a rule may ask for (see `detect/validators.ts`). */
export type ValidatorName =
  | 'crc32-base62' // GitHub, npm and keyward tokens: last 6 base62 chars are the CRC32 of the random part
  | 'jwt' // three base64url segments, the first two decoding to JSON objects with the expected fields
  | 'pem-private-key' // BEGIN/END markers that agree and a base64 body that decodes
  | 'openssh-private-key' // base64 body starting with the "openssh-key-v1" magic
  | 'base64-json' // payload decodes from base64 to a JSON object
  | 'aws-access-key-id' // account id decodes from the key id
  | 'slack-webhook' // path segments are well formed
  | 'basic-auth-base64' // base64 of `user:password` (Docker config.json `auth`), printable, with a password
  | 'luhn-free'; // reserved for future use

/** Alphabets a keyword-context rule's value is drawn from (see `rules/context.ts`). */
export type ContextAlphabet = 'hex' | 'hex-upper' | 'base62' | 'alnum-lower' | 'alnum-upper' | 'base64' | 'base64url' | 'uuid' | 'digits';

/**
 * A keyword-context rule: a key with no prefix of its own, found because a provider or variable
 * name (`ASANA_TOKEN`, `sendbird`) stands within a short window before a value of the right
 * alphabet and length. The pattern is built from this data.
 */
export interface ContextSpec {
  /** Provider, product or variable names (matched case-insensitively, also the prefilter keywords). */
  words: string[];
  /** Most characters allowed between the end of a word and the value, on the same line (default 40). */
  window?: number;
  alphabet: ContextAlphabet;
  /** Exact length, or [min, max]. Ignored for `uuid`. */
  length: number | [number, number];
  /** Regex source of the value when an alphabet and a length cannot describe it. */
  shape?: string;
}

/** A detection rule: data, with the examples that prove it. */
export interface Rule {
  /** Stable identifier, kebab-case, e.g. `github-classic-pat`. Used in baselines and allowlists. */
  id: string;
  /** One line for people: what the secret is. */
  description: string;
  /** Provider this credential belongs to, e.g. `github`. */
  provider: string;
  /**
   * Literal strings (matched case-insensitively) of which at least one must occur near a match.
   * The regex runs only on the lines around keyword hits.
   */
  keywords: string[];
  /** Regular expression source; the secret is the named group `secret` (or the whole match). */
  pattern: string;
  /** Extra regex flags (`i`, `s`, `m`). `g` and `d` are added by the engine. */
  flags?: string;
  /** Run on the linear-time engine (RE2): set for rules from a config, which anyone may write. */
  linear?: boolean;
  /** Minimum Shannon entropy of the secret in bits per character. */
  entropy?: number;
  /** Offline validator; when it fails the match is dropped, when it passes confidence is `validated`. */
  validate?: ValidatorName;
  /**
   * How many bytes around a keyword hit the regex sees, beyond the hit's own line.
   * Multi-line secrets (PEM keys) need `after`; most rules need nothing.
   */
  window?: { before?: number; after?: number };
  /** The rule is a broad fallback: it yields to any specific rule that found the same secret. */
  generic?: boolean;
  /** Apply the placeholder/example/hash false-positive filters to the secret (default true). */
  filters?: boolean;
  /**
   * Set on keyword-context rules: the data the pattern was built from. Their values must also mix
   * letters and digits (random keys do; words, counters and names do not).
   */
  context?: ContextSpec;
  /** Group shown by `keyward rules list` (cloud, ai, payments, …); set by the rule index. */
  category?: string;
  /** Provider profile `keyward migrate` maps this secret to, when it can move it. */
  migrate?: string;
  /** Strings that must produce a finding. */
  truePositives: string[];
  /** Strings that must not produce a finding. */
  falsePositives: string[];
}

/** A unit of content to scan. Sources make them; the detector never does I/O. */
export interface Chunk {
  /** Path shown to the user (relative to the current directory where possible). */
  path: string;
  data: Buffer;
  /**
   * For chunks made of selected lines (diffs): line `i` of `data` is line `lineMap[i]` of the file.
   * Absent for whole files, where line numbers start at `firstLine`.
   */
  lineMap?: number[];
  /** Line number of the first line of `data` when `lineMap` is absent (default 1). */
  firstLine?: number;
}

/** What the detector returns: positions are within the chunk, the secret is raw. */
export interface Match {
  ruleId: string;
  secret: string;
  /** 1-based line in the file (after `lineMap`). */
  line: number;
  /** 1-based column, in characters. */
  column: number;
  /** Byte offset of the secret within the chunk. */
  offset: number;
  confidence: Confidence;
  /** Set when the secret was found inside decoded content (base64, percent-encoding). */
  decoded?: string;
  /** The line carries a `keyward:allow` comment: counted, not reported. */
  inlineAllowed?: true;
}

/** Where a finding came from, beyond file and line. */
export interface FindingOrigin {
  source: 'file' | 'stdin' | 'staged' | 'history' | 'image' | 'home' | 'archive';
  commit?: string;
  author?: string;
  email?: string;
  date?: string;
  /** For history: how many commits carry the same secret (reported once, at the first). */
  occurrences?: number;
  /** Key path inside a structured config file, e.g. `mcpServers.github.env.GITHUB_TOKEN`. */
  keyPath?: string;
  /** Format the file was parsed as (`json`, `jsonc`, `yaml`, `toml`, `ini`, `netrc`, `env`, …). */
  format?: string;
  /** For archives: the path inside the archive, nested archives joined with `!/`. */
  archivePath?: string;
  /** For images: the image as the user named it, e.g. `registry://127.0.0.1:5000/app:latest`. */
  image?: string;
  /** For images: digest of the image manifest. */
  imageDigest?: string;
  /** For images: digest of the layer (as listed in the manifest) holding the file. */
  layer?: string;
  /** For images: position of that layer in the manifest, from 0. */
  layerIndex?: number;
  /** For images: the build history command that created the layer (`created_by`). */
  layerCommand?: string;
  /** For images: index of a later layer whose whiteout deleted the file (the secret is still in layer `layerIndex`). */
  deletedInLayer?: number;
}

/** A finding as reporters see it: the secret is already redacted unless the user asked. */
export interface Finding extends FindingOrigin {
  ruleId: string;
  provider: string;
  description: string;
  file: string;
  line: number;
  column: number;
  secret: string;
  /** sha256 hex of `ruleId + ':' + secret`: moving a line keeps it, a new secret changes it. */
  fingerprint: string;
  confidence: Confidence;
  migratable: boolean;
  decoded?: string;
  /** With `--verify`, for rules that have a verifier: what the provider said about the key. */
  verification?: 'live' | 'revoked' | 'unknown';
}

/** Counters every scan reports, so that nothing is skipped silently. */
export interface ScanStats {
  files: number;
  bytes: number;
  commits?: number;
  /** Image layers scanned (image scans only). */
  layers?: number;
  /** Archives opened, nested ones included. */
  archives?: number;
  skipped: {
    binary: number;
    tooLarge: number;
    unreadable: number;
    other: number;
  };
  suppressed: {
    baseline: number;
    allowlist: number;
    inline: number;
  };
}

/** A problem with one item that did not stop the scan. */
export interface ScanIssue {
  path?: string;
  message: string;
}

export interface ScanResult {
  findings: Finding[];
  stats: ScanStats;
  /** Items that could not be scanned; a non-empty list makes the scan partial. */
  issues: ScanIssue[];
  partial: boolean;
  target: string;
  mode: 'tree' | 'file' | 'stdin' | 'staged' | 'history' | 'home' | 'image';
  durationMs: number;
  /** `keyward scan home`: the home directory looked at (absolute). */
  home?: string;
  /** `keyward scan home`: every location looked at, present or not. */
  locations?: CheckedLocation[];
  /** `keyward scan image`: the images scanned. */
  images?: ScannedImage[];
  /** What the config took out of the scan, when it took out anything. */
  config?: ConfigSummary;
}

/** Suppression by a config, shown in every report so that a config cannot silence a scan unseen. */
export interface ConfigSummary {
  /** The config, as shown (`.keyward.yaml (staged)` when read from the index). */
  file: string;
  /** Rules switched off by `disable`. */
  disabled: number;
  /** Globs in `allowlist.paths`, regexes in `allowlist.regexes`, rules with their own allowlist. */
  allowlistPaths: number;
  allowlistRegexes: number;
  allowlistRules: number;
  /** Files not read because `allowlist.paths` matched them (with --history: changed files, one per commit). */
  pathsSkipped: number;
  /** Set when the config switches the scan off altogether: why. */
  suppressesAll?: string;
}

/** A credential or agent-config location that `keyward scan home` looked at. */
export interface CheckedLocation {
  /** Path as shown (with `~` for the home directory). */
  path: string;
  /** What uses it, e.g. `Claude Desktop`, `AWS CLI`. */
  client: string;
  format: string;
  status: 'present' | 'absent' | 'unreadable' | 'invalid';
  /** `keyward migrate` can rewrite this file. */
  migratable: boolean;
}

export interface ScannedImage {
  image: string;
  digest?: string;
  platform?: string;
  layers: number;
  /** Layers already scanned earlier in this run (identical digest), not scanned again. */
  reusedLayers: number;
  /** Compressed bytes of layer data read. */
  layerBytes: number;
}

export function emptyStats(): ScanStats {
  return {
    files: 0,
    bytes: 0,
    skipped: { binary: 0, tooLarge: 0, unreadable: 0, other: 0 },
    suppressed: { baseline: 0, allowlist: 0, inline: 0 },
  };
}
