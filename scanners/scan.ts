import { existsSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { KeywardError } from '../kernel/errors.js';
import { loadBaseline } from './baseline.js';
import { checkedConfig, CONFIG_FILE, parseConfigText, requireValidConfig, type LoadedConfig, type ScanConfig } from './config.js';
import { UNTRUSTED_FILE_LIMIT } from '../kernel/untrusted-file.js';
import { builtinRules } from './rules/index.js';
import { ScanPool, defaultThreads } from './engine/pool.js';
import { scanBuffer, scanFile } from './engine/scan-bytes.js';
import { scanDiff, scanFiles, type DiffBatchOutcome, type FileOutcome } from './engine/tasks.js';
import { buildRuleSet, toFinding, type RuleSet } from './ruleset.js';
import type { VerifyOptions } from './verify.js';
import { ARCHIVE_NAME, DEFAULT_ARCHIVE_LIMITS } from './sources/archive-limits.js';
import type { ContentContext } from './sources/archive.js';
import { commitBoundaries } from './sources/diff.js';
import { spawnHistoryLog, type HistoryLog } from './sources/history-log.js';
import { firstLine, gitSync, gitToplevel, noSuchRevision, requireRepository, revisionExists } from './sources/git.js';
import { listTree } from './sources/tree.js';
import { emptyStats, type ConfigSummary, type Finding, type FindingOrigin, type Match, type ScanIssue, type ScanResult, type ScanStats } from './types.js';

export interface ScanProgress {
  files: number;
  bytes: number;
  commits?: number;
  total?: number;
}

export interface ScanOptions {
  /** A directory, a file, or `-` for stdin. */
  target: string;
  cwd: string;
  staged?: boolean;
  history?: boolean;
  /** With `history`: only commits not reachable from this revision. */
  since?: string;
  /** With `history`: only this ref instead of every ref. */
  branch?: string;
  /** An explicit config file; otherwise `.keyward.yaml` at the repository (or target) root. */
  configFile?: string;
  baselineFile?: string;
  showSecrets?: boolean;
  /** Bytes; larger files are skipped and counted. */
  maxFileSize?: number;
  /** Worker threads; 1 scans on the main thread. */
  threads?: number;
  /** Levels of base64/percent decoding (default 2, 0 off). */
  decodeDepth?: number;
  /** Levels of nested archives to open (default 3, 0: archives are not opened). */
  archiveDepth?: number;
  stdin?: NodeJS.ReadableStream;
  onProgress?: (progress: ScanProgress) => void;
  /** With `history`: a `git log` already started by the caller (see history-log.ts). */
  historyLog?: HistoryLog;
  /** With `staged`: scan even when the config switches every rule off (otherwise an error). */
  allowDisabled?: boolean;
  /** Check keys with their providers (`--verify`): off unless asked for. */
  verify?: boolean | VerifyOptions;
}

export const DEFAULT_MAX_FILE_SIZE = 64 * 1024 * 1024;
/** Below this many files a tree is scanned on the main thread: starting workers costs more. */
const POOL_THRESHOLD_FILES = 200;
const FILE_BATCH = 48;
/** git log output is cut into batches of whole commits of about this size for the workers. */
const HISTORY_BATCH_BYTES = 256 * 1024;

const toPosix = (p: string) => (sep === '/' ? p : p.split(sep).join('/'));

/** Applies allowlists, inline allows and the baseline; turns what is left into findings. */
export class Collector {
  readonly findings: Finding[] = [];
  /** Raw secrets of the findings, kept in memory only when they are to be verified. */
  readonly raw = new Map<Finding, string>();
  constructor(
    private readonly ruleset: RuleSet,
    private readonly baseline: Set<string>,
    private readonly stats: ScanStats,
    private readonly showSecrets: boolean,
    private readonly keepRaw = false,
  ) {}

  add(file: string, matches: Match[], origin: FindingOrigin, migratable: boolean): Finding[] {
    const added: Finding[] = [];
    for (const match of matches) {
      const rule = this.ruleset.byId.get(match.ruleId);
      if (!rule) continue;
      if (match.inlineAllowed) {
        this.stats.suppressed.inline++;
        continue;
      }
      if (this.ruleset.matchAllowed(rule.id, file, match.secret)) {
        this.stats.suppressed.allowlist++;
        continue;
      }
      const finding = toFinding(rule, match, file, origin, { showSecrets: this.showSecrets, migratable });
      if (this.baseline.has(finding.fingerprint)) {
        this.stats.suppressed.baseline++;
        continue;
      }
      added.push(finding);
      this.findings.push(finding);
      if (this.keepRaw) this.raw.set(finding, match.secret);
    }
    return added;
  }
}

function countOutcome(stats: ScanStats, issues: ScanIssue[], o: FileOutcome, fromGit: boolean): void {
  if (o.skipped === 'notFile') return;
  if (o.skipped === 'unreadable') {
    // The index lists files deleted from the work tree: nothing to scan, nothing to report.
    if (fromGit && o.error === 'no such file') return;
    stats.skipped.unreadable++;
    issues.push({ path: o.path, message: `cannot read: ${o.error ?? 'unknown error'}` });
    return;
  }
  stats.files++;
  stats.bytes += o.bytes;
  if (o.skipped === 'binary') stats.skipped.binary++;
  if (o.skipped === 'tooLarge') stats.skipped.tooLarge++;
}

/** Runs a scan: the one entry point shared by `keyward scan`, the pre-commit path and tests. */
export async function runScan(options: ScanOptions): Promise<ScanResult> {
  const started = Date.now();
  const cwd = options.cwd;
  const target = options.target || '.';
  const stdin = target === '-';
  const absolute = stdin ? cwd : resolve(cwd, target);
  const mode: ScanResult['mode'] = options.staged ? 'staged' : options.history ? 'history' : stdin ? 'stdin' : 'tree';

  if (options.staged && options.history)
    throw new KeywardError('--staged and --history cannot be used together', { hint: 'Pick one: --staged for a pre-commit check, --history for every commit.' });
  if ((options.since || options.branch) && !options.history) throw new KeywardError('--since and --branch only apply to --history', { hint: 'Add --history.' });

  let isDirectory = true;
  if (!stdin) {
    try {
      isDirectory = statSync(absolute).isDirectory();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new KeywardError(code === 'ENOENT' ? `no such file or directory: ${target}` : `cannot read ${target}: ${(error as Error).message}`, {
        hint: code === 'ENOENT' ? 'Check the path; `keyward scan .` scans the current directory.' : undefined,
      });
    }
  }
  const dir = isDirectory ? absolute : resolve(absolute, '..');
  let repo: string | undefined;
  try {
    repo = options.staged ? requireRepository(dir, '--staged') : options.history ? requireRepository(dir, '--history') : gitToplevel(dir);
  } catch (error) {
    options.historyLog?.kill();
    throw error;
  }

  // git log is the slow part of a history scan: start it before loading config and rules.
  const historyStream = options.history ? startHistory(repo!, options) : undefined;

  const configFile = options.configFile ? resolve(cwd, options.configFile) : join(repo ?? dir, CONFIG_FILE);
  let config: ScanConfig;
  let ruleset: RuleSet;
  let baseline: Set<string>;
  let summary: ConfigSummary | undefined;
  try {
    // The pre-commit check reads the config as it will be committed (the index), never an
    // untracked or unstaged working-tree file that an agent may have just written.
    const fromIndex = options.staged && !options.configFile;
    config = fromIndex ? (await stagedConfig(repo!, configFile)).config : (await requireValidConfig(configFile, Boolean(options.configFile))).config;
    ruleset = buildRuleSet(config, { decodeDepth: options.decodeDepth });
    summary = summarizeConfig(config, ruleset, fromIndex ? `${toPosix(relative(cwd, configFile)) || CONFIG_FILE} (staged)` : toPosix(relative(cwd, configFile)) || configFile);
    if (options.staged && summary?.suppressesAll && !options.allowDisabled) {
      throw new KeywardError(`${summary.file} switches the pre-commit check off: ${summary.suppressesAll}`, {
        hint: 'If that is meant, run `keyward scan --staged --allow-disabled`; otherwise fix the config (`keyward rules check` validates it).',
      });
    }
    baseline = options.baselineFile ? loadBaseline(resolve(cwd, options.baselineFile)) : new Set<string>();
  } catch (error) {
    historyStream?.kill();
    throw error;
  }
  const stats = emptyStats();
  const issues: ScanIssue[] = [];
  for (const id of ruleset.unknownDisabled) issues.push({ path: configFile, message: `disable: no rule has the id "${id}"` });
  const collector = new Collector(ruleset, baseline, stats, Boolean(options.showSecrets), Boolean(options.verify));
  const maxSize = options.maxFileSize ?? DEFAULT_MAX_FILE_SIZE;
  // git log keeps one core busy during a history scan: the workers get the others.
  const threads = Math.max(1, options.threads ?? (options.history ? defaultThreads() - 1 : defaultThreads()));
  const progress = options.onProgress;
  const archives: ContentContext = {
    detector: ruleset.detector,
    limits: { ...DEFAULT_ARCHIVE_LIMITS, depth: options.archiveDepth ?? DEFAULT_ARCHIVE_LIMITS.depth },
    maxFileSize: maxSize,
    stats,
    issues,
    report: (path, matches) => collector.add(path, matches, { source: 'archive', archivePath: path.slice(path.indexOf('!/') + 2) }, false),
  };

  let findings: Finding[];
  if (options.staged) {
    findings = scanStaged(repo!, cwd, ruleset, collector, stats, summary);
  } else if (options.history) {
    findings = await scanHistory(historyStream!, repo!, cwd, options, ruleset, collector, stats, issues, threads, config, summary);
  } else if (stdin) {
    const data = await readAll(options.stdin ?? process.stdin);
    const outcome = { path: '(stdin)', ...scanBuffer(ruleset.detector, '(stdin)', data) };
    countOutcome(stats, issues, outcome, false);
    collector.add('(stdin)', outcome.matches, { source: 'stdin' }, false);
    findings = collector.findings;
  } else if (!isDirectory) {
    const path = toPosix(relative(cwd, absolute)) || target;
    const outcome = { path, ...scanFile(ruleset.detector, absolute, path, maxSize) };
    countOutcome(stats, issues, outcome, false);
    collector.add(path, outcome.matches, { source: 'file' }, true);
    await openArchives([{ path, absolute, skipped: outcome.skipped }], archives);
    findings = collector.findings;
  } else {
    const listing = await listTree(absolute, cwd, repo !== undefined);
    issues.push(...listing.issues);
    // The config file itself holds custom rules' example secrets by design: it is not scanned.
    const items = listing.items.filter((item) => {
      if (item.absolute === configFile) return false;
      if (!ruleset.pathAllowed(repoRelative(repo ?? absolute, item.absolute))) return true;
      if (summary) summary.pathsSkipped++;
      return false;
    });
    const absoluteOf = new Map(items.map((item) => [item.path, item.absolute]));
    const archiveFiles: { path: string; absolute: string; skipped?: FileOutcome['skipped'] }[] = [];
    const record = (outcomes: FileOutcome[]) => {
      for (const o of outcomes) {
        countOutcome(stats, issues, o, listing.fromGit);
        if (o.matches.length > 0) collector.add(o.path, o.matches, { source: 'file' }, true);
        if ((o.skipped === 'binary' || o.skipped === 'tooLarge') && ARCHIVE_NAME.test(o.path))
          archiveFiles.push({ path: o.path, absolute: absoluteOf.get(o.path)!, skipped: o.skipped });
      }
      progress?.({ files: stats.files, bytes: stats.bytes, total: items.length });
    };
    const pool = items.length >= POOL_THRESHOLD_FILES && threads > 1 ? ScanPool.create(threads, config, { decodeDepth: options.decodeDepth }) : undefined;
    try {
      if (pool) {
        const jobs: Promise<void>[] = [];
        for (let i = 0; i < items.length; i += FILE_BATCH) {
          jobs.push(pool.run<FileOutcome[]>({ type: 'files', items: items.slice(i, i + FILE_BATCH), maxSize }).then(record));
        }
        await Promise.all(jobs);
      } else {
        for (let i = 0; i < items.length; i += FILE_BATCH) record(scanFiles(ruleset, items.slice(i, i + FILE_BATCH), maxSize));
      }
    } finally {
      await pool?.close();
    }
    await openArchives(archiveFiles, archives);
    findings = collector.findings;
  }

  sortFindings(findings);
  if (options.verify) {
    const { verifyFindings, liveFirst } = await import('./verify.js');
    await verifyFindings(findings, collector.raw, options.verify === true ? {} : options.verify);
    liveFirst(findings);
  }
  return {
    findings,
    stats,
    issues,
    partial: isPartial(issues),
    target: stdin ? '-' : target,
    mode: mode === 'tree' && !isDirectory ? 'file' : mode,
    durationMs: Date.now() - started,
    ...(summary ? { config: summary } : {}),
  };
}

/** `.keyward.yaml` as staged: its blob in the index, if it is a regular file there. */
async function stagedConfig(repo: string, configFile: string): Promise<LoadedConfig> {
  const rel = toPosix(relative(repo, configFile));
  const entry = gitSync(repo, ['ls-files', '-s', '-z', '--', `:(literal)${rel}`]);
  const line = entry.stdout.toString('utf8').split('\0')[0];
  const m = /^(\d+) ([0-9a-f]+) (\d)\t/.exec(line);
  if (entry.status !== 0 || !m) return { config: {}, problems: [] };
  const label = `${configFile} (staged)`;
  if (m[1] !== '100644' && m[1] !== '100755') {
    throw new KeywardError(`${label} is not a regular file in the index (mode ${m[1]})`, { hint: `Stage a regular file, or remove it: git rm --cached ${rel}` });
  }
  const size = Number(gitSync(repo, ['cat-file', '-s', m[2]]).stdout.toString('utf8').trim());
  if (!(size <= UNTRUSTED_FILE_LIMIT)) throw new KeywardError(`${label} is larger than ${UNTRUSTED_FILE_LIMIT} bytes`, { hint: 'Keep the config small.' });
  const blob = gitSync(repo, ['cat-file', 'blob', m[2]]);
  if (blob.status !== 0) throw new KeywardError(`git cannot read ${label}: ${firstLine(blob.stderr)}`, { hint: 'Check the repository with `git fsck`.' });
  return checkedConfig(await parseConfigText(blob.stdout.toString('utf8'), label), label);
}

/** Strings any real path allowlist leaves alone, and secrets any real secret allowlist keeps. */
const PROBE_PATHS = ['app.env', 'src/config/settings.json', '.github/workflows/ci.yml', 'deploy/prod/.env.production'];
const PROBE_SECRETS = ['ghp_Q9vM2kX7pL4rT8wZ1nB6cY3hJ5dF0sA2eG7u', 'AKIAQ7RZ2M4XN8VPL3TW', 'sk-proj-7fQ2mZ9xL4vR8tK1nB6wC3yH5', 'p4ssw0rd-Xy9'];

/**
 * What a config takes out of the scan, for the summary line, and whether it takes out
 * everything (every built-in rule disabled, or an allowlist that matches any path or secret).
 */
export function summarizeConfig(config: ScanConfig, ruleset: RuleSet, file: string): ConfigSummary | undefined {
  const disabled = (config.disable ?? []).filter((id) => !ruleset.unknownDisabled.includes(id));
  const paths = config.allowlist?.paths?.length ?? 0;
  const regexes = config.allowlist?.regexes?.length ?? 0;
  const perRule = Object.keys(config.allowlist?.rules ?? {}).length;
  if (!disabled.length && !paths && !regexes && !perRule) return undefined;
  const builtin = new Set(builtinRules.map((r) => r.id));
  let suppressesAll: string | undefined;
  if ([...builtin].every((id) => !ruleset.byId.has(id))) suppressesAll = 'every built-in rule is disabled';
  else if (paths && PROBE_PATHS.every((p) => ruleset.pathAllowed(p))) suppressesAll = `allowlist.paths matches every path (${config.allowlist!.paths!.slice(0, 3).join(', ')})`;
  else if (regexes && PROBE_SECRETS.every((secret) => ruleset.matchAllowed('', '', secret))) suppressesAll = 'allowlist.regexes matches every secret';
  return {
    file,
    disabled: disabled.length,
    allowlistPaths: paths,
    allowlistRegexes: regexes,
    allowlistRules: perRule,
    pathsSkipped: 0,
    ...(suppressesAll ? { suppressesAll } : {}),
  };
}

/**
 * Opens the archives among files the plain scan skipped (binary, or too large to read whole):
 * each is then counted by its members rather than as one skipped file.
 */
async function openArchives(files: { path: string; absolute: string; skipped?: FileOutcome['skipped'] }[], ctx: ContentContext): Promise<void> {
  if (ctx.limits.depth <= 0 || files.length === 0) return;
  const { scanArchiveFile } = await import('./sources/archive.js');
  for (const file of files) {
    if (file.skipped !== 'binary' && file.skipped !== 'tooLarge') continue;
    if (await scanArchiveFile(ctx, file.absolute, file.path)) {
      if (file.skipped === 'binary') ctx.stats.skipped.binary--;
      else ctx.stats.skipped.tooLarge--;
    }
  }
}

/** What every scan starts from: the config, the rule set built from it, the baseline. */
export interface Prepared {
  config: ScanConfig;
  configFile?: string;
  /** What the config takes out, for the report's summary line. */
  summary?: ConfigSummary;
  ruleset: RuleSet;
  baseline: Set<string>;
  stats: ScanStats;
  issues: ScanIssue[];
  collector: Collector;
}

/**
 * Loads the config (an explicit file, else `.keyward.yaml` in `root` if there is one), builds the
 * rule set and reads the baseline. Used by the home and image scans.
 */
export async function prepareScan(options: {
  cwd: string;
  /** Where `.keyward.yaml` is looked for; none: only an explicit `configFile` applies. */
  root?: string;
  configFile?: string;
  baselineFile?: string;
  /** A second baseline, read if it exists (keyward's own, for files in the home directory). */
  extraBaselineFile?: string;
  showSecrets?: boolean;
  decodeDepth?: number;
}): Promise<Prepared> {
  const configFile = options.configFile ? resolve(options.cwd, options.configFile) : options.root !== undefined ? join(options.root, CONFIG_FILE) : undefined;
  const config = configFile ? (await requireValidConfig(configFile, Boolean(options.configFile))).config : {};
  const ruleset = buildRuleSet(config, { decodeDepth: options.decodeDepth });
  const baseline = options.baselineFile ? loadBaseline(resolve(options.cwd, options.baselineFile)) : new Set<string>();
  if (options.extraBaselineFile && existsSync(options.extraBaselineFile)) for (const f of loadBaseline(options.extraBaselineFile)) baseline.add(f);
  const stats = emptyStats();
  const issues: ScanIssue[] = [];
  for (const id of ruleset.unknownDisabled) issues.push({ path: configFile, message: `disable: no rule has the id "${id}"` });
  const summary = configFile ? summarizeConfig(config, ruleset, toPosix(relative(options.cwd, configFile)) || configFile) : undefined;
  return {
    config,
    configFile,
    ...(summary ? { summary } : {}),
    ruleset,
    baseline,
    stats,
    issues,
    collector: new Collector(ruleset, baseline, stats, Boolean(options.showSecrets)),
  };
}

/** Findings in report order: by file, then position. */
export function sortFindings(findings: Finding[]): Finding[] {
  return findings.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.column - b.column || (a.ruleId < b.ruleId ? -1 : 1)));
}

