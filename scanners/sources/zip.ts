import { inflateRawSync } from 'node:zlib';

/**
 * A zip reader over random access (a file descriptor or a buffer): the central directory is
 * read first, so every size is known, and checked, before anything is inflated. Stored and
 * deflated entries, zip64; encrypted entries are listed but not read.
 */

export interface RandomAccess {
  size: number;
  read(position: number, length: number): Buffer;
}

export interface ZipEntry {
  name: string;
  method: number;
  encrypted: boolean;
  directory: boolean;
  compressedSize: number;
  size: number;
  /** Offset of the local file header. */
  headerOffset: number;
}

export class ZipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ZipError';
  }
}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const MAX_COMMENT = 0xffff;

export function bufferAccess(data: Buffer): RandomAccess {
  return { size: data.length, read: (position, length) => data.subarray(position, Math.min(data.length, position + length)) };
}

/** Reads the central directory. Throws ZipError when the archive is not a readable zip. */
export function readZipDirectory(ra: RandomAccess, maxEntries: number): ZipEntry[] {
  const tailLength = Math.min(ra.size, 22 + MAX_COMMENT);
  const tail = ra.read(ra.size - tailLength, tailLength);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd === -1) throw new ZipError('not a zip archive or truncated: no end of central directory');
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdOffset === 0xffffffff || cdSize === 0xffffffff) {
    const locatorAt = ra.size - tailLength + eocd - 20;
    const locator = locatorAt >= 0 ? ra.read(locatorAt, 20) : Buffer.alloc(0);
    if (locator.length === 20 && locator.readUInt32LE(0) === EOCD64_LOCATOR) {
      const record = ra.read(Number(locator.readBigUInt64LE(8)), 56);
      if (record.length < 56 || record.readUInt32LE(0) !== EOCD64) throw new ZipError('corrupt zip64 end of central directory');
      count = Number(record.readBigUInt64LE(32));
      cdSize = Number(record.readBigUInt64LE(40));
      cdOffset = Number(record.readBigUInt64LE(48));
    }
  }
  if (count > maxEntries) throw new ZipError(`${count} entries, more than the limit of ${maxEntries}: refused`);
  if (cdOffset + cdSize > ra.size) throw new ZipError('truncated zip: the central directory lies past the end of the file');
  const cd = ra.read(cdOffset, cdSize);
  const entries: ZipEntry[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 46 > cd.length || cd.readUInt32LE(at) !== CENTRAL) throw new ZipError(`corrupt zip: central directory entry ${i + 1} is damaged`);
    const flags = cd.readUInt16LE(at + 8);
    const method = cd.readUInt16LE(at + 10);
    let compressedSize = cd.readUInt32LE(at + 20);
    let size = cd.readUInt32LE(at + 24);
    const nameLength = cd.readUInt16LE(at + 28);
    const extraLength = cd.readUInt16LE(at + 30);
    const commentLength = cd.readUInt16LE(at + 32);
    let headerOffset = cd.readUInt32LE(at + 42);
    const name = cd.toString(flags & 0x800 ? 'utf8' : 'latin1', at + 46, at + 46 + nameLength);
    // zip64 extra field: the 0xffffffff fields, in order.
    let extra = at + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = cd.readUInt16LE(extra);
      const length = cd.readUInt16LE(extra + 2);
      if (id === 0x0001) {
        let p = extra + 4;
        if (size === 0xffffffff && p + 8 <= extra + 4 + length) ((size = Number(cd.readBigUInt64LE(p))), (p += 8));
        if (compressedSize === 0xffffffff && p + 8 <= extra + 4 + length) ((compressedSize = Number(cd.readBigUInt64LE(p))), (p += 8));
        if (headerOffset === 0xffffffff && p + 8 <= extra + 4 + length) headerOffset = Number(cd.readBigUInt64LE(p));
      }
      extra += 4 + length;
    }
    entries.push({ name, method, encrypted: (flags & 1) === 1, directory: name.endsWith('/'), compressedSize, size, headerOffset });
    at = extraEnd + commentLength;
  }
  return entries;
}

/** Where an entry's data starts (after its local header). */
export function dataOffset(ra: RandomAccess, entry: ZipEntry): number {
  const header = ra.read(entry.headerOffset, 30);
  if (header.length < 30 || header.readUInt32LE(0) !== LOCAL) throw new ZipError(`corrupt zip: ${entry.name} has no local header`);
  return entry.headerOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
}

/**
 * Entries whose data ranges overlap are how non-recursive zip bombs multiply one compressed
 * stream into many files: such an archive is refused. Returns the name of an overlapping entry.
 */
export function overlappingEntry(ra: RandomAccess, entries: ZipEntry[]): string | undefined {
  const ranges = entries
    .filter((e) => !e.directory && e.compressedSize > 0)
    .map((e) => ({ name: e.name, start: e.headerOffset, end: dataOffset(ra, e) + e.compressedSize }))
    .sort((a, b) => a.start - b.start);
  for (let i = 1; i < ranges.length; i++) if (ranges[i].start < ranges[i - 1].end) return ranges[i].name;
  return undefined;
}

/** Inflates one entry; never more than its declared size, so a lying header cannot blow up. */
export function readZipEntry(ra: RandomAccess, entry: ZipEntry): Buffer {
  const start = dataOffset(ra, entry);
  if (start + entry.compressedSize > ra.size) throw new ZipError(`truncated zip: ${entry.name} ends past the end of the file`);
  const raw = ra.read(start, entry.compressedSize);
  if (entry.method === 0) return raw;
  if (entry.method !== 8) throw new ZipError(`${entry.name}: compression method ${entry.method} is not supported`);
  try {
    const out = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size) });
    if (out.length !== entry.size) throw new ZipError(`${entry.name}: inflates to ${out.length} bytes, not the ${entry.size} it declares`);
    return out;
  } catch (error) {
    if (error instanceof ZipError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new ZipError(`${entry.name}: inflates to more than the ${entry.size} bytes it declares: refused`);
    throw new ZipError(`${entry.name}: corrupt deflate data`);
  }
}
