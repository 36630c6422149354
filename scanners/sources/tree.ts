import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { Ignore } from 'ignore';
import type { ScanIssue } from '../types.js';
import type { FileItem } from '../engine/tasks.js';
import { gitSync } from './git.js';
import { describeIoError } from '../engine/scan-bytes.js';

export interface TreeListing {
  items: FileItem[];
  /** Listed from the git index (tracked + untracked-not-ignored) rather than by walking. */
  fromGit: boolean;
  issues: ScanIssue[];
}

const toPosix = (p: string) => (sep === '/' ? p : p.split(sep).join('/'));

/**
 * The files of a working tree. Inside a git work tree: what git tracks plus untracked files it
 * does not ignore, read from the index (no directory walk). Elsewhere: a walk that honours
 * `.gitignore` files, skips `.git` and never follows symbolic links (so link loops cannot trap it).
 */
export async function listTree(dir: string, cwd: string, inGit: boolean): Promise<TreeListing> {
  const display = (abs: string) => toPosix(relative(cwd, abs)) || '.';
  // A directory named explicitly but ignored by its repository (node_modules, build output) is
  // what the user asked for: walk it rather than list nothing.
  if (inGit && gitSync(dir, ['check-ignore', '-q', '.']).status === 0) inGit = false;
  if (inGit) {
    const r = gitSync(dir, ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--deduplicate']);
    if (r.status === 0) {
      const items: FileItem[] = [];
      const issues: ScanIssue[] = [];
      for (const rel of r.stdout.toString('utf8').split('\0')) {
        if (!rel) continue;
        const absolute = join(dir, rel);
        if (rel.endsWith('/') || isDirectory(absolute)) {
          // A nested repository (untracked, or a submodule checkout): list it as its own tree.
          const nested = await listTree(absolute, cwd, gitSync(absolute, ['rev-parse', '--is-inside-work-tree']).status === 0);
          items.push(...nested.items);
          issues.push(...nested.issues);
          continue;
        }
        items.push({ absolute, path: display(absolute) });
      }
      return { items, fromGit: true, issues };
    }
    // A corrupt index: fall back to walking, and say so.
    const listing = await walk(dir, display);
    listing.issues.unshift({ path: display(dir), message: `git could not list files (${r.stderr.split('\n')[0]}); walked the directory instead` });
    return listing;
  }
  return walk(dir, display);
}

function isDirectory(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

async function walk(root: string, display: (abs: string) => string): Promise<TreeListing> {
  const { default: ignore } = await import('ignore');
  const items: FileItem[] = [];
  const issues: ScanIssue[] = [];
  const visit = (dir: string, rules: { base: string; ig: Ignore }[]) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (error) {
      issues.push({ path: display(dir), message: `cannot read directory: ${describeIoError(error)}` });
      return;
    }
    let local = rules;
    if (entries.some((e) => e.name === '.gitignore' && e.isFile())) {
      try {
        local = [...rules, { base: dir, ig: ignore().add(readFileSync(join(dir, '.gitignore'), 'utf8')) }];
      } catch (error) {
        issues.push({ path: display(join(dir, '.gitignore')), message: `cannot read: ${describeIoError(error)}` });
      }
    }
    // As git decides: the deepest .gitignore with a pattern matching the path wins, and within a
    // file the last matching pattern, so `!keep.env` in a subdirectory re-includes what a parent
    // ignored. (A file inside an ignored directory is never reached: git does not look there either.)
    const ignored = (abs: string, isDir: boolean) => {
      for (let i = local.length - 1; i >= 0; i--) {
        const rel = toPosix(relative(local[i].base, abs));
        if (rel === '') continue;
        const verdict = local[i].ig.test(isDir ? `${rel}/` : rel);
        if (verdict.ignored) return true;
        if (verdict.unignored) return false;
      }
      return false;
    };
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const abs = join(dir, entry.name);
      if (entry.isSymbolicLink()) continue;
      if (entry.isDirectory()) {
        if (entry.name === '.git' || ignored(abs, true)) continue;
        visit(abs, local);
      } else if (entry.isFile()) {
        if (!ignored(abs, false)) items.push({ absolute: abs, path: display(abs) });
      }
    }
  };
  visit(root, []);
  return { items, fromGit: false, issues };
}
