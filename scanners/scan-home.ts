import { readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { KeywardError } from '../kernel/errors.js';
import { describeIoError, looksBinary } from './engine/scan-bytes.js';
import { DEFAULT_MAX_FILE_SIZE, isPartial, prepareScan, sortFindings, type Prepared, type ScanProgress } from './scan.js';
import { parseIni } from './sources/home/ini.js';
import { parseJson } from './sources/home/json.js';
import { parseEnv, parseGitCredentials, parseNetrc, parsePlain } from './sources/home/lines.js';
import { HOME_LOCATIONS, PROJECT_PATTERNS, PROJECT_SKIP_DIRS, type ConfigFormat, type LocationEnv } from './sources/home/locations.js';
import { detectInConfig, type ParsedConfig } from './sources/home/parsed.js';
import { parseToml } from './sources/home/toml.js';
import { parseYaml } from './sources/home/yaml.js';
import type { CheckedLocation, ScanResult } from './types.js';

export interface HomeScanOptions {
  cwd: string;
  /** The home directory to look in (default: the user's). */
  home?: string;
  platform?: NodeJS.Platform;
  env?: Record<string, string | undefined>;
  /** Project directories to look through for .env files, .npmrc and project MCP/agent configs. */
  projects?: string[];
  configFile?: string;
  baselineFile?: string;
  /** Findings accepted in files outside any project (`keyward migrate`'s accept): keyward's own baseline, not a project's. */
  homeBaselineFile?: string;
  showSecrets?: boolean;
  maxFileSize?: number;
  decodeDepth?: number;
  onProgress?: (progress: ScanProgress) => void;
}

/** Directories looked through per project, at most: a home directory given as a project stays bounded. */
const MAX_PROJECT_DIRS = 50_000;
const MAX_PROJECT_DEPTH = 12;

interface Target {
  absolute: string;
  display: string;
  client: string;
  format: ConfigFormat;
  migratable: boolean;
}

/**
 * `keyward scan home`: the known credential and agent-config locations of a user, each parsed
 * in its format so that a finding names the key path holding it, plus the project files of
 * `--project` directories. A missing file is not an error; every location looked at is listed.
 */
export async function runHomeScan(options: HomeScanOptions): Promise<ScanResult> {
  const started = Date.now();
  const home = resolve(options.home ?? homedir());
  try {
    if (!statSync(home).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new KeywardError(`home directory ${home} does not exist`, { hint: 'Give an existing directory with --home.' });
  }
  const projects = (options.projects ?? []).map((p) => resolve(options.cwd, p));
  for (const p of projects) {
    try {
      if (!statSync(p).isDirectory()) throw new Error();
    } catch {
      throw new KeywardError(`--project ${relative(options.cwd, p) || p} is not a directory`, { hint: 'Give a directory holding your projects, e.g. --project ~/code.' });
    }
  }
  // A repository's .keyward.yaml says what to skip in that repository, never in the user's home:
  // run inside a cloned repository, it must not hide the findings in ~/.aws or ~/.npmrc.
  const prepared = await prepareScan({
    cwd: options.cwd,
    configFile: options.configFile,
    baselineFile: options.baselineFile,
    extraBaselineFile: options.homeBaselineFile,
    showSecrets: options.showSecrets,
    decodeDepth: options.decodeDepth,
  });
  const e: LocationEnv = { home, platform: options.platform ?? process.platform, env: options.env ?? process.env };
  const display = (abs: string) => (abs === home ? '~' : abs.startsWith(home + sep) ? `~/${toPosix(relative(home, abs))}` : toPosix(relative(options.cwd, abs)) || abs);
  const maxSize = options.maxFileSize ?? DEFAULT_MAX_FILE_SIZE;
  const locations: CheckedLocation[] = [];
  const seen = new Set<string>();

  const check = async (t: Target) => {
    if (seen.has(t.absolute)) return;
    seen.add(t.absolute);
    const status = await scanConfigFile(prepared, t, maxSize);
    locations.push({ path: t.display, client: t.client, format: t.format, status, migratable: t.migratable });
    options.onProgress?.({ files: prepared.stats.files, bytes: prepared.stats.bytes });
  };

  for (const spec of HOME_LOCATIONS) {
    for (const path of spec.paths(e)) {
      const absolute = resolve(home, path);
      if (!spec.directory) {
        await check({ absolute, display: display(absolute), client: spec.client, format: spec.format, migratable: spec.migratable });
        continue;
      }
      let names: string[];
      try {
        names = readdirSync(absolute).sort();
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') prepared.issues.push({ path: display(absolute), message: `cannot read directory: ${describeIoError(error)}` });
        locations.push({
          path: display(absolute) + '/',
          client: spec.client,
          format: spec.format,
          status: code === 'ENOENT' || code === 'ENOTDIR' ? 'absent' : 'unreadable',
          migratable: false,
        });
        continue;
      }
      locations.push({ path: display(absolute) + '/', client: spec.client, format: spec.format, status: 'present', migratable: false });
      for (const name of names) {
        // Public keys and host lists hold nothing secret.
        if (name.endsWith('.pub') || name.startsWith('known_hosts') || name.startsWith('authorized_keys')) continue;
        const file = join(absolute, name);
        try {
          if (!statSync(file).isFile()) continue;
        } catch {
          continue;
        }
        await check({ absolute: file, display: display(file), client: spec.client, format: spec.format, migratable: spec.migratable });
      }
    }
  }
  for (const project of projects) {
    for (const t of findProjectFiles(project, display, prepared)) await check(t);
  }

  const findings = sortFindings(prepared.collector.findings);
  return {
    findings,
    stats: prepared.stats,
    issues: prepared.issues,
    partial: isPartial(prepared.issues),
    target: ['~', ...projects.map(display)].join(' '),
    mode: 'home',
    durationMs: Date.now() - started,
    home,
    locations,

    ...(prepared.summary ? { config: prepared.summary } : {}),
  };
}

/** Reads, parses and scans one config file; returns what the location list says about it. */
async function scanConfigFile(prepared: Prepared, t: Target, maxSize: number): Promise<CheckedLocation['status']> {
  const { stats, issues, collector, ruleset } = prepared;
  let data: Buffer;
  try {
    const st = statSync(t.absolute);
    if (!st.isFile()) return 'absent';
    if (st.size > maxSize) {
      stats.files++;
      stats.bytes += st.size;
      stats.skipped.tooLarge++;
      return 'present';
    }
    data = readFileSync(t.absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'absent';
    stats.skipped.unreadable++;
    issues.push({ path: t.display, message: `cannot read: ${describeIoError(error)}` });
    return 'unreadable';
  }
  stats.files++;
  stats.bytes += data.length;
  if (looksBinary(data)) {
    stats.skipped.binary++;
    return 'present';
  }
  const parsed = await parse(t.format, data);
  if (parsed.error) issues.push({ path: t.display, message: parsed.error });
  const origin = { source: 'home' as const, format: t.format };

  for (const { match, keyPath } of detectInConfig(ruleset.detector, t.display, data, parsed)) {
    collector.add(t.display, [match], { ...origin, ...(keyPath ? { keyPath } : {}) }, t.migratable);
  }
  return parsed.error ? 'invalid' : 'present';
}

async function parse(format: ConfigFormat, data: Buffer): Promise<ParsedConfig> {
  switch (format) {
    case 'json':
    case 'jsonc':
      return parseJson(data);
    case 'yaml':
      return parseYaml(data);
    case 'toml':
      return parseToml(data);
    case 'ini':
      return parseIni(data);
    case 'npmrc':
      return parseIni(data, { npmrc: true });
    case 'netrc':
      return parseNetrc(data);
    case 'git-credentials':
      return parseGitCredentials(data);
    case 'env':
      return parseEnv(data);
    case 'history':
    case 'ssh-key':
      return parsePlain();
  }
}

/** Project files under `root`, without following links and without entering dependency or build directories. */
function findProjectFiles(root: string, display: (abs: string) => string, prepared: Prepared): Target[] {
  const out: Target[] = [];
  let dirs = 0;
  const visit = (dir: string, depth: number) => {
    if (++dirs > MAX_PROJECT_DIRS) {
      if (dirs === MAX_PROJECT_DIRS + 1) prepared.issues.push({ path: display(root), message: `more than ${MAX_PROJECT_DIRS} directories: the rest was not looked through` });
      return;
    }
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (error) {
      prepared.issues.push({ path: display(dir), message: `cannot read directory: ${describeIoError(error)}` });
      return;
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const abs = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!PROJECT_SKIP_DIRS.has(entry.name) && depth < MAX_PROJECT_DEPTH) visit(abs, depth + 1);
      } else if (entry.isFile()) {
        const rel = toPosix(relative(root, abs));
        const pattern = PROJECT_PATTERNS.find((p) => p.test(rel, entry.name));
        if (pattern) out.push({ absolute: abs, display: display(abs), client: pattern.client, format: pattern.format, migratable: pattern.migratable });
      }
    }
  };
  visit(root, 0);
  return out;
}

const toPosix = (p: string) => (sep === '/' ? p : p.split(sep).join('/'));
