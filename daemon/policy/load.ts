import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseDuration } from '../../kernel/units.js';
import { parseYamlConfig, type ConfigProblem } from '../../kernel/yaml-config.js';
import { DEFAULT_POLICY, type Policy } from './policy.js';

const duration = z.string().refine((s) => parseDuration(s) !== undefined, { message: 'is not a duration (e.g. 30m, 1h, 90s)' });
const decision = z.enum(['allow', 'ask', 'deny']);

const policySchema = z.strictObject({
  defaults: z.strictObject({ decision: decision.optional(), maxTtl: duration.optional() }).optional(),
  egress: z.enum(['allow', 'deny']).optional(),
  rules: z
    .array(
      z.strictObject({
        agent: z.string().min(1).optional(),
        credential: z.string().min(1).optional(),
        permission: z.string().min(1).optional(),
        resource: z.string().min(1).optional(),
        mode: z.enum(['proxy', 'release']).optional(),
        decision,
        maxTtl: duration.optional(),
      }),
    )
    .optional(),
});

export interface LoadedPolicy {
  policy?: Policy;
  problems: ConfigProblem[];
}

/** Parses policy text; problems carry line numbers. An empty file is the default policy. */
export function parsePolicy(text: string, file: string): LoadedPolicy {
  const parsed = parseYamlConfig(text, file, policySchema);
  if (!parsed.value) return { problems: parsed.problems };
  const v = parsed.value;
  const policy: Policy = {
    defaults: {
      decision: v.defaults?.decision ?? DEFAULT_POLICY.defaults.decision,
      maxTtl: v.defaults?.maxTtl ? parseDuration(v.defaults.maxTtl)! : DEFAULT_POLICY.defaults.maxTtl,
    },
    egress: v.egress ?? 'allow',
    rules: (v.rules ?? []).map((r, i) => ({
      ...r,
      maxTtl: r.maxTtl ? parseDuration(r.maxTtl) : undefined,
      line: parsed.locate(['rules', i]).line,
    })),
  };
  return { policy, problems: [] };
}

/** Reads policy.yaml; a missing file is the default policy (ask, at most 1h). */
export function loadPolicyFile(file: string): LoadedPolicy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { policy: DEFAULT_POLICY, problems: [] };
    return { problems: [{ file, line: 0, column: 0, message: `cannot read: ${(error as Error).message}` }] };
  }
  return parsePolicy(text, file);
}
