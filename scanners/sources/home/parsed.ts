import type { Detector } from '../../detect/detector.js';
import type { Match } from '../../types.js';

/**
 * What every config parser returns: where each value sits (so that a detector match, found on
 * the raw bytes of the file, names the key path holding it) and extra texts to scan for values
 * whose secret only shows once decoded or put back next to its name.
 */

export interface ConfigView {
  /** Key path the view stands for. */
  keyPath: string;
  /** Byte offset in the file where its findings are reported. */
  offset: number;
  /** Text to scan, e.g. `password = …` for a netrc password, or a decoded docker `auth`. */
  text: string;
  /** How the text was decoded from the file, e.g. `base64`. */
  decoded?: string;
}

export interface ParsedConfig {
  /** Key path of the value holding byte `offset` of the file, if a value holds it. */
  keyPathAt(offset: number): string | undefined;
  views: ConfigView[];
  /** Why the file is not valid in its format: position and reason, never content. */
  error?: string;
}

/** Leaf values with their byte ranges, looked up by offset. */
export class ValueIndex {
  private ranges: { start: number; end: number; path: string }[] = [];
  private sorted = true;

  add(start: number, end: number, path: string): void {
    if (this.ranges.length > 0 && start < this.ranges[this.ranges.length - 1].start) this.sorted = false;
    this.ranges.push({ start, end, path });
  }

  /** The innermost (last starting) range holding `offset`. */
  at(offset: number): string | undefined {
    if (!this.sorted) {
      this.ranges.sort((a, b) => a.start - b.start);
      this.sorted = true;
    }
    let lo = 0;
    let hi = this.ranges.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.ranges[mid].start <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    for (let i = found; i >= 0 && i > found - 64; i--) {
      const r = this.ranges[i];
      if (r.start <= offset && offset < r.end) return r.path;
    }
    return undefined;
  }
}

export type PathPart = string | number;

/** `mcpServers.github.env.TOKEN`, `args[2]`, and `projects["/home/ada/app"]` for keys that need quoting. */
export function formatKeyPath(parts: readonly PathPart[]): string {
  let out = '';
  for (const part of parts) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (/^[A-Za-z0-9_$-]+$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

/** Maps byte offsets to string (UTF-16) offsets and back, for parsers that work on strings. */
export class OffsetMap {
  private readonly ascii: boolean;
  private readonly byteAt: number[] | undefined;

  constructor(readonly text: string) {
    this.ascii = !/[^\x00-\x7f]/.test(text);
    if (!this.ascii) {
      this.byteAt = new Array(text.length + 1);
      let b = 0;
      for (let i = 0; i < text.length; i++) {
        this.byteAt[i] = b;
        const c = text.charCodeAt(i);
        b += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c < 0xdc00 ? 4 : c >= 0xdc00 && c < 0xe000 ? 0 : 3;
      }
      this.byteAt[text.length] = b;
    }
  }

  /** Byte offset of string index `i`. */
  byte(i: number): number {
    return this.ascii ? i : this.byteAt![Math.min(i, this.text.length)];
  }
}

/**
 * Extra views shared by the structured formats: an argument list's `--flag value` pairs and a
 * `{name, value}` entry (kube exec env, some MCP clients) put back together as `name=value`,
 * which is how the detector recognises a secret by its name.
 */
export function argPairView(flag: string, value: string, keyPath: string, offset: number): ConfigView | undefined {
  if (!/^--?[A-Za-z][\w.-]*$/.test(flag) || value.startsWith('-')) return undefined;
  return { keyPath, offset, text: `${flag.replace(/^-+/, '')}=${value}\n` };
}

/** Docker and containers `auth`: base64 of `user:password`. */
export function basicAuthView(encoded: string, keyPath: string, offset: number): ConfigView | undefined {
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0 || /[\0-\x08]/.test(decoded)) return undefined;
  return { keyPath, offset, text: `username: ${decoded.slice(0, colon)}\npassword: ${decoded.slice(colon + 1)}\n`, decoded: 'base64' };
}

/** Line and column (1-based, characters) of a byte offset. */
export function lineColumn(data: Buffer, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let at = data.indexOf(10); at !== -1 && at < offset; at = data.indexOf(10, at + 1)) {
    line++;
    start = at + 1;
  }
  return { line, column: data.toString('utf8', start, offset).length + 1 };
}

/**
 * Runs the detector on the raw file and maps each match to its key path; then on the views,
 * for key paths the raw text found nothing at, and on decoded views, whose findings replace
 * the raw ones at their key path. Pure: bytes and a parse in, matches out.
 */
export function detectInConfig(detector: Detector, path: string, data: Buffer, parsed: ParsedConfig): { match: Match; keyPath?: string }[] {
  const out: { match: Match; keyPath?: string }[] = [];
  const raw = detector.detect({ path, data });
  const rawPaths = new Set<string>();
  const rawSecrets = new Set(raw.map((m) => m.secret));
  for (const m of raw) {
    const keyPath = parsed.keyPathAt(m.offset);
    if (keyPath) rawPaths.add(keyPath);
    out.push({ match: m, keyPath });
  }
  for (const view of parsed.views) {
    // A decoded view (a docker `auth`) holds the secret itself, which a raw match on the encoded
    // value (the format-aware docker-config-auth rule) only stands for: the view wins if it finds it.
    if (rawPaths.has(view.keyPath) && !view.decoded) continue;
    const found = detector.detect({ path, data: Buffer.from(view.text) });
    if (found.length === 0) continue;
    if (view.decoded && rawPaths.has(view.keyPath)) {
      for (let i = out.length - 1; i >= 0; i--) if (out[i].keyPath === view.keyPath && !out[i].match.decoded) out.splice(i, 1);
    }
    const at = lineColumn(data, view.offset);
    const start = data.lastIndexOf(10, view.offset - 1) + 1;
    const end = data.indexOf(10, view.offset);
    const inline = data.subarray(start, end === -1 ? data.length : end).includes('keyward:allow');
    for (const m of found) {
      if (rawSecrets.has(m.secret)) continue;
      rawSecrets.add(m.secret);
      const decoded = [view.decoded, m.decoded].filter(Boolean).join('+') || undefined;
      out.push({
        match: { ...m, line: at.line, column: at.column, offset: view.offset, ...(decoded ? { decoded } : {}), ...(inline || m.inlineAllowed ? { inlineAllowed: true } : {}) },
        keyPath: view.keyPath,
      });
    }
  }
  return out;
}
