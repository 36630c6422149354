import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { parseSize } from '../kernel/units.js';
import { parseDuration } from '../kernel/units.js';
import { keywardPaths, type KeywardPaths } from '../kernel/paths.js';
import { parseYamlConfig, type ConfigProblem } from '../kernel/yaml-config.js';

/** `config.yaml` in the config directory: how the daemon behaves. Every field is optional. */
const duration = z.string().refine((s) => parseDuration(s) !== undefined, { message: 'is not a duration (e.g. 2m, 15m, 1h)' });
const schema = z.strictObject({
  vault: z.strictObject({ backend: z.enum(['keychain', 'file']).optional() }).optional(),
  consent: z.strictObject({ timeout: duration.optional() }).optional(),
  grants: z.strictObject({ defaultTtl: duration.optional() }).optional(),
  watch: z.array(z.string()).optional(),
  security: z.strictObject({ requireCallerIdentity: z.boolean({ message: 'must be true or false' }).optional() }).optional(),
  proxy: z
    .strictObject({
      maxBody: z.string().optional(),
      upstreamTimeout: duration.optional(),
      port: z
        .number({ message: 'must be a port number' })
        .int('must be a whole number')
        .min(0, 'must be 0 (any free port) or 1..65535')
        .max(65535, 'must be 0 (any free port) or 1..65535')
        .optional(),
    })
    .optional(),
});

export interface DaemonConfig {
  vaultBackend: 'keychain' | 'file';
  consentTimeoutMs: number;
  defaultTtlMs: number;
  watch: string[];
  proxyMaxBody: number;
  proxyUpstreamTimeoutMs: number;
  /**
   * Loopback port of the proxy; 0 for any free port. A fixed port is what MCP clients rewritten
   * by `keyward migrate` point at (`http://127.0.0.1:7419/_mcp/<server>/…`). When it is taken,
   * the proxy falls back to a free port and says so in the log and in the status.
   */
  proxyPort: number;
  /**
   * Refuse admin calls and session or grant tokens when the platform cannot say which process
   * is calling (default true: fail closed). `security: { requireCallerIdentity: false }` turns
   * the check off where no peer identity exists; `keyward daemon status` shows the mode.
   */
  requireCallerIdentity: boolean;
}

export const DEFAULTS: DaemonConfig = {
  vaultBackend: 'keychain',
  consentTimeoutMs: 2 * 60_000,
  defaultTtlMs: 15 * 60_000,
  watch: [],
  proxyMaxBody: 64 * 1024 * 1024,
  proxyUpstreamTimeoutMs: 60_000,
  proxyPort: 7419,
  requireCallerIdentity: true,
};

export function configFile(paths: KeywardPaths = keywardPaths()): string {
  return join(paths.config, 'config.yaml');
}

export function loadDaemonConfig(paths: KeywardPaths = keywardPaths()): { config: DaemonConfig; problems: ConfigProblem[] } {
  const file = configFile(paths);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { config: DEFAULTS, problems: [] };
  }
  const parsed = parseYamlConfig(text, file, schema);
  if (!parsed.value) return { config: DEFAULTS, problems: parsed.problems };
  const v = parsed.value;
  return {
    config: {
      vaultBackend: v.vault?.backend ?? DEFAULTS.vaultBackend,
      consentTimeoutMs: v.consent?.timeout ? parseDuration(v.consent.timeout)! : DEFAULTS.consentTimeoutMs,
      defaultTtlMs: v.grants?.defaultTtl ? parseDuration(v.grants.defaultTtl)! : DEFAULTS.defaultTtlMs,
      watch: v.watch ?? [],
      proxyMaxBody: (v.proxy?.maxBody && parseSize(v.proxy.maxBody)) || DEFAULTS.proxyMaxBody,
      proxyUpstreamTimeoutMs: v.proxy?.upstreamTimeout ? parseDuration(v.proxy.upstreamTimeout)! : DEFAULTS.proxyUpstreamTimeoutMs,
      proxyPort: v.proxy?.port ?? DEFAULTS.proxyPort,
      requireCallerIdentity: v.security?.requireCallerIdentity ?? DEFAULTS.requireCallerIdentity,
    },
    problems: [],
  };
}
