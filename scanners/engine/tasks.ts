import { relative, sep } from 'node:path';
import type { RuleSet } from '../ruleset.js';
import { commitBoundaries, parseCommitHeader, parseDiff, type CommitMeta } from '../sources/diff.js';
import { listDirectory } from '../sources/watcher.js';
import type { Match } from '../types.js';
import { scanFile, type SkipReason } from './scan-bytes.js';

/**
 * The units of work that run either inline or on a worker thread: same code both ways, so that
 * the thread count changes speed and nothing else.
 */
export interface FileItem {
  /** Path to open. */
  absolute: string;
  /** Path to show and to match allowlists against. */
  path: string;
}

export interface FileOutcome {
  path: string;
  matches: Match[];
  bytes: number;
  skipped?: SkipReason;
  error?: string;
}

export function scanFiles(ruleset: RuleSet, items: FileItem[], maxSize: number): FileOutcome[] {
  return items.map((item) => ({ path: item.path, ...scanFile(ruleset.detector, item.absolute, item.path, maxSize) }));
}

export interface DirectoryTask {
  dir: string;
  /** Allowlisted paths are relative to this directory (the repository, or the watched directory). */
  base: string;
  /** The config file itself holds custom rules' example secrets: not scanned. */
  configFile: string;
  maxSize: number;
}

export interface DirectoryOutcome {
  /** Subdirectories to walk next (without .git and node_modules). */
  dirs: string[];
  /** Files scanned. */
  files: number;
  /** Files with matches, by absolute path. */
  found: { file: string; matches: Match[] }[];
}

/** Lists one directory of a watched tree and scans its files (`keyward watch`'s walk). */
export function scanDirectory(ruleset: RuleSet, task: DirectoryTask): DirectoryOutcome {
  const { dirs, files } = listDirectory(task.dir);
  const outcome: DirectoryOutcome = { dirs, files: 0, found: [] };
  for (const file of files) {
    if (file === task.configFile) continue;
    const rel = relative(task.base, file);
    if (ruleset.pathAllowed(sep === '/' ? rel : rel.split(sep).join('/'))) continue;
    outcome.files++;
    const { matches } = scanFile(ruleset.detector, file, file, task.maxSize);
    if (matches.length > 0) outcome.found.push({ file, matches });
  }
  return outcome;
}

export interface DiffOutcome {
  meta?: CommitMeta;
  /** Index of the commit within its batch, in git log order. */
  position: number;
  path: string;
  matches: Match[];
}

export interface DiffBatchOutcome {
  items: DiffOutcome[];
  commits: number;
  files: number;
  bytes: number;
  binary: number;
  /** Changed files not read because `allowlist.paths` matched them. */
  allowlisted: number;
}

/**
 * Scans the added lines of a diff. With `commits` the buffer is `git log` output made of whole
 * commits, each starting with our header; without, it is one `git diff`.
 */
export function scanDiff(ruleset: RuleSet, data: Buffer, commits: boolean): DiffBatchOutcome {
  const outcome: DiffBatchOutcome = { items: [], commits: 0, files: 0, bytes: data.length, binary: 0, allowlisted: 0 };
  const scanOne = (from: number, to: number, meta?: CommitMeta, position = 0) => {
    for (const file of parseDiff(data, from, to)) {
      if (file.binary) {
        outcome.binary++;
        continue;
      }
      outcome.files++;
      if (ruleset.pathAllowed(file.path)) {
        outcome.allowlisted++;
        continue;
      }
      const matches = ruleset.detector.detect({ path: file.path, data: file.data, lineMap: file.lineMap });
      if (matches.length > 0) outcome.items.push({ meta, position, path: file.path, matches });
    }
  };
  if (!commits) {
    scanOne(0, data.length);
    return outcome;
  }
  const bounds = commitBoundaries(data);
  for (let i = 0; i < bounds.length; i += 2) {
    const { meta, body } = parseCommitHeader(data, bounds[i]);
    scanOne(body, bounds[i + 1], meta, outcome.commits);
    outcome.commits++;
  }
  return outcome;
}
