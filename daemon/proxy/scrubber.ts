import { Transform, type TransformCallback } from 'node:stream';

/**
 * Replaces every occurrence of the key in a response stream, holding back only the tail that
 * could be the start of one (it may complete in the next chunk).
 */
export class KeyScrubber extends Transform {
  private held = Buffer.alloc(0);
  private readonly key: Buffer;
  private readonly placeholder: Buffer;

  constructor(key: string, placeholder: string) {
    super();
    this.key = Buffer.from(key);
    this.placeholder = Buffer.from(placeholder);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let data = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    const parts: Buffer[] = [];
    let at = 0;
    for (let i = data.indexOf(this.key); i !== -1; i = data.indexOf(this.key, at)) {
      parts.push(data.subarray(at, i), this.placeholder);
      at = i + this.key.length;
    }
    data = data.subarray(at);
    let keep = 0;
    for (let n = Math.min(this.key.length - 1, data.length); n > 0; n--) {
      if (data.subarray(data.length - n).equals(this.key.subarray(0, n))) {
        keep = n;
        break;
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
}

/** A header value with every copy of the key replaced. */
export function scrubHeader(value: string | string[] | number, key: string, mask: string): string | string[] | number {
  if (typeof value === 'string') return value.includes(key) ? value.split(key).join(mask) : value;
  if (Array.isArray(value)) return value.map((v) => v.split(key).join(mask));
  return value;
}
