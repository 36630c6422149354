import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/**
 * keyward's own configuration (policy.yaml, config.yaml, providers/**) is a file an agent can
 * write: it runs as the same user. A change on disk is therefore only a proposal. The daemon
 * keeps the last version a person confirmed in force, and the proposal waits until a person
 * confirms it from outside any session (`keyward approve` or `keyward policy apply`, both over
 * admin.sock, which refuses callers inside a session). This file holds the pure parts: reading
 * the files as one snapshot, and the diff a person is shown.
 */

/** Relative path (with `/`) → content. */
export type ConfigSnapshot = Map<string, string>;

/** Largest file taken into a snapshot; a bigger one is a proposal of its own that cannot be applied. */
const MAX_FILE = 1024 * 1024;

/** Whether a path under the config directory is part of keyward's guarded configuration. */
export function isGuarded(rel: string): boolean {
  const p = rel.split(sep).join('/');
  return p === 'policy.yaml' || p === 'config.yaml' || (p.startsWith('providers/') && /\.ya?ml$/.test(p));
}

/** policy.yaml, config.yaml and every YAML file under providers/ (subfolders included). */
export function readConfigSnapshot(configDir: string): ConfigSnapshot {
  const snapshot: ConfigSnapshot = new Map();
  const add = (file: string) => {
    try {
      const st = statSync(file);
      if (!st.isFile()) return;
      const rel = relative(configDir, file).split(sep).join('/');
      snapshot.set(rel, st.size > MAX_FILE ? `# keyward: this file is larger than ${MAX_FILE} bytes and was not read\n` : readFileSync(file, 'utf8'));
    } catch {
      /* gone between listing and reading */
    }
  };
  add(join(configDir, 'policy.yaml'));
  add(join(configDir, 'config.yaml'));
  const walk = (dir: string, depth: number) => {
    if (depth > 8) return;
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      let isDir = false;
      try {
        isDir = statSync(path).isDirectory();
      } catch {
        continue;
      }
      if (isDir) walk(path, depth + 1);
      else if (/\.ya?ml$/.test(name)) add(path);
    }
  };
  walk(join(configDir, 'providers'), 0);
  return snapshot;
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The sha256 of each file, for audit records and the confirmed-state file. */
export function hashes(snapshot: ConfigSnapshot): Record<string, string> {
  return Object.fromEntries([...snapshot].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, sha256(v)]));
}

export function sameSnapshot(a: ConfigSnapshot, b: ConfigSnapshot): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

export interface FileChange {
  path: string;
  change: 'added' | 'removed' | 'modified';
  before?: string;
  after?: string;
  /** Unified-style lines: ` ` kept, `-` removed, `+` added (context of 2 lines). */
  diff: string[];
}

/** The files that differ between two snapshots, each with a line diff. */
export function diffSnapshots(from: ConfigSnapshot, to: ConfigSnapshot): FileChange[] {
  const paths = [...new Set([...from.keys(), ...to.keys()])].sort();
  const changes: FileChange[] = [];
  for (const path of paths) {
    const a = from.get(path);
    const b = to.get(path);
    if (a === b) continue;
    const change = a === undefined ? 'added' : b === undefined ? 'removed' : 'modified';
    changes.push({ path, change, ...(a !== undefined ? { before: sha256(a) } : {}), ...(b !== undefined ? { after: sha256(b) } : {}), diff: lineDiff(a ?? '', b ?? '') });
  }
  return changes;
}

/** A line diff by longest common subsequence, with two lines of context around each change. */
export function lineDiff(a: string, b: string): string[] {
  const x = a === '' ? [] : a.replace(/\n$/, '').split('\n');
  const y = b === '' ? [] : b.replace(/\n$/, '').split('\n');
  // Files this large are not policy files a person reads line by line: show them whole.
  if (x.length * y.length > 4_000_000) return [...x.map((l) => `-${l}`), ...y.map((l) => `+${l}`)];
  const lcs: number[][] = Array.from({ length: x.length + 1 }, () => new Array<number>(y.length + 1).fill(0));
  for (let i = x.length - 1; i >= 0; i--) for (let j = y.length - 1; j >= 0; j--) lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const all: string[] = [];
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) {
      all.push(` ${x[i]}`);
      i++;
      j++;
    } else if (j < y.length && (i === x.length || lcs[i][j + 1] >= lcs[i + 1][j])) all.push(`+${y[j++]}`);
    else all.push(`-${x[i++]}`);
  }
  const keep = all.map((l, k) => l[0] !== ' ' || all.slice(Math.max(0, k - 2), k + 3).some((m) => m[0] !== ' '));
  const out: string[] = [];
  all.forEach((l, k) => {
    if (keep[k]) out.push(l);
    else if (out.at(-1) !== '…') out.push('…');
  });
  return out;
}

/** A change on disk that waits for a person. */
export interface PendingChange {
  id: string;
  detected: string;
  files: FileChange[];
  /** Problems that would make applying it fail (policy.yaml that does not parse). */
  problems: string[];
  snapshot: ConfigSnapshot;
}

export function newChangeId(): string {
  return `cfg_${randomBytes(6).toString('hex')}`;
}
