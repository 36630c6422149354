import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, ftruncateSync, readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { KeywardError } from '../../kernel/errors.js';
import { writeFileAtomic } from '../../kernel/atomic-file.js';

/**
 * The audit log: append-only JSON lines, each carrying the hash of the previous one, so that
 * editing, removing or reordering a record breaks the chain. A head file (`audit.head`) holds the
 * last durable sequence number and hash, which catches records cut from the end.
 *
 * Appends are group-committed: records queued in the same turn of the event loop are written
 * with one write and one fdatasync, and each `append` resolves only once its record is on disk.
 * Callers answer a request after that, so an acknowledged action is never missing from the log.
 */
export interface AuditEvent {
  event: string;
  agent?: string;
  session?: string;
  delegator?: string;
  chain?: string[];
  task?: string;
  credential?: string;
  permission?: string;
  resource?: string;
  mode?: string;
  downstream?: { method: string; host: string; path: string; status?: number };
  decision?: string;
  reason?: string;
  /** Grant id (never the token). */
  grant?: string;
  consent?: string;
  ttl?: number;
  expires?: string;
  pid?: number;
  detail?: Record<string, unknown>;
}

export interface AuditRecord extends AuditEvent {
  seq: number;
  time: string;
  prev: string;
  hash: string;
}

export const GENESIS = '0'.repeat(64);
/** Tokens must never reach the log; this is the last line of defence. */
const TOKEN = /kw[gs]_[A-Za-z0-9]{49}/g;

/** sha256 of the record's line without its trailing hash field. */
export function recordHash(lineWithoutHash: string): string {
  return createHash('sha256').update(lineWithoutHash).digest('hex');
}

/** Serialises a record; returns the full line (without newline) and the record as written. */
function serialise(seq: number, time: string, event: AuditEvent, prev: string): { line: string; hash: string; record: AuditRecord } {
  let body = JSON.stringify({ seq, time, ...event, prev });
  let record: AuditRecord | undefined;
  if (TOKEN.test(body)) {
    TOKEN.lastIndex = 0;
    body = body.replace(TOKEN, '[token removed]');
    record = JSON.parse(body) as AuditRecord;
  }
  TOKEN.lastIndex = 0;
  const withoutHash = body.slice(0, -1);
  const hash = recordHash(withoutHash);
  return { line: `${withoutHash},"hash":"${hash}"}`, hash, record: { ...(record ?? { seq, time, ...event, prev }), hash } as AuditRecord };
}

interface Pending {
  event: AuditEvent;
  resolve: (r: AuditRecord) => void;
  reject: (e: Error) => void;
}

export class AuditLog {
  private handle?: FileHandle;
  private seq = 0;
  private prev = GENESIS;
  private size = 0;
  private queue: Pending[] = [];
  private flushing = false;
  private scheduled = false;
  /** Called with every durable record (the event stream of `keyward approve`). */
  onRecord?: (record: AuditRecord) => void;
  /** Set when recovery found something to say (a torn last line). */
  recovered?: string;

