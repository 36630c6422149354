import { plural } from '../kernel/units.js';
import { lstatSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { CONFIG_FILE, requireValidConfig, type ScanConfig } from './config.js';
import { ScanPool } from './engine/pool.js';
import { scanFile } from './engine/scan-bytes.js';
import { scanDirectory, type DirectoryOutcome, type FileOutcome } from './engine/tasks.js';
import { buildRuleSet, toFinding, type RuleSet } from './ruleset.js';
import { DEFAULT_MAX_FILE_SIZE } from './scan.js';
import { gitToplevel } from './sources/git.js';
import { TreeWatcher } from './sources/watcher.js';
import type { Finding, Match } from './types.js';

/**
 * The watch service shared by `keyward watch` and the daemon: scans the watched paths once,
 * then rescans files as they are written and reports each finding once. A finding is new when
 * its secret (fingerprint) was not seen in that file before: rewriting a file with the same key
 * reports nothing, the same key written into another file is reported there.
 */
export interface WatchedFinding {
  /** `present`: found by the first scan of the paths given at start; `new`: written since. */
  status: 'present' | 'new';
  /** As reporters see it: the secret redacted, a fingerprint, the path relative to `cwd` when under it. */
  finding: Finding;
  /** The file's absolute path. */
  absolute: string;
}

export interface SecretWatchOptions {
  /** Directories and files to watch, absolute. Missing ones are waited for. */
  paths: string[];
  /** Paths under this directory are shown relative to it. */
  cwd: string;
  /** Other paths under this directory are shown as `~/…`. */
  home?: string;
  /** Bytes; larger files are not scanned (default: the scanner's 64 MiB). */
  maxFileSize?: number;
  /** Quiet time before a changed file is scanned, in ms (default 200). */
  debounceMs?: number;
  persistent?: boolean;
  /**
   * Rescan written files on a worker thread too (the daemon: its main thread answers the broker,
   * and a watched directory's content, config included, is not the daemon's to trust).
   */
  rescanOnWorker?: boolean;
  onFinding(found: WatchedFinding): void;
  onProblem?(message: string): void;
}

interface Root {
  /** Directory the allowlists' paths are relative to (the repository, else the directory itself). */
  base: string;
  /** The watched path (a directory or a file). */
  path: string;
  configFile: string;
  config: ScanConfig;
  ruleset: RuleSet;
}

/**
 * The first walk moves to a worker thread once it has met this many files: the worker lists
 * each directory and scans its files, so the garbage of listing and scanning lives and dies
 * with the worker instead of growing the main thread's young generation for good (measured on
 * 50,000 files: 104 MB RSS with all of it on the main thread), and a daemon's main thread
 * stays free for requests. The main thread only watches directories. Rescans after writes are
 * a few files each and stay inline.
 */
const POOL_THRESHOLD_FILES = 200;

const toPosix = (p: string) => (sep === '/' ? p : p.split(sep).join('/'));

export class SecretWatch {
  private readonly watcher: TreeWatcher;
  private roots: Root[] = [];
  /** `absolute path \0 fingerprint` of everything reported: only files with findings cost memory. */
  private readonly seen = new Set<string>();
  private readonly maxSize: number;
  /** First-scan workers, one per config; closed when the first scan is done. */
  private readonly pools = new Map<ScanConfig, ScanPool | undefined>();
  private firstScanFiles = 0;
  /** With `rescanOnWorker`: one worker per config for rescans, kept until `close`. */
  private readonly rescanPools = new Map<ScanConfig, ScanPool | undefined>();
  private closed = false;
  /** Files scanned at start, files scanned again after a write, findings of each kind. */
  readonly counts = { files: 0, rescanned: 0, present: 0, new: 0 };

  constructor(private readonly options: SecretWatchOptions) {
    this.maxSize = options.maxFileSize ?? DEFAULT_MAX_FILE_SIZE;
    this.watcher = new TreeWatcher(
      { directory: (dir, initial) => this.scanDirectory(dir, initial), files: (paths, initial) => this.scanFiles(paths, initial), problem: (m) => options.onProblem?.(m) },
      { debounceMs: options.debounceMs, maxFileSize: this.maxSize, persistent: options.persistent },
    );
  }

  get directories(): number {
    return this.watcher.directories;
  }

  /**
   * Loads each path's `.keyward.yaml` (its repository's, else its own directory's: allowlists
   * and custom rules apply as in `keyward scan`), then watches and scans everything once.
   * Resolves when that first scan is done; changes are reported from the start.
   */
  async start(): Promise<void> {
    const rulesets = new Map<string, { config: ScanConfig; ruleset: RuleSet }>();
    for (const path of this.options.paths) {
      if (!isAbsolute(path)) throw new Error(`watch paths must be absolute: ${path}`);
      let isDir = false;
      try {
        isDir = lstatSync(path).isDirectory();
      } catch {
        /* waited for */
      }
      const dir = isDir ? path : dirname(path);
      const base = (existsDir(dir) && gitToplevel(dir)) || dir;
      const configFile = join(base, CONFIG_FILE);
      let loaded = rulesets.get(configFile);
      if (!loaded) {
        const config = (await requireValidConfig(configFile, false)).config;
        loaded = { config, ruleset: buildRuleSet(config) };
        rulesets.set(configFile, loaded);
      }
      this.roots.push({ base, path, configFile, ...loaded });
    }
    // Longest path first: a file belongs to the most specific root that holds it.
    this.roots.sort((a, b) => b.path.length - a.path.length);
    try {
      for (const path of this.options.paths) await this.watcher.add(path);
    } finally {
      await this.closePools();
    }
  }

  close(): void {
    this.closed = true;
    this.watcher.close();
    void this.closePools();
    const rescans = [...this.rescanPools.values()];
    this.rescanPools.clear();
    for (const p of rescans) void p?.close();
  }

  private async closePools(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.flatMap((p) => (p ? [p.close()] : [])));
  }

  /** Resolves once the batch being scanned, if any, is done. */
  idle(): Promise<void> {
    return this.watcher.idle();
  }

  private rootFor(file: string): Root | undefined {
    return this.roots.find((r) => file === r.path || file.startsWith(r.path.endsWith(sep) ? r.path : r.path + sep));
  }

  private display(file: string): string {
    const under = (dir: string) => {
      const rel = relative(dir, file);
      return rel && !rel.startsWith('..') && !isAbsolute(rel) ? toPosix(rel) : undefined;
    };
    const here = under(this.options.cwd);
    if (here !== undefined) return here;
    const home = this.options.home ? under(this.options.home) : undefined;
    return home !== undefined ? `~/${home}` : file;
  }

  /** One directory of a walk: on a worker once the first walk is large, else here. */
  private async scanDirectory(dir: string, initial: boolean): Promise<string[]> {
    const root = this.rootFor(dir);
    if (!root) return [];
    const task = { dir, base: root.base, configFile: root.configFile, maxSize: this.maxSize };
    const pool = initial && this.firstScanFiles >= POOL_THRESHOLD_FILES ? this.poolFor(root.config) : undefined;
    const outcome = pool ? await pool.run<DirectoryOutcome>({ type: 'directory', ...task }) : scanDirectory(root.ruleset, task);
    if (initial) this.firstScanFiles += outcome.files;
    this.count(initial, outcome.files);
    for (const { file, matches } of outcome.found) this.record(root, file, matches, initial);
    return outcome.dirs;
  }

  /** Single files: written since the last batch, or watched on their own. */
  private async scanFiles(files: string[], initial: boolean): Promise<void> {
    const byRoot = new Map<Root, string[]>();
    for (const file of files) {
      const root = this.rootFor(file);
      if (!root || file === root.configFile || root.ruleset.pathAllowed(toPosix(relative(root.base, file)))) continue;
      byRoot.set(root, [...(byRoot.get(root) ?? []), file]);
    }
    for (const [root, list] of byRoot) {
      this.count(initial, list.length);
      const pool = this.options.rescanOnWorker && !this.closed ? this.rescanPoolFor(root.config) : undefined;
      if (pool) {
        let outcomes: FileOutcome[];
        try {
          outcomes = await pool.run<FileOutcome[]>({ type: 'files', items: list.map((file) => ({ absolute: file, path: file })), maxSize: this.maxSize });
        } catch (error) {
          this.options.onProblem?.(`rescan of ${plural(list.length, 'file')} failed: ${(error as Error).message}`);
          continue;
        }
        for (const o of outcomes) this.record(root, o.path, o.matches, initial);
      } else {
        for (const file of list) this.record(root, file, scanFile(root.ruleset.detector, file, file, this.maxSize).matches, initial);
      }
    }
  }

  private rescanPoolFor(config: ScanConfig): ScanPool | undefined {
    if (!this.rescanPools.has(config)) this.rescanPools.set(config, ScanPool.create(1, config, {}, { maxYoungGenerationSizeMb: 2 }));
    return this.rescanPools.get(config);
  }

  private count(initial: boolean, files: number): void {
    if (initial) this.counts.files += files;
    else this.counts.rescanned += files;
  }

  private poolFor(config: ScanConfig): ScanPool | undefined {
    // A small young generation: the worker's garbage is short-lived, and its peak counts too
    // (measured on 50,000 files: peak RSS 100 MB with V8's default, 93 MB with 2 MB; same speed).
    if (!this.pools.has(config)) this.pools.set(config, ScanPool.create(1, config, {}, { maxYoungGenerationSizeMb: 2 }));
    return this.pools.get(config);
  }

  /** Turns one file's matches into findings, each reported the first time it is seen there. */
  private record(root: Root, file: string, matches: Match[], initial: boolean): void {
    if (matches.length === 0) return;
    const rel = toPosix(relative(root.base, file));
    const shown = this.display(file);
    for (const match of matches) {
      const rule = root.ruleset.byId.get(match.ruleId);
      if (!rule || match.inlineAllowed || root.ruleset.matchAllowed(rule.id, rel, match.secret)) continue;
      // Redacted here: from this point on only the fingerprint stands for the secret.
      const finding = toFinding(rule, match, shown, { source: 'file' }, { showSecrets: false, migratable: true });
      const key = `${file}\0${finding.fingerprint}`;
      if (this.seen.has(key)) continue;
      this.seen.add(key);
      const status = initial ? 'present' : 'new';
      this.counts[status]++;
      this.options.onFinding({ status, finding, absolute: file });
    }
  }
}

function existsDir(dir: string): boolean {
  try {
    return lstatSync(dir).isDirectory();
  } catch {
    return false;
  }
}
