/**
 * Parser for `git diff -U0` / `git log -p -U0` output: the lines each file gained, with their
 * line numbers in the new file. Pure: bytes in, records out.
 */

export interface AddedLines {
  /** Path in the new tree, relative to the repository root. */
  path: string;
  /** The added lines joined with `\n`. */
  data: Buffer;
  /** `lineMap[i]` = line number of line `i` of `data` in the new file. */
  lineMap: number[];
  binary: boolean;
}

export interface CommitMeta {
  commit: string;
  author: string;
  email: string;
  date: string;
}

/** Record separator that starts every commit header written by our `--format`. */
export const COMMIT_MARK = 0x1e;
export const LOG_FORMAT = '--format=%x1e%H%x1f%an%x1f%ae%x1f%aI';

const NL = 10;
const PLUS = 0x2b;

/** Undoes git's C-style quoting of unusual paths (`"a/caf\303\251 \"x\""`). */
export function unquoteGitPath(text: string): string {
  if (!text.startsWith('"') || !text.endsWith('"')) return text;
  const bytes: number[] = [];
  const body = Buffer.from(text.slice(1, -1), 'utf8');
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== 0x5c) {
      bytes.push(c);
      continue;
    }
    const n = body[++i];
    const simple: Record<number, number> = { 0x6e: 10, 0x74: 9, 0x72: 13, 0x22: 0x22, 0x5c: 0x5c, 0x61: 7, 0x62: 8, 0x66: 12, 0x76: 11 };
    if (n >= 0x30 && n <= 0x37) {
      bytes.push(parseInt(body.toString('latin1', i, i + 3), 8));
      i += 2;
    } else bytes.push(simple[n] ?? n);
  }
  return Buffer.from(bytes).toString('utf8');
}

function stripPrefix(path: string): string {
  const p = unquoteGitPath(path);
  return p.startsWith('b/') || p.startsWith('a/') ? p.slice(2) : p;
}

/** Path from `diff --git a/X b/Y` when X and Y are equal (the only unambiguous case). */
function pathFromDiffLine(line: string): string | undefined {
  const rest = line.slice('diff --git '.length);
  if (rest.startsWith('"')) {
    const m = /^("(?:[^"\\]|\\.)*") ("(?:[^"\\]|\\.)*"|\S.*)$/.exec(rest);
    return m ? stripPrefix(m[2]) : undefined;
  }
  const half = (rest.length - 1) / 2;
  if (Number.isInteger(half) && rest.slice(2, half) === rest.slice(half + 3)) return rest.slice(half + 3);
  const b = rest.lastIndexOf(' b/');
  return b >= 0 ? rest.slice(b + 3) : undefined;
}

/** Parses one diff (all files of a commit or of the index) into per-file added lines. */
export function parseDiff(buf: Buffer, from = 0, to = buf.length): AddedLines[] {
  const files: AddedLines[] = [];
  let current: { path?: string; ranges: number[]; lineMap: number[]; binary: boolean; inHunks: boolean; deleted: boolean } | undefined;
  let newLine = 0;

  const finish = () => {
    if (!current || current.path === undefined || current.deleted) return;
    if (current.ranges.length === 0 && !current.binary) return;
    const parts: Buffer[] = [];
    for (let i = 0; i < current.ranges.length; i += 2) {
      if (i > 0) parts.push(NEWLINE);
      parts.push(buf.subarray(current.ranges[i], current.ranges[i + 1]));
    }
    files.push({ path: current.path, data: Buffer.concat(parts), lineMap: current.lineMap, binary: current.binary });
  };

  let at = from;
  while (at < to) {
    let end = buf.indexOf(NL, at);
    if (end === -1 || end > to) end = to;
    const first = buf[at];
    if (current?.inHunks && first === PLUS) {
      current.ranges.push(at + 1, end > at + 1 && buf[end - 1] === 13 ? end - 1 : end);
      current.lineMap.push(newLine++);
    } else if (first === 0x40 /* @ */ && buf[at + 1] === 0x40) {
      const header = buf.toString('latin1', at, Math.min(end, at + 200));
      const m = /^@@@? -[\d,]+ (?:-[\d,]+ )?\+(\d+)/.exec(header);
      if (current && m) {
        newLine = Number(m[1]);
        current.inHunks = true;
      }
    } else if (first === 0x64 /* d */ && buf.toString('latin1', at, at + 11) === 'diff --git ') {
      finish();
      const line = buf.toString('utf8', at, end);
      current = { path: pathFromDiffLine(line), ranges: [], lineMap: [], binary: false, inHunks: false, deleted: false };
    } else if (current && !current.inHunks) {
      const line = buf.toString('utf8', at, end);
      if (line.startsWith('+++ ')) {
        // git ends the name with a TAB when it contains a space, as GNU diff does.
        const target = line.slice(4).replace(/\t$/, '');
        if (target === '/dev/null') current.deleted = true;
        else current.path = stripPrefix(target);
      } else if (line.startsWith('rename to ') || line.startsWith('copy to ')) {
        current.path = unquoteGitPath(line.slice(line.indexOf(' to ') + 4));
      } else if (line.startsWith('deleted file mode')) {
        current.deleted = true;
      } else if (line.startsWith('Binary files ') || line === 'GIT binary patch') {
        current.binary = true;
        const m = / and (.+) differ$/.exec(line);
        if (m && m[1] !== '/dev/null') current.path = stripPrefix(m[1]);
        else if (m) current.deleted = true;
      }
    }
    at = end + 1;
  }
  finish();
  return files;
}

const NEWLINE = Buffer.from('\n');

/** Splits `git log` output into commits: [start of header, end) pairs. */
export function commitBoundaries(buf: Buffer): number[] {
  const bounds: number[] = [];
  let at = buf[0] === COMMIT_MARK ? 0 : buf.indexOf('\n\x1e');
  if (at > 0) at += 1;
  while (at !== -1 && at < buf.length) {
    const next = buf.indexOf('\n\x1e', at + 1);
    bounds.push(at, next === -1 ? buf.length : next + 1);
    at = next === -1 ? -1 : next + 1;
  }
  return bounds;
}

/** Reads the header of a commit that starts at `at`; returns it and where its diff begins. */
export function parseCommitHeader(buf: Buffer, at: number): { meta: CommitMeta; body: number } {
  let end = buf.indexOf(NL, at);
  if (end === -1) end = buf.length;
  const [commit, author, email, date] = buf.toString('utf8', at + 1, end).split('\x1f');
  return { meta: { commit, author: author ?? '', email: email ?? '', date: date ?? '' }, body: end + 1 };
}
