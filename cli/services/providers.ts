import { loadProviders } from '../../daemon/providers/registry.js';
import type { ProviderProfile } from '../../daemon/providers/types.js';
import { KeywardError } from '../../kernel/errors.js';
import { didYouMean, nearest } from '../../kernel/nearest.js';
import { keywardPaths } from '../../kernel/paths.js';

export interface ProviderInfo {
  name: string;
  description?: string;
  upstream: string;
  /** Where the key goes in a request: `header Authorization: Bearer {secret}`, `basic auth`, `query key`. */
  inject: string;
  env: ProviderProfile['env'];
  permissions: { name: string; rules: { methods: string[]; paths: string[] }[] }[];
  /** How a grant names a resource, when the paths use one (`{resource}`). */
  resource?: string;
}

function describe(p: ProviderProfile): ProviderInfo {
  const inject = 'header' in p.inject ? `header ${p.inject.header}: ${p.inject.value}` : 'basic' in p.inject ? 'basic auth' : `query parameter ${p.inject.query}`;
  const usesResource = Object.values(p.permissions).some((rules) => rules.some((r) => r.paths.some((path) => path.includes('{resource}'))));
  const segments = p.resource?.segments ?? 1;
  return {
    name: p.name,
    description: p.description,
    upstream: p.upstream + (p.basePath ?? ''),
    inject,
    env: p.env,
    permissions: Object.entries(p.permissions).map(([name, rules]) => ({ name, rules: rules.map((r) => ({ methods: r.methods, paths: r.paths })) })),
    resource: usesResource
      ? segments > 1
        ? `${segments} path segments (${Array.from({ length: segments }, (_, i) => String.fromCharCode(97 + i)).join('/')})`
        : 'one path segment'
      : undefined,
  };
}

/** The built-in providers and the user's (providers/*.yaml in the config dir), or one of them. */
export function listProviders(name?: string): ProviderInfo[] {
  const registry = loadProviders(keywardPaths().config);
  if (name === undefined) return registry.all().map(describe);
  const one = registry.get(name);
  if (!one)
    throw unknownProvider(
      name,
      registry.all().map((p) => p.name),
    );
  return [describe(one)];
}

export function unknownProvider(name: string, known: string[]): KeywardError {
  const hint = didYouMean(nearest(name, known));
  return new KeywardError(`unknown provider "${name}"`, { code: 'unknown_provider', hint: `${hint ? `${hint} ` : ''}See them all with: keyward providers` });
}

/** Throws, naming the nearest providers, unless `name` is a known provider. */
export function checkProvider(name: string): void {
  const registry = loadProviders(keywardPaths().config);
  if (!registry.get(name))
    throw unknownProvider(
      name,
      registry.all().map((p) => p.name),
    );
}
