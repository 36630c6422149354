import { ValueIndex, basicAuthView, formatKeyPath, type ConfigView, type ParsedConfig } from './parsed.js';

/**
 * INI-style files: AWS credentials and config, .pypirc, .npmrc, git config. `[section]` headers
 * (git's `[http "https://host"]` too), `key = value` or `key: value`, `;` and `#` comments.
 * A line that is none of these makes the file invalid (it is still scanned).
 */
export function parseIni(data: Buffer, options: { npmrc?: boolean } = {}): ParsedConfig {
  const index = new ValueIndex();
  const views: ConfigView[] = [];
  let section: string[] = [];
  let error: string | undefined;
  let at = 0;
  let lineNo = 0;
  let continued: { start: number; path: string } | undefined;
  for (const line of data.toString('latin1').split('\n')) {
    const lineStart = at;
    at += line.length + 1;
    lineNo++;
    const trimmed = line.trim();
    // An indented line continues the previous value (aws config sub-sections, pypirc lists).
    if (continued && /^[ \t]/.test(line) && trimmed !== '') {
      index.add(lineStart, lineStart + line.length, continued.path);
      continue;
    }
    continued = undefined;
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    const header = /^\s*\[\s*([^\]"]*?)\s*(?:"([^"]*)")?\s*\]\s*(?:[#;].*)?$/.exec(line);
    if (header) {
      section = [header[1], ...(header[2] !== undefined ? [header[2]] : [])].filter((s) => s !== '');
      continue;
    }
    const eq = options.npmrc ? line.indexOf('=') : firstOf(line, '=', ':');
    if (eq <= 0 && !/^\s*[A-Za-z0-9_.-]+\s*$/.test(line)) {
      error ??= `not valid INI: line ${lineNo} is neither a [section] nor key = value`;
      continue;
    }
    if (eq <= 0) continue; // a bare key (git's boolean shorthand)
    const key = line.slice(0, eq).trim();
    let valueStart = lineStart + eq + 1;
    while (valueStart < lineStart + line.length && (data[valueStart] === 0x20 || data[valueStart] === 0x09)) valueStart++;
    const path = formatKeyPath([...section, key]);
    index.add(valueStart, lineStart + line.length, path);
    continued = { start: valueStart, path };
    // npm `_auth` is base64 of user:password.
    if (options.npmrc && /(?:^|:)_auth$/.test(key)) {
      const view = basicAuthView(
        line
          .slice(eq + 1)
          .trim()
          .replace(/^["']|["']$/g, ''),
        path,
        valueStart,
      );
      if (view) views.push(view);
    }
  }
  return { keyPathAt: (offset) => index.at(offset), views, ...(error ? { error } : {}) };
}

function firstOf(line: string, a: string, b: string): number {
  const i = line.indexOf(a);
  const j = line.indexOf(b);
  if (i === -1) return j;
  if (j === -1) return i;
  return Math.min(i, j);
}
