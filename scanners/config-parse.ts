import { linearRegexError } from './detect/linear-regex.js';
import { z } from 'zod';
import { parseYamlConfig } from '../kernel/yaml-config.js';
import type { LoadedConfig } from './config.js';

/**
 * Parsing and validation of `.keyward.yaml` (yaml + zod, with line numbers). Loaded only when
 * a config changed since it was last validated: see config.ts for the cache.
 *
 * `.keyward.yaml`: custom rules, disabled rules and allowlists for one repository.
 *
 * ```yaml
 * disable: [generic-secret-assignment]
 * allowlist:
 *   paths: ["test/fixtures/**"]          # skip these files entirely
 *   regexes: ["^AKIA.*TESTING$"]         # drop any finding whose secret matches
 *   rules:
 *     jwt: { paths: ["docs/**"], regexes: ["^eyJhbGciOiJub25lIn0"] }
 * rules:
 *   - id: acme-token
 *     description: Acme API token
 *     keywords: [acme_]
 *     pattern: 'acme_(?<secret>[a-z0-9]{32})'
 *     truePositives: [...]
 *     falsePositives: [...]
 * ```
 */
/**
 * A pattern from a config runs on the linear-time engine (RE2), so it must be one RE2 accepts:
 * no lookaround, no backreferences. A pattern with catastrophic backtracking in JavaScript is
 * harmless there.
 */
const regexString = z
  .string()
  .min(1)
  .superRefine((s, ctx) => {
    const problem = linearRegexError(s);
    if (problem)
      ctx.addIssue({ code: 'custom', message: `is not a valid regular expression for keyward's linear-time engine (RE2 syntax: no lookaround or backreferences): ${problem}` });
  });

const allowSchema = z.strictObject({
  paths: z.array(z.string().min(1)).optional(),
  regexes: z.array(regexString).optional(),
});

const customRuleSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, 'must be kebab-case (a-z, 0-9, -)'),
  description: z.string().min(1),
  provider: z.string().min(1).optional(),
  keywords: z.array(z.string().min(2, 'keywords need at least 2 characters')).min(1, 'a rule needs at least one keyword'),
  pattern: regexString,
  flags: z
    .string()
    .regex(/^[ims]*$/, 'only i, m and s are allowed')
    .optional(),
  entropy: z.number().min(0).max(8).optional(),
  migrate: z.string().optional(),
  truePositives: z.array(z.string()).optional(),
  falsePositives: z.array(z.string()).optional(),
});

const configSchema = z.strictObject({
  disable: z.array(z.string()).optional(),
  allowlist: z
    .strictObject({
      paths: z.array(z.string().min(1)).optional(),
      regexes: z.array(regexString).optional(),
      rules: z.record(z.string(), allowSchema).optional(),
    })
    .optional(),
  rules: z.array(customRuleSchema).optional(),
});

export type ParsedScanConfig = z.infer<typeof configSchema>;

/** Parses and validates config text; never throws on bad input, returns problems instead. */
/** Parsed config plus a way to point at any path in the source, for later checks. */
export interface ParsedConfig extends LoadedConfig {
  /** Line and column of the node at `path` (or its nearest existing parent). */
  locate(path: (string | number)[]): { line: number; column: number };
}

/** Parses and validates config text; never throws on bad input, returns problems instead. */
export function parseScanConfig(text: string, file: string): ParsedConfig {
  const parsed = parseYamlConfig(text, file, configSchema);
  return { config: parsed.value ?? {}, file, problems: parsed.problems, locate: parsed.locate };
}
