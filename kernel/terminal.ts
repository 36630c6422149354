/**
 * Text that came from somewhere keyward does not control (an agent's task, a request header, a
 * file name, a commit author, an image's history, a rule description) must not steer the
 * terminal it is printed on. `safeText` escapes every C0 and C1 control character, DEL and the
 * Unicode line and bidirectional-override characters, so that an escape sequence shows as text
 * instead of moving the cursor, rewriting lines above it or hiding what follows.
 */

// C0 controls, DEL, C1 controls, line/paragraph separators and bidi overrides/isolates.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

function escapeOne(ch: string): string {
  const named = NAMED[ch];
  if (named) return named;
  const code = ch.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `s` with every control character shown as an escape (`\e`, `\n`, `\x07`, `\u202e`). */
export function safeText(s: string): string {
  return s.replace(UNSAFE, escapeOne);
}

/** Like `safeText`, for text laid out over several lines: newlines and tabs are kept. */
export function safeMultiline(s: string): string {
  return s.replace(UNSAFE, (ch) => (ch === '\n' || ch === '\t' ? ch : escapeOne(ch)));
}

/** True when `s` holds a character `safeText` would escape. */
export function hasControl(s: string): boolean {
  UNSAFE.lastIndex = 0;
  const found = UNSAFE.test(s);
  UNSAFE.lastIndex = 0;
  return found;
}

/**
 * A copy of `value` with `safeText` applied to every string in it (object keys included), for
 * data from the daemon that a screen shows field by field (`keyward approve`'s feed).
 */
export function safeStrings<T>(value: T): T {
  if (typeof value === 'string') return safeText(value) as T;
  if (Array.isArray(value)) return value.map((v) => safeStrings(v)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [safeText(k), safeStrings(v)])) as T;
  }
  return value;
}
