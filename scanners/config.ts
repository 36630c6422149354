import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeywardError } from '../kernel/errors.js';
import { writeFileAtomic } from '../kernel/atomic-file.js';
import { keywardPaths } from '../kernel/paths.js';
import { readUntrustedFile, UntrustedFileError } from '../kernel/untrusted-file.js';
import type { ConfigProblem } from '../kernel/yaml-config.js';
import type { Rule } from './types.js';

export type { ConfigProblem };

export const CONFIG_FILE = '.keyward.yaml';

/** `.keyward.yaml` once validated (see config-parse.ts for the schema and its documentation). */
export interface ScanConfig {
  disable?: string[];
  allowlist?: {
    paths?: string[];
    regexes?: string[];
    rules?: Record<string, { paths?: string[]; regexes?: string[] }>;
  };
  rules?: {
    id: string;
    description: string;
    provider?: string;
    keywords: string[];
    pattern: string;
    flags?: string;
    entropy?: number;
    migrate?: string;
    truePositives?: string[];
    falsePositives?: string[];
  }[];
}

export interface LoadedConfig {
  config: ScanConfig;
  file?: string;
  problems: ConfigProblem[];
}

/**
 * Validated configs are cached by content hash, so that the pre-commit path does not load the
 * YAML parser and the schema library on every commit. The cache holds only the config itself.
 */
function cachePath(text: string): string {
  const digest = createHash('sha256').update(text).digest('hex').slice(0, 32);
  // Versioned: configs validated before patterns had to be RE2 are checked again.
  return join(keywardPaths().cache, 'config-2', `${digest}.json`);
}

export async function parseConfigText(text: string, file: string): Promise<LoadedConfig> {
  const cached = cachePath(text);
  try {
    return { config: JSON.parse(readFileSync(cached, 'utf8')) as ScanConfig, file, problems: [] };
  } catch {
    /* not cached yet */
  }
  const { parseScanConfig } = await import('./config-parse.js');
  const loaded = parseScanConfig(text, file);
  if (loaded.problems.length === 0) {
    try {
      mkdirSync(join(cached, '..'), { recursive: true, mode: 0o700 });
      writeFileAtomic(cached, JSON.stringify(loaded.config));
    } catch {
      /* a read-only home only costs speed */
    }
  }
  return loaded;
}

/**
 * Reads a config file; a missing default file is fine, a missing explicit one is an error. The
 * default file is the repository's: it is read as untrusted content (no symbolic link, a regular
 * file, at most 1 MiB), so a `.keyward.yaml` linked to /dev/zero or a FIFO cannot stall the scan.
 */
export async function loadScanConfig(file: string, explicit: boolean): Promise<LoadedConfig> {
  let text: string;
  try {
    text = readUntrustedFile(file, { followLinks: explicit }).toString('utf8');
  } catch (error) {
    if (!explicit && error instanceof UntrustedFileError && error.code === 'ENOENT') return { config: {}, problems: [] };
    throw new KeywardError(`cannot read config ${file}: ${(error as Error).message}`, {
      hint: explicit ? 'Check the path given to --config.' : 'Make it a regular file of at most 1 MiB, or remove it.',
    });
  }
  return parseConfigText(text, file);
}

/** Like `loadScanConfig`, but a config with problems is an error that lists them. */
export async function requireValidConfig(file: string, explicit: boolean): Promise<LoadedConfig> {
  return checkedConfig(await loadScanConfig(file, explicit), file);
}

/** A loaded config, or an error listing its problems. */
export function checkedConfig(loaded: LoadedConfig, file: string): LoadedConfig {
  if (loaded.problems.length > 0) {
    const lines = loaded.problems.map((p) => `  ${p.file}:${p.line}:${p.column} ${p.message}`).join('\n');
    throw new KeywardError(`invalid config ${file}:\n${lines}`, { hint: 'Fix the file, then run `keyward rules check` to confirm.' });
  }
  return loaded;
}

/** Custom rules from a config, as `Rule`s (examples default to none). */
export function customRules(config: ScanConfig): Rule[] {
  return (config.rules ?? []).map((r) => ({
    id: r.id,
    description: r.description,
    provider: r.provider ?? 'custom',
    keywords: r.keywords,
    pattern: r.pattern,
    flags: r.flags,
    entropy: r.entropy,
    migrate: r.migrate,
    truePositives: r.truePositives ?? [],
    falsePositives: r.falsePositives ?? [],
    linear: true,
  }));
}
