import { ValueIndex, formatKeyPath, type ConfigView, type ParsedConfig } from './parsed.js';

/** Formats without nesting, read line by line or token by token. */

/** `.env` files: `KEY=value` and `export KEY=value`; the key path is the variable name. */
export function parseEnv(data: Buffer): ParsedConfig {
  const index = new ValueIndex();
  let at = 0;
  for (const line of data.toString('latin1').split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*/.exec(line);
    if (m) index.add(at + m[0].length, at + line.length, m[1]);
    at += line.length + 1;
  }
  return { keyPathAt: (offset) => index.at(offset), views: [] };
}

/**
 * `.netrc`: `machine HOST login USER password SECRET` in any layout. The password and account
 * are also shown to the detector as `password = …`, which is how a generic secret is known.
 */
export function parseNetrc(data: Buffer): ParsedConfig {
  const index = new ValueIndex();
  const views: ConfigView[] = [];
  const text = data.toString('latin1');
  const tokens: { value: string; start: number }[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) tokens.push({ value: m[1] ?? m[2], start: m.index });
  let machine = 'default';
  let error: string | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i].value;
    if (t === 'machine') {
      machine = tokens[++i]?.value ?? '';
      if (!machine) error = 'not valid netrc: "machine" without a host name';
    } else if (t === 'default') machine = 'default';
    else if (t === 'macdef') {
      // A macro runs to the next empty line: skip its body.
      const end = text.indexOf('\n\n', tokens[i].start);
      while (i + 1 < tokens.length && (end === -1 || tokens[i + 1].start < end)) i++;
    } else if (t === 'login' || t === 'password' || t === 'account') {
      const value = tokens[++i];
      if (!value) {
        error = `not valid netrc: "${t}" without a value`;
        break;
      }
      const path = formatKeyPath([machine, t]);
      index.add(value.start, value.start + value.value.length, path);
      if (t !== 'login') views.push({ keyPath: path, offset: value.start, text: `password = ${value.value}\n` });
    }
  }
  return { keyPathAt: (offset) => index.at(offset), views, ...(error ? { error } : {}) };
}

/** git-credentials: one URL a line; the key path is the URL without its password. */
export function parseGitCredentials(data: Buffer): ParsedConfig {
  const index = new ValueIndex();
  let at = 0;
  let error: string | undefined;
  let lineNo = 0;
  for (const line of data.toString('latin1').split('\n')) {
    lineNo++;
    const m = /^\s*([a-z][a-z0-9+.-]*:\/\/)([^:@/\s]*)(?::[^@\s]*)?@(\S+)$/i.exec(line);
    if (m) index.add(at, at + line.length, `${m[1]}${m[2]}@${m[3]}`);
    else if (line.trim() !== '' && !line.trim().startsWith('#')) error ??= `not valid git-credentials: line ${lineNo} is not a URL with credentials`;
    at += line.length + 1;
  }
  return { keyPathAt: (offset) => index.at(offset), views: [], ...(error ? { error } : {}) };
}

/** Shell histories, private keys: the raw text is all there is. */
export function parsePlain(): ParsedConfig {
  return { keyPathAt: () => undefined, views: [] };
}
