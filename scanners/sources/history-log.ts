import type { ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { LOG_FORMAT } from './diff.js';
import { gitStream } from './git.js';

export type HistoryLog = ChildProcessByStdio<null, Readable, Readable>;

/**
 * Starts `git log -p -U0` over every ref (or `branch`, minus what `since` reaches). Kept in a
 * module of its own with few imports: `keyward scan --history` starts git before loading the
 * rest of the scanner, since git is the slow part and start-up can overlap it.
 */
export function spawnHistoryLog(cwd: string, range: { since?: string; branch?: string }): HistoryLog {
  const revs = [range.branch ?? '--all', ...(range.since ? [`^${range.since}`] : [])];
  const args = ['log', ...revs, '-p', '-U0', '--no-color', '--no-ext-diff', '--no-textconv', '-M', '--src-prefix=a/', '--dst-prefix=b/', LOG_FORMAT, '--end-of-options'];
  const child = gitStream(cwd, args) as HistoryLog;
  // A bad cwd or a missing git surfaces later as a clear error from the scan; never as a crash.
  child.on('error', () => {});
  return child;
}
