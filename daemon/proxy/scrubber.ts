import { Transform, type TransformCallback } from 'node:stream';

/**
 * Keeps the key out of what an upstream answers: an API that echoes the key (an error page
 * quoting the Authorization header, a debug endpoint) must not hand it to the agent, in any of
 * the encodings a response commonly carries: verbatim, base64 (standard and URL-safe, at every
 * alignment, as inside a Basic header or a JSON blob), percent-encoded and hex.
 */

/** Shortest encoded form worth looking for: shorter ones would match ordinary text. */
const MIN_FORM = 8;

/**
 * The characters of `base64(prefix + key)` that depend on the key's bytes alone, for each of the
 * three alignments a key can have inside a longer base64 text.
 */
function base64Forms(key: Buffer): string[] {
  const forms: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    const text = Buffer.concat([Buffer.alloc(offset), key])
      .toString('base64')
      .replace(/=+$/, '');
    const first = Math.ceil((8 * offset) / 6);
    const end = Math.floor((8 * (offset + key.length)) / 6);
    forms.push(text.slice(first, end));
  }
  return forms;
}

/** Every form of the key the scrubber replaces, longest first (so a longer form wins over its part). */
export function keyForms(key: string): Buffer[] {
  const raw = Buffer.from(key, 'utf8');
  const forms = new Set<string>([key]);
  for (const b64 of base64Forms(raw)) {
    forms.add(b64);
    forms.add(b64.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  const everyByte = [...raw].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  forms.add(encodeURIComponent(key));
  forms.add(everyByte);
  forms.add(everyByte.toUpperCase());
  forms.add(raw.toString('hex'));
  forms.add(raw.toString('hex').toUpperCase());
  return [...forms]
    .filter((f) => f === key || f.length >= MIN_FORM)
    .sort((a, b) => b.length - a.length)
    .map((f) => Buffer.from(f, 'utf8'));
}

/**
 * Replaces every occurrence of any form of the key in a response stream, holding back only the
 * tail that could be the start of one (it may complete in the next chunk).
 */
export class KeyScrubber extends Transform {
  private held = Buffer.alloc(0);
  private readonly forms: Buffer[];
  private readonly placeholder: Buffer;

  constructor(key: string, placeholder: string) {
    super();
    this.forms = keyForms(key);
    this.placeholder = Buffer.from(placeholder);
  }

  /** The earliest match at or after `from` (the longest form where two start at once). */
  private next(data: Buffer, from: number): { at: number; length: number } | undefined {
    let best: { at: number; length: number } | undefined;
    for (const form of this.forms) {
      const i = data.indexOf(form, from);
      if (i !== -1 && (!best || i < best.at)) best = { at: i, length: form.length };
    }
    return best;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let data = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    const parts: Buffer[] = [];
    let at = 0;
    for (let m = this.next(data, 0); m; m = this.next(data, at)) {
      parts.push(data.subarray(at, m.at), this.placeholder);
      at = m.at + m.length;
    }
    data = data.subarray(at);
    let keep = 0;
    for (const form of this.forms) {
      for (let n = Math.min(form.length - 1, data.length); n > keep; n--) {
        if (data.subarray(data.length - n).equals(form.subarray(0, n))) {
          keep = n;
          break;
        }
      }
    }
    parts.push(data.subarray(0, data.length - keep));
    this.held = Buffer.from(data.subarray(data.length - keep));
    const out = Buffer.concat(parts);
    if (out.length) this.push(out);
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.held.length) this.push(this.held);
    done();
  }

  /** A header value with every form of the key replaced. */
  header(value: string | string[] | number): string | string[] | number {
    const mask = this.placeholder.toString('utf8');
    const scrub = (v: string) => this.forms.reduce((s, f) => (s.includes(f.toString('utf8')) ? s.split(f.toString('utf8')).join(mask) : s), v);
    if (typeof value === 'string') return scrub(value);
    if (Array.isArray(value)) return value.map(scrub);
    return value;
  }
}
