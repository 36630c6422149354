/**
 * A push-based tar reader: bytes in (any chunking), entries out, synchronously. The same code
 * reads an image layer streamed from a registry and a small archive held in memory, and never
 * buffers more than one header. Reads ustar, GNU long names and pax headers (path, linkpath,
 * size), which is what `tar`, `docker`, `umoci` and `skopeo` write.
 */

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface TarEntry {
  path: string;
  type: TarEntryType;
  size: number;
  linkname?: string;
}

export interface TarHandlers {
  /** A new entry; its content follows through `data`, then `end`. */
  entry(entry: TarEntry): void;
  data(chunk: Buffer): void;
  end(): void;
}

export class TarError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TarError';
  }
}

const BLOCK = 512;
/** pax and GNU long-name records larger than this are not names: refuse rather than buffer them. */
const MAX_META = 1024 * 1024;

type State = 'header' | 'data' | 'padding' | 'meta' | 'done';

export class TarParser {
  private state: State = 'header';
  private header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private remaining = 0;
  private padding = 0;
  private zeroBlocks = 0;
  /** Bytes consumed so far (for messages). */
  private position = 0;
  private meta: { kind: 'pax' | 'longname' | 'longlink' | 'skip'; parts: Buffer[]; size: number } | undefined;
  private pending: { path?: string; linkpath?: string; size?: number } = {};
  /** An extended header (pax, long name) was read and its entry's header not yet. */
  private described = false;
  private current: TarEntry | undefined;
  /** Entries seen, for the caller's limits. */
  entries = 0;

  constructor(private readonly handlers: TarHandlers) {}

  /** True once the end-of-archive marker was read. */
  get ended(): boolean {
    return this.state === 'done';
  }

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      switch (this.state) {
        case 'done':
          return;
        case 'header': {
          const take = Math.min(BLOCK - this.headerFill, chunk.length - at);
          chunk.copy(this.header, this.headerFill, at, at + take);
          this.headerFill += take;
          at += take;
          this.position += take;
          if (this.headerFill === BLOCK) {
            this.headerFill = 0;
            this.onHeader();
          }
          break;
        }
        case 'data':
        case 'meta': {
          const take = Math.min(this.remaining, chunk.length - at);
          const part = chunk.subarray(at, at + take);
          if (this.state === 'data') this.handlers.data(part);
          else if (this.meta!.kind !== 'skip') this.meta!.parts.push(Buffer.from(part));
          at += take;
          this.position += take;
          this.remaining -= take;
          if (this.remaining === 0) this.finishBody();
          break;
        }
        case 'padding': {
          const take = Math.min(this.padding, chunk.length - at);
          at += take;
          this.position += take;
          this.padding -= take;
          if (this.padding === 0) this.state = 'header';
          break;
        }
      }
    }
  }

  /**
   * Moves past the current entry's content and padding without being given them: for a tar on
   * disk read in place, where content is a byte range to seek over.
   */
  skipBody(): void {
    if (this.state !== 'data') return;
    this.position += this.remaining + this.padding;
    this.remaining = 0;
    this.padding = 0;
    this.finishBody();
    this.state = 'header';
  }

  /** The input is over: an archive cut inside an entry is an error. */
  finish(): void {
    // Cut inside an entry, its padding, or between an extended (pax, long name) header and the
    // entry it describes.
    if (this.state === 'data' || this.state === 'meta' || this.state === 'padding' || (this.state === 'header' && (this.headerFill > 0 || this.described))) {
      const what = this.current ? `in the middle of ${this.current.path}` : `at byte ${this.position}`;
      throw new TarError(`truncated tar: it ends ${what}`);
    }
  }

  private onHeader(): void {
    const h = this.header;
    if (isZero(h)) {
      if (++this.zeroBlocks === 2) this.state = 'done';
      return;
    }
    if (this.zeroBlocks > 0) this.zeroBlocks = 0;
    if (!checksumOk(h)) throw new TarError(`not a tar archive or corrupt: bad header checksum at byte ${this.position - BLOCK}`);
    this.entries++;
    const flag = String.fromCharCode(h[156] || 0x30);
    const size = this.pending.size ?? readNumber(h, 124, 12);
    if (size < 0) throw new TarError(`corrupt tar header at byte ${this.position - BLOCK}: bad size`);
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_META) throw new TarError(`corrupt tar: a ${size}-byte metadata record at byte ${this.position - BLOCK}`);
      const kind = flag === 'x' ? 'pax' : flag === 'L' ? 'longname' : flag === 'K' ? 'longlink' : 'skip';
      this.meta = { kind, parts: [], size };
      if (kind !== 'skip') this.described = true;
      this.startBody('meta', size);
      return;
    }
    const magic = h.toString('latin1', 257, 262);
    let name = cString(h, 0, 100);
    const prefix = magic === 'ustar' ? cString(h, 345, 155) : '';
    if (prefix) name = `${prefix}/${name}`;
    const type: TarEntryType = flag === '0' || flag === '7' || flag === '\0' ? 'file' : flag === '5' ? 'directory' : flag === '2' ? 'symlink' : flag === '1' ? 'hardlink' : 'other';
    const path = normalize(this.pending.path ?? name);
    const linkname = this.pending.linkpath ?? (type === 'symlink' || type === 'hardlink' ? cString(h, 157, 100) : undefined);
    this.pending = {};
    this.described = false;
    // Directories, links and devices carry no content worth reading, whatever size they claim.
    const body = type === 'file' || type === 'other' ? size : 0;
    this.current = { path, type: type === 'file' && path.endsWith('/') ? 'directory' : type, size: body, ...(linkname ? { linkname } : {}) };
    this.handlers.entry(this.current);
    this.startBody('data', body);
  }

  private startBody(state: 'data' | 'meta', size: number): void {
    this.remaining = size;
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
    this.state = state;
    if (size === 0) this.finishBody();
  }

  private finishBody(): void {
    if (this.state === 'data') {
      this.handlers.end();
      this.current = undefined;
    } else if (this.meta) {
      const text = Buffer.concat(this.meta.parts);
      if (this.meta.kind === 'longname') this.pending.path = cString(text, 0, text.length);
      else if (this.meta.kind === 'longlink') this.pending.linkpath = cString(text, 0, text.length);
      else if (this.meta.kind === 'pax') Object.assign(this.pending, parsePax(text));
      this.meta = undefined;
    }
    this.state = this.padding > 0 ? 'padding' : 'header';
  }
}

