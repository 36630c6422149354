import { closeSync, createReadStream, fstatSync, openSync, readSync } from 'node:fs';
import type { Detector } from '../detect/detector.js';
import { describeIoError, looksBinary, scanBuffer } from '../engine/scan-bytes.js';
import type { Match, ScanIssue, ScanStats } from '../types.js';
import { ExpansionError, compressionOf, decompress, type Compression, type ExpansionLimit } from './streams.js';
import { TarError, TarParser, looksLikeTar, type TarEntry } from './tar.js';
import { ZipError, bufferAccess, overlappingEntry, readZipDirectory, readZipEntry, type RandomAccess } from './zip.js';

/**
 * Archives: zip, tar, tar.gz/tgz (and tar.zst, and a lone gzip file), opened as they are read,
 * nested up to a depth. Nothing is written to disk. Every limit that stops a read says so as an
 * issue on the result, so a refused zip bomb makes the scan partial rather than silent.
 */

export { ARCHIVE_NAME, DEFAULT_ARCHIVE_LIMITS, type ArchiveLimits } from './archive-limits.js';
import { ARCHIVE_NAME, type ArchiveLimits } from './archive-limits.js';

export type ArchiveKind = 'zip' | 'tar' | 'gzip' | 'zstd';

/** What kind of archive `head` starts like, if any. */
export function archiveKind(head: Uint8Array): ArchiveKind | undefined {
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6))) return 'zip';
  const compression = compressionOf(head);
  if (compression !== 'none') return compression;
  if (looksLikeTar(head)) return 'tar';
  return undefined;
}

/** Where scanned content goes, and the counters it updates. */
export interface ContentContext {
  detector: Detector;
  limits: ArchiveLimits;
  maxFileSize: number;
  stats: ScanStats;
  issues: ScanIssue[];
  /** Matches in one member; `path` is the display path, archives joined by `!/`. */
  report(path: string, matches: Match[]): void;
}

/** Entries and bytes left for one top-level archive. */
interface Budget {
  entries: number;
  expanded: number;
}

/**
 * Scans one member of an archive or a layer: a nested archive is opened (within the depth and
 * the budget), anything else goes to the detector.
 */
export async function scanContent(ctx: ContentContext, path: string, data: Buffer, depth: number, budget?: Budget): Promise<void> {
  const kind = ARCHIVE_NAME.test(path) || looksBinary(data) ? archiveKind(data) : undefined;
  if (kind) {
    if (depth >= ctx.limits.depth) {
      ctx.stats.files++;
      ctx.stats.bytes += data.length;
      ctx.stats.skipped.other++;
      ctx.issues.push({ path, message: `archive nested deeper than --archive-depth ${ctx.limits.depth}: not opened` });
      return;
    }
    await scanArchive(ctx, path, kind, { buffer: data }, depth + 1, budget ?? newBudget(ctx.limits));
    return;
  }
  const outcome = scanBuffer(ctx.detector, path, data);
  ctx.stats.files++;
  ctx.stats.bytes += data.length;
  if (outcome.skipped === 'binary') ctx.stats.skipped.binary++;
  if (outcome.matches.length > 0) ctx.report(path, outcome.matches);
}

function newBudget(limits: ArchiveLimits): Budget {
  return { entries: limits.entries, expanded: limits.expandedBytes };
}

/** Opens an archive file on disk (the target of `keyward scan`, or an archive found in a tree). */
export async function scanArchiveFile(ctx: ContentContext, absolute: string, path: string): Promise<boolean> {
  let fd: number;
  try {
    fd = openSync(absolute, 'r');
  } catch (error) {
    ctx.issues.push({ path, message: `cannot read: ${describeIoError(error)}` });
    return false;
  }
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(size, 512));
    readSync(fd, head, 0, head.length, 0);
    const kind = archiveKind(head);
    if (!kind) return false;
    await scanArchive(ctx, path, kind, { fd, size, absolute }, 1, newBudget(ctx.limits));
    return true;
  } finally {
    closeSync(fd);
  }
}

