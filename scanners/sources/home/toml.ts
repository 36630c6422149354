import { OffsetMap, ValueIndex, formatKeyPath, type ConfigView, type ParsedConfig, type PathPart } from './parsed.js';

/**
 * TOML (Codex): smol-toml says whether the file is valid; it keeps no positions, so key paths
 * come from a line-based locator: the `[table]` or `[[array]]` header in force, the key that
 * starts the line (dotted or quoted), and the keys of an inline table up to the value.
 */
export async function parseToml(data: Buffer): Promise<ParsedConfig> {
  const text = data.toString('utf8');
  let error: string | undefined;
  try {
    const { parse } = await import('smol-toml');
    parse(text);
  } catch (e) {
    const { line, column } = e as { line?: number; column?: number };
    const reason = String((e as Error).message ?? '')
      .split('\n')[0]
      .replace(/^Invalid TOML document:\s*/, '');
    error = `not valid TOML: ${reason}${line ? ` at line ${line}, column ${column}` : ''}`;
  }
  const offsets = new OffsetMap(text);
  const index = new ValueIndex();
  locate(text, offsets, index);
  const views: ConfigView[] = [];
  return { keyPathAt: (offset) => index.at(offset), views, ...(error ? { error } : {}) };
}

const KEY = String.raw`(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')`;
const DOTTED = new RegExp(String.raw`^\s*(${KEY}(?:\s*\.\s*${KEY})*)\s*=`);
const HEADER = new RegExp(String.raw`^\s*(\[\[?)\s*(${KEY}(?:\s*\.\s*${KEY})*)\s*\]\]?\s*(?:#.*)?$`);
const INLINE_KEY = new RegExp(String.raw`(${KEY}(?:\s*\.\s*${KEY})*)\s*=\s*`, 'g');

function splitKey(key: string): string[] {
  const parts: string[] = [];
  const re = new RegExp(KEY, 'g');
  let m: RegExpExecArray | null;
  while ((m = re.exec(key)) !== null) {
    const k = m[0];
    parts.push(k.startsWith('"') ? (JSON.parse(k) as string) : k.startsWith("'") ? k.slice(1, -1) : k);
  }
  return parts;
}

/** Records, for each line that sets a value, the range of the value and its key path. */
function locate(text: string, offsets: OffsetMap, index: ValueIndex): void {
  let table: PathPart[] = [];
  const arrays = new Map<string, number>();
  let at = 0;
  let open: { start: number; path: PathPart[] } | undefined;
  for (const line of text.split('\n')) {
    const lineStart = at;
    at += line.length + 1;
    const header = HEADER.exec(line);
    if (header) {
      if (open) index.add(offsets.byte(open.start), offsets.byte(lineStart), formatKeyPath(open.path));
      open = undefined;
      const parts = splitKey(header[2]);
      if (header[1] === '[[') {
        const name = parts.join('.');
        const n = (arrays.get(name) ?? -1) + 1;
        arrays.set(name, n);
        table = [...parts, n];
      } else table = parts;
      continue;
    }
    const assign = DOTTED.exec(line);
    if (!assign) continue;
    if (open) index.add(offsets.byte(open.start), offsets.byte(lineStart), formatKeyPath(open.path));
    const path = [...table, ...splitKey(assign[1])];
    const valueStart = lineStart + assign[0].length;
    const rest = line.slice(assign[0].length);
    if (/^\s*\{/.test(rest)) {
      // Inline table: each `k = v` inside gets its own path.
      INLINE_KEY.lastIndex = 0;
      let m: RegExpExecArray | null;
      const inner: { start: number; path: PathPart[] }[] = [];
      while ((m = INLINE_KEY.exec(rest)) !== null) inner.push({ start: valueStart + m.index + m[0].length, path: [...path, ...splitKey(m[1])] });
      inner.forEach((k, i) => index.add(offsets.byte(k.start), offsets.byte(inner[i + 1]?.start ?? lineStart + line.length), formatKeyPath(k.path)));
      open = undefined;
    } else {
      // A value may run over several lines (arrays, multi-line strings): it lasts until the next key or header.
      open = { start: valueStart, path };
    }
  }
  if (open) index.add(offsets.byte(open.start), offsets.byte(text.length), formatKeyPath(open.path));
}
