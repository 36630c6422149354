import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, renameSync, unlinkSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../../kernel/atomic-file.js';
import { gitSync, requireRepository } from '../../scanners/sources/git.js';
import { KeywardError } from '../../kernel/errors.js';

export const HOOK_MARKER = '# keyward-managed-hook';
export const CHAINED_SUFFIX = '.keyward-chained';
export const BACKUP_SUFFIX = '.keyward-backup';

export interface HookResult {
  action: 'installed' | 'updated' | 'chained' | 'replaced' | 'removed' | 'restored';
  path: string;
  chained?: string;
  backup?: string;
}

/** The hooks directory git uses here (honours core.hooksPath). */
export function hooksDir(cwd: string): string {
  const top = requireRepository(cwd, 'hook install');
  const r = gitSync(top, ['rev-parse', '--git-path', 'hooks'], { readHooksPath: true });
  const dir = r.stdout.toString('utf8').trim();
  return isAbsolute(dir) ? dir : resolve(top, dir);
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** This copy of keyward: the Node running it and its bin/run.js, by absolute path. */
export function installedKeyward(): { node: string; runJs: string } {
  return { node: process.execPath, runJs: fileURLToPath(new URL('../../../bin/run.js', import.meta.url)) };
}

/**
 * The hook: runs a chained hook first if there is one, then `keyward scan --staged` with the
 * keyward that installed it, by absolute path. It never looks in the working tree
 * (./node_modules/.bin/keyward): a repository can commit an executable there, and any npm
 * dependency can claim the bin name, so `git commit` would run code the repository chose.
 */
export function hookScript(keyward = installedKeyward()): string {
  return `#!/bin/sh
${HOOK_MARKER}
# Blocks commits that add secrets: runs \`keyward scan --staged\`.
# Installed by \`keyward hook install\`; remove with \`keyward hook uninstall\`.
# To commit anyway once (for a known false positive, prefer keyward:allow or a baseline): git commit --no-verify
hook_dir=$(dirname "$0")
if [ -x "$hook_dir/pre-commit${CHAINED_SUFFIX}" ]; then
  "$hook_dir/pre-commit${CHAINED_SUFFIX}" "$@" || exit $?
fi
keyward_run=${shellQuote(keyward.runJs)}
keyward_node=${shellQuote(keyward.node)}
[ -x "$keyward_node" ] || keyward_node=$(command -v node)
if [ -f "$keyward_run" ] && [ -n "$keyward_node" ]; then
  exec "$keyward_node" "$keyward_run" scan --staged
fi
echo "keyward: the pre-commit hook cannot find keyward at $keyward_run; run \\\`keyward hook install\\\` again with the keyward you use, or \\\`keyward hook uninstall\\\`" >&2
exit 2
`;
}

/** Refuses a keyward that lives inside the repository it would guard: the repository could replace it. */
function checkOutside(top: string, keyward: { runJs: string }): void {
  const rel = relative(realpathSync(top), realpathSync(keyward.runJs));
  if (!rel.startsWith('..') && !isAbsolute(rel)) {
    throw new KeywardError(`this keyward (${keyward.runJs}) is inside the repository it would guard, which could replace it`, {
      hint: 'Install keyward outside the repository (npm install -g . in a clone of keyward) and run `keyward hook install` with that one.',
    });
  }
}

function isOurs(file: string): boolean {
  try {
    return readFileSync(file, 'utf8').includes(HOOK_MARKER);
  } catch {
    return false;
  }
}

/**
 * Installs the pre-commit hook. A hook that is already there and is not ours is chained (moved
 * beside ours and run first) rather than overwritten; `force` replaces it, keeping a backup.
 */
export function installHook(cwd: string, options: { force?: boolean } = {}): HookResult {
  const dir = hooksDir(cwd);
  checkOutside(requireRepository(cwd, 'hook install'), installedKeyward());
  mkdirSync(dir, { recursive: true });
  const hook = join(dir, 'pre-commit');
  const chained = hook + CHAINED_SUFFIX;
  const script = hookScript();
  let stat;
  try {
    stat = lstatSync(hook);
  } catch {
    stat = undefined;
  }
  if (!stat) {
    writeFileAtomic(hook, script, { mode: 0o755 });
    return { action: 'installed', path: hook };
  }
  if (stat.isFile() && isOurs(hook)) {
    writeFileAtomic(hook, script, { mode: 0o755 });
    chmodSync(hook, 0o755);
    return { action: 'updated', path: hook, ...(existsSync(chained) ? { chained } : {}) };
  }
  if (options.force) {
    const backup = hook + BACKUP_SUFFIX;
    renameSync(hook, backup);
    writeFileAtomic(hook, script, { mode: 0o755 });
    return { action: 'replaced', path: hook, backup };
  }
  if (!stat.isFile()) {
    throw new KeywardError(`${hook} exists and is not a regular file (a symbolic link or directory), so keyward will not chain it`, {
      hint: 'Check what manages your hooks; `keyward hook install --force` replaces it and keeps a backup.',
    });
  }
  if (existsSync(chained)) {
    throw new KeywardError(`${hook} is not keyward's, and ${chained} already exists`, {
      hint: 'Resolve the two hooks by hand, or use --force to replace the current one (a backup is kept).',
    });
  }
  renameSync(hook, chained);
  chmodSync(chained, stat.mode & 0o777 ? stat.mode & 0o777 : 0o755);
  writeFileAtomic(hook, script, { mode: 0o755 });
  return { action: 'chained', path: hook, chained };
}

/** Removes keyward's hook and puts back the one it chained, if any. */
export function uninstallHook(cwd: string): HookResult {
  const dir = hooksDir(cwd);
  const hook = join(dir, 'pre-commit');
  const chained = hook + CHAINED_SUFFIX;
  if (!existsSync(hook)) throw new KeywardError(`no pre-commit hook in ${dir}`, { hint: 'Nothing to uninstall.' });
  if (!isOurs(hook)) {
    throw new KeywardError(`${hook} is not keyward's hook; leaving it alone`, { hint: 'Remove it by hand if you mean to.' });
  }
  if (existsSync(chained)) {
    renameSync(chained, hook);
    return { action: 'restored', path: hook };
  }
  unlinkSync(hook);
  return { action: 'removed', path: hook };
}