/** A scan is partial when an item could not be read; an unknown id in `disable` is only a warning. */
export function isPartial(issues: ScanIssue[]): boolean {
  return issues.some((i) => !i.message.startsWith('disable:'));
}

function repoRelative(root: string, absolute: string): string {
  return toPosix(relative(root, absolute));
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(typeof part === 'string' ? Buffer.from(part) : (part as Buffer));
  return Buffer.concat(parts);
}

/** Lines added by the staged diff: what this commit would add, nothing it already had. */
function scanStaged(repo: string, cwd: string, ruleset: RuleSet, collector: Collector, stats: ScanStats, summary: ConfigSummary | undefined): Finding[] {
  const r = gitSync(repo, ['diff', '--cached', '-U0', '--no-color', '--no-ext-diff', '--no-textconv', '-M', '--src-prefix=a/', '--dst-prefix=b/', '--diff-filter=ACMRT']);
  if (r.status !== 0) {
    throw new KeywardError(`git could not read the staged changes: ${firstLine(r.stderr)}`, { hint: 'Check the repository with `git status`.' });
  }
  const outcome = scanDiff(ruleset, r.stdout, false);
  stats.files = outcome.files + outcome.binary;
  stats.bytes = outcome.bytes;
  stats.skipped.binary = outcome.binary;
  if (summary) summary.pathsSkipped += outcome.allowlisted;
  for (const item of outcome.items) {
    const file = toPosix(relative(cwd, join(repo, item.path))) || item.path;
    collector.add(file, item.matches, { source: 'staged' }, true);
  }
  return collector.findings;
}

