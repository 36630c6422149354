import { closeSync, createReadStream, fstatSync, openSync, readSync } from 'node:fs';
import { posix } from 'node:path';
import { TarError, TarParser, type TarEntry } from '../tar.js';
import type { LayerSource } from './source.js';
import { ImageError, MAX_JSON_BLOB, checkDigest, type BlobStore } from './store.js';

interface Member {
  offset: number;
  size: number;
  entry: TarEntry;
}

/**
 * An uncompressed tar on disk read in place: headers are indexed once (seeking over content),
 * then a member is a byte range of the file. Serves OCI archives (an OCI layout in a tar) and
 * docker archives (`docker save`: `manifest.json`, configs, layer tars, legacy symlinks).
 */
export class TarFile {
  private readonly members = new Map<string, Member>();

  private constructor(
    readonly path: string,
    readonly name: string,
  ) {}

  static open(path: string, name: string): TarFile {
    const tar = new TarFile(path, name);
    tar.index();
    return tar;
  }

  private index(): void {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      throw new ImageError(`${this.name}: cannot read the archive`);
    }
    try {
      const size = fstatSync(fd).size;
      const header = Buffer.alloc(512);
      let at = 0;
      let current: TarEntry | undefined;
      let bodyStart = 0;
      const parser = new TarParser({
        entry: (e) => {
          current = e;
        },
        data: () => {},
        end: () => {},
      });
      // Feed headers only: the parser is told about a body by its size, which we skip.
      while (at + 512 <= size && !parser.ended) {
        readSync(fd, header, 0, 512, at);
        at += 512;
        current = undefined;
        parser.push(header);
        if (current) {
          const entry: TarEntry = current;
          bodyStart = at;
          this.members.set(entry.path.replace(/\/$/, ''), { offset: bodyStart, size: entry.size, entry });
          at += Math.ceil(entry.size / 512) * 512;
          if (at > size) throw new ImageError(`${this.name}: truncated archive (${entry.path} ends past the end of the file)`);
          parser.skipBody();
        } else {
          // A metadata record (pax, long name): hand its body to the parser.
          const rest = metaSize(header);
          if (rest > 0) {
            const body = Buffer.alloc(Math.ceil(rest / 512) * 512);
            readSync(fd, body, 0, body.length, at);
            at += body.length;
            parser.push(body);
          }
        }
      }
    } catch (error) {
      if (error instanceof ImageError) throw error;
      if (error instanceof TarError) throw new ImageError(`${this.name}: ${error.message}`);
      throw new ImageError(`${this.name}: cannot read the archive`);
    } finally {
      closeSync(fd);
    }
  }

  /** A member by path, following symbolic and hard links inside the archive. */
  member(path: string, depth = 0): Member | undefined {
    const m = this.members.get(posix.normalize(path).replace(/^\.\//, '').replace(/\/$/, ''));
    if (!m || depth > 8) return undefined;
    if ((m.entry.type === 'symlink' || m.entry.type === 'hardlink') && m.entry.linkname) {
      const target = m.entry.type === 'symlink' ? posix.join(posix.dirname(path), m.entry.linkname) : m.entry.linkname;
      return this.member(target, depth + 1);
    }
    return m.entry.type === 'file' ? m : undefined;
  }

  has(path: string): boolean {
    return this.member(path) !== undefined;
  }

  read(path: string, maxSize = MAX_JSON_BLOB): Buffer {
    const m = this.member(path);
    if (!m) throw new ImageError(`${path} is missing from ${this.name}`);
    if (m.size > maxSize) throw new ImageError(`${path} in ${this.name} is ${m.size} bytes, too large for a manifest or config`);
    const fd = openSync(this.path, 'r');
    try {
      const out = Buffer.alloc(m.size);
      readSync(fd, out, 0, m.size, m.offset);
      return out;
    } finally {
      closeSync(fd);
    }
  }

  /** A member as a layer source (a byte range of the archive). */
  source(path: string, missing: string): LayerSource {
    const m = this.member(path);
    return m ? { kind: 'file', path: this.path, start: m.offset, size: m.size, missing } : { kind: 'missing', message: missing };
  }

  stream(path: string): { stream: AsyncIterable<Buffer>; size: number } {
    const m = this.member(path);
    if (!m) throw new ImageError(`${path} is missing from ${this.name}`);
    const stream = m.size === 0 ? empty() : createReadStream(this.path, { start: m.offset, end: m.offset + m.size - 1, highWaterMark: 1024 * 1024 });
    return { stream, size: m.size };
  }
}

async function* empty(): AsyncGenerator<Buffer> {}

function metaSize(header: Buffer): number {
  const flag = String.fromCharCode(header[156]);
  if (!'xgLK'.includes(flag) || flag === '') return 0;
  const text = header
    .toString('latin1', 124, 136)
    .replace(/[\0 ]+$/, '')
    .trim();
  return /^[0-7]+$/.test(text) ? parseInt(text, 8) : 0;
}

/** An OCI layout inside a tar (`skopeo copy … oci-archive:`). */
export class TarLayoutStore implements BlobStore {
  constructor(
    private readonly tar: TarFile,
    readonly name: string,
  ) {}

  index(): Buffer {
    return this.tar.read('index.json');
  }

  private path(digest: string): string {
    const [alg, hex] = checkDigest(digest, 'a descriptor').split(':');
    return `blobs/${alg}/${hex}`;
  }

  async readBlob(digest: string, maxSize?: number): Promise<Buffer> {
    if (!this.tar.has(this.path(digest))) throw new ImageError(`blob ${digest} is missing from the archive`);
    return this.tar.read(this.path(digest), maxSize);
  }

  layerSource(digest: string): LayerSource {
    return this.tar.source(this.path(digest), `blob ${digest} is missing from the archive`);
  }

  async openBlob(digest: string): Promise<AsyncIterable<Buffer>> {
    if (!this.tar.has(this.path(digest))) throw new ImageError(`blob ${digest} is missing from the archive`);
    return this.tar.stream(this.path(digest)).stream;
  }
}
