/**
 * Encoded segments: runs of base64 and percent-encoding that may hide a secret. Pure: bytes in,
 * decoded segments out; the detector rescans what they decode to.
 *
 * Cost matters because every chunk of every scan goes through here: candidate runs are found on
 * the raw bytes with a skip search (see `base64Runs`), and nothing is turned into a string before
 * a run qualifies.
 */

/**
 * Shortest base64 run worth decoding: 24 bytes of decoded text, room for a name and a short key.
 * It is also how far the search skips, so it sets the cost: 24 measured 35% slower than 32 on code.
 */
export const MIN_BASE64_RUN = 32;
/** Shortest percent-encoded run worth decoding. */
export const MIN_PERCENT_RUN = 10;
/** Longer runs are left alone (embedded images, fonts, source maps). */
export const MAX_ENCODED_RUN = 256 * 1024;
/** Share of printable bytes a decoded run needs to be rescanned: binary data is not text to search. */
const MIN_PRINTABLE = 0.9;

export type Encoding = 'base64' | 'percent';

export interface EncodedSegment {
  /** Byte range of the encoded text within the input. */
  start: number;
  end: number;
  encoding: Encoding;
  /** The decoded bytes (mostly printable text). */
  data: Buffer;
}

const BASE64 = new Uint8Array(256);
const HEX = new Uint8Array(256);
const URL_CHAR = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9+/_-]/.test(ch)) BASE64[c] = 1;
  if (/[0-9A-Fa-f]/.test(ch)) HEX[c] = 1;
  if (/[A-Za-z0-9\-._~:/?#[\]@!$&()*+,;=%]/.test(ch)) URL_CHAR[c] = 1;
}
const EQUALS = 0x3d;
const PERCENT = 0x25;

/** Base64 and percent-encoded runs of `data` whose decoded form is mostly printable text. */
export function encodedSegments(data: Uint8Array): EncodedSegment[] {
  const out: EncodedSegment[] = [];
  base64Runs(data, out);
  percentRuns(data, out);
  if (out.length > 1) out.sort((a, b) => a.start - b.start);
  return out;
}

/**
 * Runs of at least `MIN_BASE64_RUN` base64 characters, found like Boyer-Moore finds a word:
 * check a window of that length from its end backwards; the first byte outside the alphabet
 * moves the window past it, so text made of short words costs a few lookups per window.
 */
function base64Runs(data: Uint8Array, out: EncodedSegment[]): void {
  const n = data.length;
  const width = MIN_BASE64_RUN;
  let i = 0; // where a run could start: data[i - 1] is outside the alphabet (or i = 0)
  let known = 0; // data[i, known) is known to be in the alphabet
  while (i + width <= n) {
    let k = i + width - 1;
    const stop = known > i ? known : i;
    while (k >= stop && BASE64[data[k]] === 1) k--;
    if (k >= stop) {
      known = i + width;
      i = k + 1;
      continue;
    }
    let r = i + width;
    while (r < n && BASE64[data[r]] === 1) r++;
    if (r - i <= MAX_ENCODED_RUN) {
      let end = r;
      while (end < n && end - r < 2 && data[end] === EQUALS) end++;
      const segment = decodeBase64Run(data, i, r, end);
      if (segment) out.push(segment);
    }
    i = r + 1;
    known = i;
  }
}

/** Decodes one run when it looks like base64 of text; undefined otherwise. */
function decodeBase64Run(data: Uint8Array, start: number, runEnd: number, end: number): EncodedSegment | undefined {
  // Base64 of text mixes cases; all-hex runs are digests and ids, and single-case runs are
  // identifiers or paths.
  let upper = false;
  let lower = false;
  let nonHex = false;
  for (let k = start; k < runEnd; k++) {
    const c = data[k];
    if (c >= 0x41 && c <= 0x5a) upper = true;
    else if (c >= 0x61 && c <= 0x7a) lower = true;
    if (HEX[c] === 0) nonHex = true;
    if (upper && lower && nonHex) break;
  }
  if (!upper || !lower || !nonHex) return undefined;
  if ((runEnd - start) % 4 === 1) return undefined;
  const decoded = Buffer.from(Buffer.from(data.buffer, data.byteOffset + start, runEnd - start).toString('latin1'), 'base64');
  if (decoded.length < 12 || !mostlyPrintable(decoded)) return undefined;
  return { start, end, encoding: 'base64', data: decoded };
}

function percentRuns(data: Uint8Array, out: EncodedSegment[]): void {
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const n = data.length;
  let from = 0;
  for (;;) {
    const at = buffer.indexOf(PERCENT, from);
    if (at === -1 || at + 2 >= n) return;
    if (HEX[data[at + 1]] === 0 || HEX[data[at + 2]] === 0) {
      from = at + 1;
      continue;
    }
    let l = at;
    while (l > 0 && URL_CHAR[data[l - 1]] === 1 && at - l < MAX_ENCODED_RUN) l--;
    let r = at + 3;
    while (r < n && URL_CHAR[data[r]] === 1 && r - at < MAX_ENCODED_RUN) r++;
    from = r;
    if (r - l < MIN_PERCENT_RUN) continue;
    const decoded = percentDecode(data, l, r);
    if (mostlyPrintable(decoded)) out.push({ start: l, end: r, encoding: 'percent', data: decoded });
  }
}

function percentDecode(data: Uint8Array, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  let o = 0;
  for (let k = start; k < end; k++) {
    const c = data[k];
    if (c === PERCENT && k + 2 < end && HEX[data[k + 1]] === 1 && HEX[data[k + 2]] === 1) {
      out[o++] = (hexValue(data[k + 1]) << 4) | hexValue(data[k + 2]);
      k += 2;
    } else out[o++] = c;
  }
  return out.subarray(0, o);
}

function hexValue(c: number): number {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
}

/**
 * At least 90% printable ASCII (tabs and newlines included) and no NUL. Random bytes are about
 * 37% printable; secrets are ASCII, so text around them that is not would not matter.
 */
export function mostlyPrintable(data: Uint8Array): boolean {
  let printable = 0;
  for (let k = 0; k < data.length; k++) {
    const c = data[k];
    if (c === 0) return false;
    if ((c >= 0x20 && c < 0x7f) || c === 9 || c === 10 || c === 13) printable++;
  }
  return printable >= data.length * MIN_PRINTABLE;
}
