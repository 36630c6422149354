import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { Match } from '../types.js';
import type { Detector } from '../detect/detector.js';

/** Files are read in blocks of this size; memory per file stays bounded whatever its size. */
export const BLOCK_SIZE = 4 * 1024 * 1024;
/** Consecutive blocks overlap by this much, so a secret straddling a boundary is seen whole. */
export const BLOCK_OVERLAP = 64 * 1024;
/** Bytes of preceding context each block after the first re-reads. */
const BLOCK_CONTEXT = 4096;
/** How much of the start of a file decides whether it is binary. */
const SNIFF = 8000;

export type SkipReason = 'binary' | 'tooLarge' | 'unreadable' | 'notFile';

export interface FileScan {
  matches: Match[];
  bytes: number;
  skipped?: SkipReason;
  /** Why the file could not be read, for the report. */
  error?: string;
}

/** UTF-16 with a byte-order mark is text: convert it so the detector sees UTF-8. */
function decodeUtf16(data: Buffer): Buffer | undefined {
  if (data.length >= 2 && data[0] === 0xff && data[1] === 0xfe) return Buffer.from(data.subarray(2).toString('utf16le'), 'utf8');
  if (data.length >= 2 && data[0] === 0xfe && data[1] === 0xff) {
    const swapped = Buffer.from(data.subarray(2));
    swapped.swap16();
    return Buffer.from(swapped.toString('utf16le'), 'utf8');
  }
  return undefined;
}

/** Binary content has a NUL byte in its first 8000 bytes, the same test git uses. */
export function looksBinary(data: Buffer): boolean {
  return data.subarray(0, SNIFF).indexOf(0) !== -1;
}

/** Scans an in-memory buffer (a whole small file, stdin, an archive member). */
export function scanBuffer(detector: Detector, path: string, data: Buffer): FileScan {
  const utf16 = decodeUtf16(data);
  if (utf16) return { matches: detector.detect({ path, data: utf16 }), bytes: data.length };
  if (looksBinary(data)) return { matches: [], bytes: data.length, skipped: 'binary' };
  if (data.length <= BLOCK_SIZE) return { matches: detector.detect({ path, data }), bytes: data.length };
  return { matches: scanBlocks(detector, path, data.length, (buf, at) => data.copy(buf, 0, at, at + buf.length)), bytes: data.length };
}

/**
 * Scans a large input block by block. Each block reports the matches whose secret starts in
 * [reportFrom, its end - BLOCK_OVERLAP); the next block starts `BLOCK_CONTEXT` bytes before that
 * point so that a keyword just before the boundary is still seen with its secret.
 */
function scanBlocks(detector: Detector, path: string, size: number, read: (into: Buffer, at: number) => number): Match[] {
  const matches: Match[] = [];
  const buffer = Buffer.allocUnsafe(BLOCK_SIZE);
  let start = 0;
  let reportFrom = 0;
  let firstLine = 1;
  // Bytes between the last newline before this block and its start: a block that begins
  // mid-line adds them to the columns of its first line.
  let carry = 0;
  for (;;) {
    const length = read(buffer.subarray(0, Math.min(BLOCK_SIZE, size - start)), start);
    const block = buffer.subarray(0, length);
    const last = start + length >= size || length === 0;
    const reportUntil = last ? start + length : start + length - BLOCK_OVERLAP;
    for (const m of detector.detect({ path, data: block, firstLine })) {
      const offset = m.offset + start;
      if (offset >= reportFrom && offset < reportUntil) matches.push({ ...m, offset, column: m.line === firstLine ? m.column + carry : m.column });
    }
    if (last) break;
    // Start the next block on a character boundary, so that no character is split in two.
    let next = reportUntil - BLOCK_CONTEXT;
    while (next > start && (block[next - start] & 0xc0) === 0x80) next--;
    const advanced = next - start;
    // Columns count characters: decode what the next block skips of its first line.
    const lastNewline = block.subarray(0, advanced).lastIndexOf(10);
    carry = lastNewline === -1 ? carry + block.toString('utf8', 0, advanced).length : block.toString('utf8', lastNewline + 1, advanced).length;
    firstLine += countNewlines(block, advanced);
    start = next;
    reportFrom = reportUntil;
  }
  return matches;
}

function countNewlines(data: Buffer, end: number): number {
  let n = 0;
  let at = data.indexOf(10);
  while (at !== -1 && at < end) {
    n++;
    at = data.indexOf(10, at + 1);
  }
  return n;
}

/** Small files are read into this buffer, reused for every file a thread scans. */
let shared: Buffer | undefined;
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
/** Errors that mean "not a regular file we should read": a link, a directory, a FIFO. */
const NOT_A_FILE = new Set(['ELOOP', 'EISDIR', 'EAGAIN', 'ENXIO', 'EMLINK']);

/**
 * Reads and scans one file from disk; never throws, reports what went wrong instead. Symbolic
 * links are not followed (O_NOFOLLOW) and FIFOs cannot block the scan (O_NONBLOCK). A file that
 * fits one block costs open + read + close: no stat.
 */
export function scanFile(detector: Detector, absolute: string, path: string, maxSize: number): FileScan {
  let fd: number;
  try {
    fd = openSync(absolute, OPEN_FLAGS);
  } catch (error) {
    if (NOT_A_FILE.has((error as NodeJS.ErrnoException).code ?? '')) return { matches: [], bytes: 0, skipped: 'notFile' };
    return { matches: [], bytes: 0, skipped: 'unreadable', error: describeIoError(error) };
  }
  try {
    shared ??= Buffer.allocUnsafe(BLOCK_SIZE);
    let got = 0;
    for (;;) {
      const n = readSync(fd, shared, got, shared.length - got, null);
      if (n === 0) break;
      got += n;
      if (got === shared.length) break;
    }
    if (got < shared.length) {
      if (got > maxSize) return { matches: [], bytes: got, skipped: 'tooLarge' };
      return scanBuffer(detector, path, shared.subarray(0, got));
    }
    const stat = fstatSync(fd);
    if (!stat.isFile()) return { matches: [], bytes: 0, skipped: 'notFile' };
    if (stat.size > maxSize) return { matches: [], bytes: stat.size, skipped: 'tooLarge' };
    const head = shared.subarray(0, SNIFF);
    if (decodeUtf16(head)) {
      // UTF-16 cannot be scanned block by block as UTF-8: read it whole (it is under maxSize).
      const whole = Buffer.allocUnsafe(stat.size);
      let got = 0;
      while (got < stat.size) {
        const n = readSync(fd, whole, got, stat.size - got, got);
        if (n === 0) break;
        got += n;
      }
      return scanBuffer(detector, path, whole.subarray(0, got));
    }
    if (looksBinary(head)) return { matches: [], bytes: stat.size, skipped: 'binary' };
    const matches = scanBlocks(detector, path, stat.size, (into, at) => {
      let read = 0;
      while (read < into.length) {
        const n = readSync(fd, into, read, into.length - read, at + read);
        if (n === 0) break;
        read += n;
      }
      return read;
    });
    return { matches, bytes: stat.size };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (NOT_A_FILE.has(code)) return { matches: [], bytes: 0, skipped: 'notFile' };
    return { matches: [], bytes: 0, skipped: 'unreadable', error: describeIoError(error) };
  } finally {
    closeSync(fd);
  }
}

export function describeIoError(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  switch (e.code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOENT':
      return 'no such file';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    case 'EISDIR':
      return 'is a directory';
    default:
      return e.code ? `${e.code}: ${e.message.replace(/^[A-Z]+: /, '')}` : String(e.message ?? e);
  }
}