function isZero(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

function checksumOk(h: Buffer): boolean {
  const stored = readNumber(h, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
  return stored === sum;
}

/** Octal, NUL- or space-terminated; or GNU base-256 when the high bit of the first byte is set. */
function readNumber(h: Buffer, offset: number, length: number): number {
  if (h[offset] & 0x80) {
    let value = h[offset] & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + h[offset + i];
    return value;
  }
  const text = h
    .toString('latin1', offset, offset + length)
    .replace(/[\0 ]+$/, '')
    .trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return -1;
  return parseInt(text, 8);
}

function cString(b: Buffer, offset: number, length: number): string {
  const end = b.indexOf(0, offset);
  return b.toString('utf8', offset, end === -1 || end > offset + length ? offset + length : end);
}

function normalize(path: string): string {
  let p = path;
  while (p.startsWith('./')) p = p.slice(2);
  while (p.startsWith('/')) p = p.slice(1);
  return p;
}

/** pax records: "LEN key=value\n". */
function parsePax(text: Buffer): { path?: string; linkpath?: string; size?: number } {
  const out: { path?: string; linkpath?: string; size?: number } = {};
  let at = 0;
  while (at < text.length) {
    const space = text.indexOf(0x20, at);
    if (space === -1) break;
    const length = Number(text.toString('latin1', at, space));
    if (!Number.isInteger(length) || length <= 0 || at + length > text.length) break;
    const record = text.toString('utf8', space + 1, at + length - 1);
    const eq = record.indexOf('=');
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    if (key === 'path') out.path = value;
    else if (key === 'linkpath') out.linkpath = value;
    else if (key === 'size' && /^\d+$/.test(value)) out.size = Number(value);
    at += length;
  }
  return out;
}

/** True when a buffer starts like a tar archive (ustar or GNU magic at byte 257, valid checksum). */
export function looksLikeTar(head: Uint8Array): boolean {
  if (head.length < BLOCK) return false;
  const h = Buffer.from(head.buffer, head.byteOffset, BLOCK);
  const magic = h.toString('latin1', 257, 262);
  return magic === 'ustar' && checksumOk(h);
}
