import { spawn, spawnSync } from 'node:child_process';
import { KeywardError } from '../../kernel/errors.js';

/**
 * Settings that keep a repository keyward did not create from running code through git: a
 * repository's own `.git/config` (an extracted archive, a nested repository an agent wrote) can
 * name a program for `core.fsmonitor`, hooks, a pager, an external diff, a credential helper or an
 * ssh command, and git runs it. Options given with `-c` win over every config file.
 */
export const GIT_HARDENING = [
  '-c',
  'core.fsmonitor=false',
  '-c',
  'core.hooksPath=/dev/null',
  '-c',
  'core.pager=cat',
  '-c',
  'core.sshCommand=false',
  '-c',
  'core.askPass=',
  '-c',
  'credential.helper=',
  '-c',
  'diff.external=',
  '-c',
  'protocol.allow=never',
  '-c',
  'protocol.ext.allow=never',
  '-c',
  'core.gitProxy=',
  '-c',
  'core.untrackedCache=false',
];

/**
 * The environment git runs in: the caller's (a pre-commit hook's GIT_INDEX_FILE must reach git),
 * less the variables that would start programs, and without the system-wide config.
 */
export function gitEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0', GIT_PAGER: 'cat', PAGER: 'cat', GIT_OPTIONAL_LOCKS: '0' };
  for (const name of ['GIT_EXTERNAL_DIFF', 'GIT_ASKPASS', 'SSH_ASKPASS', 'GIT_SSH', 'GIT_SSH_COMMAND', 'GIT_EDITOR', 'GIT_SEQUENCE_EDITOR', 'GIT_PROXY_COMMAND']) delete env[name];
  return env;
}

/**
 * Git plumbing for the scanner. Every call pins the settings that would change the output we
 * parse (quoting, prefixes, colour, external diff tools, signatures), after the hardening above.
 */
export const GIT_CONFIG = [
  ...GIT_HARDENING,
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

/**
 * Runs git and waits. `readHooksPath` keeps the repository's `core.hooksPath` in effect (only
 * `hook install` needs it, to find where git looks for hooks; nothing runs a hook here).
 */
export function gitSync(cwd: string, args: string[], options: { maxBuffer?: number; readHooksPath?: boolean } = {}): GitResult {
  const config = options.readHooksPath ? GIT_CONFIG.filter((v, i, all) => v !== 'core.hooksPath=/dev/null' && all[i + 1] !== 'core.hooksPath=/dev/null') : GIT_CONFIG;
  const r = spawnSync('git', ['--no-pager', ...config, ...args], { cwd, env: gitEnv(), maxBuffer: options.maxBuffer ?? 1024 * 1024 * 1024 });
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
  return spawn('git', ['--no-pager', ...GIT_CONFIG, ...args], { cwd, env: gitEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * The commit a user-given revision names, or undefined. The revision is passed after
 * `--end-of-options`, so a branch named `--output=FILE` is a name, never an option.
 */
export function resolveCommit(cwd: string, rev: string): string | undefined {
  const r = gitSync(cwd, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`]);
  const sha = r.stdout.toString('utf8').trim();
  return r.status === 0 && /^[0-9a-f]{40,64}$/.test(sha) ? sha : undefined;
}

/** Whether a revision resolves; used to give a clear error for a bad `--since`/`--branch`. */
export function revisionExists(cwd: string, rev: string): boolean {
  return resolveCommit(cwd, rev) !== undefined;
}

/** The error for a revision that does not resolve. */
export function noSuchRevision(flag: string, rev: string): KeywardError {
  return new KeywardError(`${flag} ${rev}: no such revision in this repository`, { hint: 'Use a commit, tag or branch name that `git rev-parse` knows.' });
}
