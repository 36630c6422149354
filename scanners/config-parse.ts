import { LineCounter, parseDocument, isNode } from 'yaml';
import { z } from 'zod';
import type { ConfigProblem, LoadedConfig } from './config.js';

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
const regexString = z.string().min(1).refine(
  (s) => {
    try {
      new RegExp(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'is not a valid regular expression' },
);

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
  flags: z.string().regex(/^[ims]*$/, 'only i, m and s are allowed').optional(),
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
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: ConfigProblem[] = [];
  const at = (offset: number | undefined) => {
    const pos = lineCounter.linePos(offset ?? 0);
    return { line: pos.line, column: pos.col };
  };
  const locate = (path: (string | number)[]) => {
    let node: unknown;
    for (let n = path.length; n >= 0 && !isNode(node); n--) node = doc.getIn(path.slice(0, n), true);
    return at(isNode(node) ? node.range?.[0] : undefined);
  };
  for (const error of doc.errors) problems.push({ file, ...at(error.pos[0]), message: error.message.split('\n')[0] });
  if (problems.length > 0) return { config: {}, file, problems, locate };

  const raw: unknown = doc.toJS() ?? {};
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      let path = issue.path as (string | number)[];
      if (issue.code === 'unrecognized_keys') path = [...path, issue.keys[0]];
      const where = path.length ? `${path.join('.')}: ` : '';
      problems.push({ file, ...locate(path), message: `${where}${issue.message}` });
    }
    return { config: {}, file, problems, locate };
  }
  return { config: parsed.data, file, problems, locate };
}
