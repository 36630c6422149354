import { createHash } from 'node:crypto';
import picomatch from 'picomatch';
import { Detector } from './detect/detector.js';
import { linearTester } from './detect/linear-regex.js';
import type { ScanConfig } from './config.js';
import { customRules } from './config.js';
import { builtinRules } from './rules/index.js';
import type { Finding, FindingOrigin, Match, Rule } from './types.js';

/** The rules in force for a scan, and the allowlists that apply to their matches. */
export interface RuleSet {
  rules: Rule[];
  byId: Map<string, Rule>;
  detector: Detector;
  /** True when the whole file should not be read. */
  pathAllowed(path: string): boolean;
  /** True when a match is allowlisted by a secret regex or a per-rule path/regex. */
  matchAllowed(ruleId: string, path: string, secret: string): boolean;
  /** Disabled ids that name no rule: worth a warning. */
  unknownDisabled: string[];
}

const globOptions = { dot: true } as const;

function compileGlobs(globs: string[] | undefined): ((path: string) => boolean) | undefined {
  if (!globs || globs.length === 0) return undefined;
  const matchers = globs.map((g) => picomatch(g.endsWith('/') ? `${g}**` : g, globOptions));
  return (path) => matchers.some((m) => m(path));
}

/** Allowlist regexes come from a config: they run on the linear-time engine. */
function compileRegexes(sources: string[] | undefined): ((secret: string) => boolean) | undefined {
  if (!sources || sources.length === 0) return undefined;
  const regexes = sources.map((s) => linearTester(s));
  return (secret) => regexes.some((test) => test(secret));
}

export interface RuleSetOptions {
  /** Depth of base64/percent decoding (see `Detector`); the default applies when absent. */
  decodeDepth?: number;
}

/** Builds the rule set from the built-in rules and a (validated) config. */
export function buildRuleSet(config: ScanConfig = {}, options: RuleSetOptions = {}): RuleSet {
  const disabled = new Set(config.disable ?? []);
  const custom = customRules(config);
  const all = [...builtinRules, ...custom];
  const rules = all.filter((r) => !disabled.has(r.id));
  const known = new Set(all.map((r) => r.id));
  const pathGlobs = compileGlobs(config.allowlist?.paths);
  const secretRegexes = compileRegexes(config.allowlist?.regexes);
  const perRule = new Map(Object.entries(config.allowlist?.rules ?? {}).map(([id, a]) => [id, { paths: compileGlobs(a.paths), regexes: compileRegexes(a.regexes) }]));
  return {
    rules,
    byId: new Map(rules.map((r) => [r.id, r])),
    detector: new Detector(rules, { decodeDepth: options.decodeDepth }),
    unknownDisabled: [...disabled].filter((id) => !known.has(id)),
    pathAllowed: (path) => pathGlobs?.(path) ?? false,
    matchAllowed(ruleId, path, secret) {
      if (secretRegexes?.(secret)) return true;
      const r = perRule.get(ruleId);
      return Boolean(r && (r.paths?.(path) || r.regexes?.(secret)));
    },
  };
}

/** sha256 hex of `ruleId:secret`. */
export function fingerprint(ruleId: string, secret: string): string {
  return createHash('sha256').update(`${ruleId}:${secret}`).digest('hex');
}

/**
 * Redacts a secret for display: long secrets keep their first four characters (usually a public
 * prefix such as `ghp_`), short ones show nothing.
 */
export function redact(secret: string): string {
  const keep = secret.length >= 20 ? 4 : 0;
  return `${secret.slice(0, keep)}${'*'.repeat(8)}`;
}

/** Turns a raw match into the finding reporters see; redaction happens here and only here. */
export function toFinding(rule: Rule, match: Match, file: string, origin: FindingOrigin, options: { showSecrets: boolean; migratable: boolean }): Finding {
  const finding: Finding = {
    ruleId: rule.id,
    provider: rule.provider,
    description: rule.description,
    file,
    line: match.line,
    column: match.column,
    secret: options.showSecrets ? match.secret : redact(match.secret),
    fingerprint: fingerprint(rule.id, match.secret),
    confidence: match.confidence,
    migratable: options.migratable && rule.migrate !== undefined,
    ...origin,
  };
  if (match.decoded) finding.decoded = match.decoded;
  return finding;
}