/** Checks the revisions and starts (or adopts an already started) `git log -p -U0`. */
function startHistory(repo: string, options: ScanOptions): HistoryLog {
  for (const [flag, rev] of [
    ['--since', options.since],
    ['--branch', options.branch],
  ] as const) {
    if (rev !== undefined && !revisionExists(repo, rev)) {
      options.historyLog?.kill();
      throw noSuchRevision(flag, rev);
    }
  }
  return options.historyLog ?? spawnHistoryLog(repo, options);
}

/**
 * Every commit on every ref (or a range), as added lines from one `git log -p -U0` stream cut
 * into batches of whole commits for the workers. Each secret is reported once, at the commit
 * that first introduced it.
 */
async function scanHistory(
  git: HistoryLog,
  repo: string,
  cwd: string,
  options: ScanOptions,
  ruleset: RuleSet,
  collector: Collector,
  stats: ScanStats,
  issues: ScanIssue[],
  threads: number,
  config: ScanConfig,
  summary: ConfigSummary | undefined,
): Promise<Finding[]> {
  if (gitSync(repo, ['rev-parse', '--is-shallow-repository']).stdout.toString().trim() === 'true') {
    issues.push({ path: '.', message: 'shallow clone: commits before the shallow boundary were not scanned (run `git fetch --unshallow` to scan them)' });
  }

  /** Earliest commit seen so far for each secret: by author date, then by place in git log. */
  const first = new Map<string, { finding: Finding; count: number; when: number; place: number }>();
  const order: string[] = [];
  const record = (outcome: DiffBatchOutcome, batch: number) => {
    stats.commits = (stats.commits ?? 0) + outcome.commits;
    stats.files += outcome.files + outcome.binary;
    stats.skipped.binary += outcome.binary;
    stats.bytes += outcome.bytes;
    if (summary) summary.pathsSkipped += outcome.allowlisted;
    for (const item of outcome.items) {
      const file = toPosix(relative(cwd, join(repo, item.path))) || item.path;
      const origin: FindingOrigin = { source: 'history', ...item.meta };
      // Batches may finish in any order; the place in git log's stream (newest first) breaks
      // ties in date, so the result does not depend on the thread count.
      const place = batch * 1_000_000 + item.position;
      const when = Date.parse(item.meta?.date ?? '') || 0;
      for (const finding of collector.add(file, item.matches, origin, false)) {
        const seen = first.get(finding.fingerprint);
        if (!seen) {
          first.set(finding.fingerprint, { finding, count: 1, when, place });
          order.push(finding.fingerprint);
        } else {
          seen.count++;
          if (when < seen.when || (when === seen.when && place > seen.place)) Object.assign(seen, { finding, when, place });
        }
      }
    }
    options.onProgress?.({ files: stats.files, bytes: stats.bytes, commits: stats.commits });
  };

  // Even one scanning thread is a worker: the main thread must keep draining git's pipe, or
  // git blocks on a full pipe while we scan and the two take turns instead of overlapping.
  const pool = ScanPool.create(threads, config, { decodeDepth: options.decodeDepth });
  const jobs: Promise<void>[] = [];
  /** Hands a batch to a worker; waits while the workers are behind, so git waits too. */
  let batches = 0;
  const dispatch = async (data: Buffer) => {
    const batch = batches++;
    if (!pool) return record(scanDiff(ruleset, data, true), batch);
    jobs.push(pool.run<DiffBatchOutcome>({ type: 'diff', data, commits: true }).then((outcome) => record(outcome, batch)));
    await pool.capacity(pool.size * 2);
  };

  let pending: Buffer[] = [];
  let pendingBytes = 0;
  try {
    for await (const part of git.child.stdout as AsyncIterable<Buffer>) {
      pending.push(part);
      pendingBytes += part.length;
      if (pendingBytes < HISTORY_BATCH_BYTES) continue;
      const joined = Buffer.concat(pending);
      const bounds = commitBoundaries(joined);
      // Keep the last (possibly incomplete) commit for the next batch.
      const cut = bounds.length >= 4 ? bounds[bounds.length - 2] : 0;
      if (cut > 0) {
        await dispatch(joined.subarray(0, cut));
        pending = [joined.subarray(cut)];
        pendingBytes = pending[0].length;
      } else {
        pending = [joined];
      }
    }
    if (pendingBytes > 0) await dispatch(Buffer.concat(pending));
    await Promise.all(jobs);
  } finally {
    await pool?.close();
  }
  const status = await git.exited;
  const stderr = git.stderr();
  if (status !== 0) {
    if (stats.commits === undefined || stats.commits === 0) {
      throw new KeywardError(`git could not read the history: ${firstLine(stderr)}`, { hint: 'Check the repository with `git fsck`.' });
    }
    issues.push({ path: '.', message: `git stopped early, history is incomplete: ${firstLine(stderr)}` });
  }
  stats.commits ??= 0;
  return order.map((fp) => {
    const { finding, count } = first.get(fp)!;
    return count > 1 ? { ...finding, occurrences: count } : finding;
  });
}