type Source = { buffer: Buffer } | { fd: number; size: number; absolute: string };

async function scanArchive(ctx: ContentContext, path: string, kind: ArchiveKind, source: Source, depth: number, budget: Budget): Promise<void> {
  ctx.stats.archives = (ctx.stats.archives ?? 0) + 1;
  try {
    if (kind === 'zip') {
      await scanZip(ctx, path, 'buffer' in source ? bufferAccess(source.buffer) : fdAccess(source.fd, source.size), depth, budget);
      return;
    }
    const size = 'buffer' in source ? source.buffer.length : source.size;
    const chunks: AsyncIterable<Buffer> = 'buffer' in source ? once(source.buffer) : (createReadStream(source.absolute, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>);
    await scanTarStream(ctx, path, chunks, kind === 'tar' ? 'none' : kind, depth, budget, size);
  } catch (error) {
    ctx.issues.push({ path, message: archiveMessage(error) });
  }
}

/** A message for a failed archive; never the content. */
function archiveMessage(error: unknown): string {
  if (error instanceof ZipError || error instanceof TarError || error instanceof ExpansionError) return error.message;
  const message = (error as Error).message ?? String(error);
  if (message.startsWith('corrupt ')) return message;
  return `cannot read archive: ${describeIoError(error)}`;
}

function fdAccess(fd: number, size: number): RandomAccess {
  return {
    size,
    read(position, length) {
      const out = Buffer.allocUnsafe(Math.max(0, Math.min(length, size - position)));
      let got = 0;
      while (got < out.length) {
        const n = readSync(fd, out, got, out.length - got, position + got);
        if (n === 0) break;
        got += n;
      }
      return out.subarray(0, got);
    },
  };
}

async function scanZip(ctx: ContentContext, path: string, ra: RandomAccess, depth: number, budget: Budget): Promise<void> {
  const entries = readZipDirectory(ra, budget.entries);
  const overlap = overlappingEntry(ra, entries);
  if (overlap) throw new ZipError(`entries overlap (${overlap}): refused as a possible zip bomb`);
  for (const entry of entries) {
    if (entry.directory) continue;
    const member = `${path}!/${entry.name}`;
    if (--budget.entries < 0) throw new ZipError(`more than ${ctx.limits.entries} entries: the rest was not read`);
    if (entry.encrypted) {
      ctx.stats.skipped.other++;
      ctx.issues.push({ path: member, message: 'encrypted zip entry: not scanned' });
      continue;
    }
    if (entry.size > ctx.limits.ratioFloor && entry.size > ctx.limits.ratio * Math.max(1, entry.compressedSize)) {
      ctx.stats.skipped.other++;
      ctx.issues.push({
        path: member,
        message: `expands ${Math.round(entry.size / Math.max(1, entry.compressedSize))} times (${entry.compressedSize} bytes to ${entry.size}): refused as a possible zip bomb`,
      });
      continue;
    }
    if (entry.size > ctx.maxFileSize) {
      ctx.stats.files++;
      ctx.stats.bytes += entry.size;
      ctx.stats.skipped.tooLarge++;
      continue;
    }
    budget.expanded -= entry.size;
    if (budget.expanded < 0) throw new ZipError(`expands past ${ctx.limits.expandedBytes} bytes in all: the rest was not read`);
    let data: Buffer;
    try {
      data = readZipEntry(ra, entry);
    } catch (error) {
      ctx.issues.push({ path: member, message: archiveMessage(error) });
      continue;
    }
    await scanContent(ctx, member, data, depth, budget);
  }
}

/**
 * Reads a tar stream (optionally compressed); a gzip or zstd stream that is not a tar is one
 * member, named after the archive without its extension. `onEntry` sees every entry (image
 * layers use it for whiteouts); `memberPath` maps an entry to the path shown.
 */
export async function scanTarStream(
  ctx: ContentContext,
  path: string,
  chunks: AsyncIterable<Buffer>,
  compression: Compression,
  depth: number,
  budget: Budget | undefined,
  compressedSize: number,
  options: { onEntry?: (entry: TarEntry) => void; memberPath?: (entry: TarEntry) => string; limit?: ExpansionLimit; tarOnly?: boolean } = {},
): Promise<void> {
  const limit: ExpansionLimit = options.limit ?? {
    floor: ctx.limits.ratioFloor,
    ratio: ctx.limits.ratio,
    maxBytes: budget ? Math.max(0, budget.expanded) : Number.MAX_SAFE_INTEGER,
  };
  const stream = decompress(chunks, compression, limit);
  const completed: { path: string; data: Buffer }[] = [];
  let member: MemberBuffer | undefined;
  let parser: TarParser | undefined;
  let plain: MemberBuffer | undefined;
  let expanded = 0;
  const memberPath = options.memberPath ?? ((entry: TarEntry) => `${path}!/${entry.path}`);
  const handlers = {
    entry: (entry: TarEntry) => {
      options.onEntry?.(entry);
      if (budget && --budget.entries < 0) throw new TarError(`more than ${ctx.limits.entries} entries: the rest was not read`);
      member = entry.type === 'file' ? new MemberBuffer(memberPath(entry), entry.size, ctx, depth) : undefined;
    },
    data: (chunk: Buffer) => member?.push(chunk),
    end: () => {
      const done = member?.finish();
      if (done) completed.push(done);
      member = undefined;
    },
  };
  for await (const chunk of stream) {
    expanded += chunk.length;
    if (!parser && !plain) {
      // The first bytes decide: a tar, or (compressed) a single file.
      if (compression === 'none' || options.tarOnly || looksLikeTar(chunk)) parser = new TarParser(handlers);
      else plain = new MemberBuffer(`${path}!/${lastSegment(path).replace(/\.(?:gz|zst)$/i, '')}`, compressedSize, ctx, depth, true);
    }
    if (parser) {
      parser.push(chunk);
      while (completed.length > 0) {
        const next = completed.shift()!;
        await scanContent(ctx, next.path, next.data, depth, budget);
      }
      if (parser.ended) break;
    } else plain!.push(chunk);
  }
  if (budget) budget.expanded -= expanded;
  parser?.finish();
  const last = plain?.finish();
  if (last) await scanContent(ctx, last.path, last.data, depth, budget);
}

/** Where a tar member's bytes wait: kept while they may be text or an archive, dropped once binary. */
class MemberBuffer {
  private parts: Buffer[] = [];
  private length = 0;
  private state: 'collect' | 'binary' | 'tooLarge';

  constructor(
    readonly path: string,
    declared: number,
    private readonly ctx: ContentContext,
    private readonly depth: number,
    private readonly sizeUnknown = false,
  ) {
    this.state = !sizeUnknown && declared > ctx.maxFileSize ? 'tooLarge' : 'collect';
  }

  push(chunk: Buffer): void {
    this.length += chunk.length;
    if (this.state !== 'collect') return;
    if (this.length > this.ctx.maxFileSize) {
      this.state = 'tooLarge';
      this.parts = [];
      return;
    }
    this.parts.push(chunk);
    // Binary content is counted, not kept, unless it may be an archive to open.
    if (this.length - chunk.length < SNIFF && this.length >= SNIFF) this.sniff();
  }

  private sniff(): void {
    const head = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
    if (head.length >= 2 && ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff))) return;
    if (looksBinary(head) && !(this.depth < this.ctx.limits.depth && archiveKind(head))) {
      this.state = 'binary';
      this.parts = [];
    }
  }

  finish(): { path: string; data: Buffer } | undefined {
    const { stats } = this.ctx;
    if (this.state === 'collect') return { path: this.path, data: this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts) };
    stats.files++;
    stats.bytes += this.length;
    if (this.state === 'binary') stats.skipped.binary++;
    else stats.skipped.tooLarge++;
    return undefined;
  }
}

const SNIFF = 8000;

async function* once(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

function lastSegment(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
