import type { ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { LOG_FORMAT } from './diff.js';
import { gitStream, noSuchRevision, resolveCommit } from './git.js';

export interface HistoryLog {
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** Resolves with git's exit status; listening starts at spawn, so a fast git is not missed. */
  exited: Promise<number>;
  /** What git wrote to stderr so far. */
  stderr(): string;
  kill(): void;
}

/**
 * Starts `git log -p -U0` over every ref (or `branch`, minus what `since` reaches). Kept in a
 * module of its own with few imports: `keyward scan --history` starts git before loading the
 * rest of the scanner, since git is the slow part and start-up can overlap it.
 *
 * `branch` and `since` come from the user (or from CI passing a branch name, and git accepts a
 * branch named `--output=FILE`): each is resolved to a commit id first, with the name after
 * `--end-of-options`, and only ids reach `git log`. A name that does not resolve is an error
 * before any `git log` starts.
 */
export function spawnHistoryLog(cwd: string, range: { since?: string; branch?: string }): HistoryLog {
  const commit = (flag: string, rev: string) => {
    const sha = resolveCommit(cwd, rev);
    if (!sha) throw noSuchRevision(flag, rev);
    return sha;
  };
  const branch = range.branch !== undefined ? commit('--branch', range.branch) : undefined;
  const since = range.since !== undefined ? commit('--since', range.since) : undefined;
  const options = branch ? [] : ['--all'];
  const revs = [...(branch ? [branch] : []), ...(since ? [`^${since}`] : [])];
  const args = [
    'log',
    ...options,
    '-p',
    '-U0',
    '--no-color',
    '--no-ext-diff',
    '--no-textconv',
    '-M',
    '--src-prefix=a/',
    '--dst-prefix=b/',
    LOG_FORMAT,
    '--end-of-options',
    ...revs,
    '--',
  ];
  const child = gitStream(cwd, args) as ChildProcessByStdio<null, Readable, Readable>;
  // Node resumes (and so discards) a child's unread output when it exits, unless something
  // listens for 'readable'. The scanner starts reading later; until then, keep the data.
  child.stdout.on('readable', () => {});
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exited = new Promise<number>((resolve) => {
    // A bad cwd or a missing git is reported by the scan's own checks, never as a crash.
    child.on('error', () => resolve(127));
    child.on('close', (code) => resolve(code ?? 1));
  });
  return { child, exited, stderr: () => stderr, kill: () => child.kill() };
}