  constructor(
    readonly file: string,
    readonly headFile: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Opens the log, finds the last record, and cuts a torn final line left by a crash. */
  async open(): Promise<void> {
    const fd = openSync(this.file, 'a+', 0o600);
    try {
      const size = fstatSync(fd).size;
      let end = size;
      if (size > 0) {
        const tailSize = Math.min(size, 1 << 20);
        const tail = Buffer.alloc(tailSize);
        readSync(fd, tail, 0, tailSize, size - tailSize);
        let lastNl = tail.lastIndexOf(10);
        if (lastNl !== tail.length - 1) {
          // A record that was being written when the process died: it was never acknowledged.
          end = lastNl === -1 ? size - tailSize : size - tailSize + lastNl + 1;
          ftruncateSync(fd, end);
          this.recovered = `discarded ${size - end} bytes of an incomplete record written during a crash`;
          lastNl = lastNl === -1 ? -1 : lastNl;
        }
        const text = tail.subarray(0, lastNl === -1 ? 0 : lastNl).toString('utf8');
        const lastLine = text.slice(text.lastIndexOf('\n') + 1);
        if (lastLine) {
          try {
            const last = JSON.parse(lastLine) as AuditRecord;
            this.seq = last.seq;
            this.prev = last.hash;
          } catch {
            // Damaged: keep appending; `keyward audit verify` reports the damage.
            this.seq = Number(/"seq":(\d+)/.exec(lastLine)?.[1] ?? 0);
            this.prev = /"hash":"([0-9a-f]{64})"/.exec(lastLine)?.[1] ?? GENESIS;
          }
        }
      }
      this.size = end;
    } finally {
      closeSync(fd);
    }
    this.handle = await open(this.file, 'a', 0o600);
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** Appends an event; resolves when its record is durable, rejects if it could not be written. */
  append(event: AuditEvent): Promise<AuditRecord> {
    return new Promise((resolve, reject) => {
      this.queue.push({ event, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing || this.queue.length === 0) return;
    if (!this.handle) {
      const batch = this.queue.splice(0);
      for (const p of batch) p.reject(new Error('audit log is not open'));
      return;
    }
    this.flushing = true;
    const batch = this.queue.splice(0);
    const startSeq = this.seq;
    const startPrev = this.prev;
    const records: AuditRecord[] = [];
    const lines: string[] = [];
    let prev = this.prev;
    let seq = this.seq;
    const time = this.now().toISOString();
    for (const p of batch) {
      seq++;
      const { line, hash, record } = serialise(seq, time, p.event, prev);
      lines.push(line);
      records.push(record);
      prev = hash;
    }
    const data = Buffer.from(lines.join('\n') + '\n', 'utf8');
    try {
      // A short write is not an error by itself (a full disk or a file size limit can stop a
      // write part-way); keep writing until it is all there or the write fails.
      let written = 0;
      while (written < data.length) {
        const { bytesWritten } = await this.handle.write(data, written, data.length - written);
        if (bytesWritten === 0) throw Object.assign(new Error('no progress writing'), { code: 'ENOSPC' });
        written += bytesWritten;
      }
      await this.handle.datasync();
      this.seq = seq;
      this.prev = prev;
      this.size += data.length;
      this.scheduleHead();
      batch.forEach((p, i) => p.resolve(records[i]));
      for (const r of records) this.onRecord?.(r);
    } catch (error) {
      // Nothing of this batch is acknowledged: cut whatever part of it reached the file.
      this.seq = startSeq;
      this.prev = startPrev;
      try {
        await this.handle.truncate(this.size);
      } catch {
        /* the next open() cuts a torn line anyway */
      }
      const e = error as NodeJS.ErrnoException;
      const reason =
        e.code === 'ENOSPC' ? 'the disk is full' : e.code === 'EDQUOT' ? 'the disk quota is exceeded' : e.code === 'EFBIG' ? 'the file size limit was reached' : e.message;
      for (const p of batch) {
        p.reject(
          new KeywardError(`cannot write the audit log: ${reason}; nothing was done`, {
            code: 'audit_unavailable',
            hint: 'Free space (or fix the state directory), then retry: keyward does not act without a record.',
          }),
        );
      }
    } finally {
      this.flushing = false;
      if (this.queue.length > 0) this.schedule();
    }
  }

  private headTimer?: NodeJS.Timeout;

  /**
   * The head is rewritten at most every 100 ms (and on close): it may lag the log, which only
   * narrows truncation detection to older records, but is never ahead of it. The records
   * themselves are synced before anyone is answered; the head only has to be whole (renamed into
   * place), so it skips its own fsyncs.
   */
  private scheduleHead(): void {
    this.headTimer ??= setTimeout(() => this.writeHead(), 100);
  }

  private writeHead(): void {
    if (this.headTimer) clearTimeout(this.headTimer);
    this.headTimer = undefined;
    try {
      writeFileAtomic(this.headFile, JSON.stringify({ seq: this.seq, hash: this.prev }) + '\n', { mode: 0o600, sync: false });
    } catch {
      /* the next flush tries again */
    }
  }

  async close(): Promise<void> {
    while (this.queue.length > 0 || this.flushing) await new Promise((r) => setTimeout(r, 5));
    if (this.seq > 0) this.writeHead();
    await this.handle?.close();
    this.handle = undefined;
  }
}

export interface VerifyResult {
  ok: boolean;
  records: number;
  /** The first problem, if any. */
  problem?: { line: number; seq?: number; kind: 'malformed' | 'tampered' | 'reordered' | 'removed' | 'truncated'; message: string };
  /** Things worth knowing that are not tampering (a torn final line from a crash). */
  notes: string[];
  /** The last intact record: copy it somewhere agents cannot write to anchor the log. */
  head?: { seq: number; hash: string };
}

/** Checks the whole chain and the head file; reports the first broken record. */
export function verifyAuditLog(file: string, headFile: string): VerifyResult {
  // The head first: the daemon moves it only after the records it names are written, so a log
  // read after it is never behind it, even while the daemon keeps appending.
  let headText: string | undefined;
  let headError: NodeJS.ErrnoException | undefined;
  try {
    headText = readFileSync(headFile, 'utf8');
  } catch (error) {
    headError = error as NodeJS.ErrnoException;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, records: 0, notes: ['no audit log yet'] };
    throw error;
  }
  const notes: string[] = [];
  let lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  else if (lines.length > 0) {
    notes.push('the last line is incomplete (a crash during a write); that record was never acknowledged');
    lines = lines.slice(0, -1);
  }
  let prev = GENESIS;
  let expectedSeq = 1;
  let lastSeq = 0;
  let lastHash = GENESIS;
  let headSeq = -1;
  try {
    headSeq = headText ? (JSON.parse(headText) as { seq: number }).seq : -1;
  } catch {
    headSeq = -1;
  }
  let hashAtHead: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const lineNo = i + 1;
    const m = /,"hash":"([0-9a-f]{64})"\}$/.exec(line);
    let record: AuditRecord;
    try {
      record = JSON.parse(line) as AuditRecord;
    } catch {
      return { ok: false, records: i, notes, problem: { line: lineNo, kind: 'malformed', message: `line ${lineNo} is not a JSON record` } };
    }
    if (!m || recordHash(line.slice(0, m.index)) !== record.hash) {
      return {
        ok: false,
        records: i,
        notes,
        problem: { line: lineNo, seq: record.seq, kind: 'tampered', message: `record ${record.seq} (line ${lineNo}) was modified: its hash does not match its content` },
      };
    }
    if (record.seq === expectedSeq && record.prev !== prev) {
      return {
        ok: false,
        records: i,
        notes,
        problem: {
          line: lineNo - 1,
          seq: record.seq - 1,
          kind: 'tampered',
          message: `record ${record.seq - 1} (line ${lineNo - 1}) was modified: record ${record.seq} no longer links to it`,
        },
      };
    }
    if (record.seq > expectedSeq) {
      const gap = record.seq - expectedSeq > 1 ? `records ${expectedSeq}–${record.seq - 1} are` : `record ${expectedSeq} is`;
      return { ok: false, records: i, notes, problem: { line: lineNo, seq: record.seq, kind: 'removed', message: `${gap} missing before line ${lineNo}` } };
    }
    if (record.seq < expectedSeq) {
      return {
        ok: false,
        records: i,
        notes,
        problem: { line: lineNo, seq: record.seq, kind: 'reordered', message: `record ${record.seq} (line ${lineNo}) is out of order: expected ${expectedSeq}` },
      };
    }
    prev = record.hash;
    if (record.seq === headSeq) hashAtHead = record.hash;
    expectedSeq = record.seq + 1;
    lastSeq = record.seq;
    lastHash = record.hash;
  }
  try {
    if (headError) throw headError;
    const head = JSON.parse(headText!) as { seq: number; hash: string };
    if (head.seq > lastSeq) {
      return {
        ok: false,
        records: lines.length,
        notes,
        problem: { line: lines.length + 1, seq: lastSeq + 1, kind: 'truncated', message: `records ${lastSeq + 1}–${head.seq} were cut from the end of the log` },
      };
    }
    if (head.seq > 0 && hashAtHead !== head.hash) {
      return {
        ok: false,
        records: lines.length,
        notes,
        problem: { line: head.seq, seq: head.seq, kind: 'tampered', message: `record ${head.seq} does not match the head file (the log was rewritten)` },
      };
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') notes.push(`head file unreadable: ${(error as Error).message}`);
    else if (lines.length > 0) notes.push('no head file: removal of records at the end cannot be checked');
  }
  return { ok: true, records: lines.length, notes, ...(lastSeq ? { head: { seq: lastSeq, hash: lastHash } } : {}) };
}
