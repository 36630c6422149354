import { spawn, spawnSync } from 'node:child_process';
import { KeywardError } from '../../kernel/errors.js';

/**
 * Git plumbing for the scanner. Every call pins the settings that would change the output we
 * parse (quoting, prefixes, colour, external diff tools, signatures).
 */
export const GIT_CONFIG = [
  '-c',
  'core.quotePath=false',
  '-c',
  'diff.noprefix=false',
  '-c',
  'diff.mnemonicPrefix=false',
  '-c',
  'diff.relative=false',
  '-c',
  'log.showSignature=false',
  '-c',
  'color.ui=never',
];

export interface GitResult {
  status: number;
  stdout: Buffer;
  stderr: string;
}

export function gitSync(cwd: string, args: string[], options: { maxBuffer?: number } = {}): GitResult {
  const r = spawnSync('git', [...GIT_CONFIG, ...args], { cwd, maxBuffer: options.maxBuffer ?? 1024 * 1024 * 1024 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new KeywardError('git is not installed or not on PATH', { hint: 'Install git, or scan a directory without --staged/--history.' });
    throw new KeywardError(`could not run git: ${r.error.message}`);
  }
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr.toString('utf8').trim() };
}

/** The repository's top-level directory, or undefined when `dir` is not inside a work tree. */
export function gitToplevel(dir: string): string | undefined {
  let r: GitResult;
  try {
    r = gitSync(dir, ['rev-parse', '--show-toplevel']);
  } catch {
    return undefined;
  }
  return r.status === 0 ? r.stdout.toString('utf8').trim() : undefined;
}

/** Like `gitToplevel`, but an error explaining the flag when there is no repository. */
export function requireRepository(dir: string, flag: string): string {
  const r = gitSync(dir, ['rev-parse', '--show-toplevel']);
  if (r.status !== 0) {
    if (/not a git repository/i.test(r.stderr)) {
      throw new KeywardError(`${dir} is not in a git repository; ${flag} needs one`, {
        hint: `Run keyward from inside a repository, or drop ${flag} to scan the files: keyward scan ${dir}`,
      });
    }
    throw new KeywardError(`git cannot read the repository at ${dir}: ${firstLine(r.stderr)}`, {
      hint: 'Check the repository with `git fsck`.',
    });
  }
  return r.stdout.toString('utf8').trim();
}

export function firstLine(text: string): string {
  return text.split('\n').find((l) => l.trim()) ?? text;
}

/** Starts a long-running git command whose stdout is streamed. */
export function gitStream(cwd: string, args: string[]) {
  return spawn('git', [...GIT_CONFIG, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Whether a revision resolves; used to give a clear error for a bad `--since`/`--branch`. */
export function revisionExists(cwd: string, rev: string): boolean {
  return gitSync(cwd, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`]).status === 0;
}
