import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { parseYamlConfig, type ConfigProblem } from '../../kernel/yaml-config.js';
import { builtinProviders } from './builtin.js';
import type { ProviderProfile } from './types.js';

const httpRule = z.strictObject({ methods: z.array(z.string().regex(/^[A-Z]+$/, 'methods are upper case, e.g. GET')).min(1), paths: z.array(z.string().startsWith('/')).min(1) });
const injection = z.union([
  z.strictObject({ header: z.string().min(1), value: z.string().includes('{secret}', { message: 'must contain {secret}' }) }),
  z.strictObject({ basic: z.strictObject({ username: z.string(), password: z.string() }) }),
  z.strictObject({ query: z.string().min(1) }),
]);
const providerSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]*$/)
    .optional(),
  description: z.string().optional(),
  upstream: z.string().url().optional(),
  basePath: z.string().optional(),
  ca: z.string().optional(),
  inject: injection.optional(),
  env: z.strictObject({ key: z.string().optional(), baseUrl: z.string().optional(), aliases: z.array(z.string()).optional() }).optional(),
  permissions: z.record(z.string(), z.array(httpRule)).optional(),
  keysUrl: z.string().optional(),
  resource: z.strictObject({ segments: z.number().int().min(1).max(8).optional(), encoded: z.boolean().optional(), caseInsensitive: z.boolean().optional() }).optional(),
});

export interface ProviderRegistry {
  get(name: string): ProviderProfile | undefined;
  all(): ProviderProfile[];
  problems: ConfigProblem[];
}

/**
 * Built-in profiles plus `providers/*.yaml` from the config directory. A user file named after a
 * built-in provider overrides the fields it sets (`env` and `permissions` key by key); other
 * files define new providers, starting from the `generic` profile (its permissions only when the
 * file names none).
 */
export function loadProviders(configDir: string, snapshot?: ReadonlyMap<string, string>): ProviderRegistry {
  const profiles = new Map(builtinProviders.map((p) => [p.name, structuredClone(p)]));
  const problems: ConfigProblem[] = [];
  const dir = join(configDir, 'providers');
  let files: string[] = [];
  if (snapshot) {
    // The confirmed configuration (see daemon/config-guard.ts), not whatever is on disk now.
    files = [...snapshot.keys()]
      .filter((k) => /^providers\/[^/]+\.ya?ml$/.test(k))
      .map((k) => k.slice('providers/'.length))
      .sort();
  } else {
    try {
      files = readdirSync(dir)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort();
    } catch {
      files = [];
    }
  }
  for (const f of files) {
    const file = join(dir, f);
    const text = snapshot ? snapshot.get(`providers/${f}`)! : readFileSync(file, 'utf8');
    const parsed = parseYamlConfig(text, file, providerSchema);
    if (!parsed.value) {
      problems.push(...parsed.problems);
      continue;
    }
    const v = parsed.value;
    const name = v.name ?? f.replace(/\.ya?ml$/, '');
    const builtin = profiles.get(name);
    const base = builtin ?? { ...structuredClone(profiles.get('generic')!), name, description: undefined };
    profiles.set(name, {
      ...base,
      ...v,
      name,
      env: { ...base.env, ...v.env },
      // A new provider that names its permissions has those alone: generic's catch-all `write`
      // and `all` (every path) would otherwise widen what the user wrote.
      permissions: builtin || !v.permissions ? { ...base.permissions, ...v.permissions } : v.permissions,
    } as ProviderProfile);
  }
  return { get: (name) => profiles.get(name), all: () => [...profiles.values()], problems };
}
