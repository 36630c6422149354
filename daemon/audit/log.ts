import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, ftruncateSync, readFileSync, writeSync } from 'node:fs';
import { open, rename, writeFile, type FileHandle } from 'node:fs/promises';
import { KeywardError } from '../../kernel/errors.js';

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

export interface AuditRecovery {
  /** The partial final line that was cut: never more than one. */
  discarded?: { lines: 1; bytes: number; sha256: string };
  /** An unterminated end that was not a crash's doing, kept and ended with a line break. */
  kept?: { bytes: number; sha256: string; why: string };
  /** Records the head file names that the log no longer holds. */
  missing?: { from: number; to: number };
}

function readHead(file: string): { seq: number; hash: string } | undefined {
  try {
    const head = JSON.parse(readFileSync(file, 'utf8')) as { seq: number; hash: string };
    return Number.isInteger(head.seq) ? head : undefined;
  } catch {
    return undefined;
  }
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
  /** Set when recovery found something to say (a torn last line), in one sentence. */
  recovered?: string;
  /** What recovery did, for the `daemon.start` record. */
  recovery?: AuditRecovery;

  constructor(
    readonly file: string,
    readonly headFile: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Opens the log, finds the last record, and repairs what a crash can leave: at most one
   * partial final line (a record whose write was cut; it was never acknowledged). Anything else
   * at the end is kept for `keyward audit verify` to report, never cut: a "torn" tail that holds
   * a whole record, or no line break in the last MiB, was not left by a crash. Records cut from
   * the end (the head file names a later one) leave a gap in the numbering, so the cut stays
   * visible. What was found is in `recovery`, for the `daemon.start` record.
   */
  async open(): Promise<void> {
    const fd = openSync(this.file, 'a+', 0o600);
    const recovery: AuditRecovery = {};
    try {
      const size = fstatSync(fd).size;
      let end = size;
      if (size > 0) {
        const tailSize = Math.min(size, 1 << 20);
        const tail = Buffer.alloc(tailSize);
        readSync(fd, tail, 0, tailSize, size - tailSize);
        let lastNl = tail.lastIndexOf(10);
        if (lastNl !== tail.length - 1) {
          const torn = tail.subarray(lastNl + 1);
          const digest = createHash('sha256').update(torn).digest('hex');
          const wholeRecord = /"hash":"[0-9a-f]{64}"\}/.test(torn.toString('utf8'));
          if (lastNl === -1 && size > tailSize) {
            // No line break in the last MiB: not a record cut by a crash. Keep it for verify.
            recovery.kept = { bytes: torn.length, sha256: digest, why: 'no line break in the last MiB of the log' };
          } else if (wholeRecord) {
            recovery.kept = { bytes: torn.length, sha256: digest, why: 'the unterminated last line holds a whole record, which a crash cannot cut' };
          } else {
            // A record that was being written when the process died: it was never acknowledged.
            end = size - torn.length;
            ftruncateSync(fd, end);
            recovery.discarded = { lines: 1, bytes: torn.length, sha256: digest };
            this.recovered = `discarded ${torn.length} bytes of an incomplete record written during a crash`;
          }
          if (recovery.kept) {
            // Ends the damaged line, so what follows starts on a line of its own.
            writeSync(fd, '\n');
            end = size + 1;
            lastNl = -1;
            this.recovered = `kept ${torn.length} unterminated bytes at the end of the log (${recovery.kept.why}); keyward audit verify reports them`;
          }
        }
        const text = tail.subarray(0, lastNl === -1 ? (recovery.kept ? tail.length : 0) : lastNl).toString('utf8');
        const lastLine = text.slice(text.lastIndexOf('\n') + 1);
        if (lastLine) {
          try {
            const last = JSON.parse(lastLine) as AuditRecord;
            this.seq = last.seq;
            this.prev = last.hash;
          } catch {
            // Damaged: keep appending; `keyward audit verify` reports the damage.
            // The last record in it counts (several records run together end with the last one's).
            this.seq = Number([...lastLine.matchAll(/"seq":(\d+)/g)].at(-1)?.[1] ?? 0);
            this.prev = [...lastLine.matchAll(/"hash":"([0-9a-f]{64})"/g)].at(-1)?.[1] ?? GENESIS;
          }
        }
      }
      this.size = end;
    } finally {
      closeSync(fd);
    }
    // Records cut from the end: the head names a later record than the log holds. Numbering goes
    // on after the head, so the gap stays in the log for verify to report.
    const head = readHead(this.headFile);
    if (head && head.seq > this.seq) {
      recovery.missing = { from: this.seq + 1, to: head.seq };
      this.recovered = `${this.recovered ? `${this.recovered}; ` : ''}records ${this.seq + 1}–${head.seq} named by the head file are missing from the log`;
      this.seq = head.seq;
    }
    if (Object.keys(recovery).length) this.recovery = recovery;
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
      batch.forEach((p, i) => p.resolve(records[i]));
      for (const r of records) this.onRecord?.(r);
      // The head follows every batch before the next one is written: it is never more than one
      // batch behind the log, so a cut of the end is caught down to the last batch.
      await this.writeHead();
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

  /**
   * Rewrites the head file (renamed into place, so it is always whole). It is written after the
   * records it names are synced, so it is never ahead of the log; it skips its own fsyncs.
   */
  private async writeHead(): Promise<void> {
    const tmp = `${this.headFile}.${process.pid}.tmp`;
    try {
      await writeFile(tmp, JSON.stringify({ seq: this.seq, hash: this.prev }) + '\n', { mode: 0o600 });
      await rename(tmp, this.headFile);
    } catch {
      /* the next batch tries again */
    }
  }

  async close(): Promise<void> {
    while (this.queue.length > 0 || this.flushing) await new Promise((r) => setTimeout(r, 5));
    if (this.seq > 0) await this.writeHead();
    await this.handle?.close();
    this.handle = undefined;
  }
}

export interface VerifyResult {
  ok: boolean;
  records: number;
  /** The first problem, if any. */
  problem?: { line: number; seq?: number; kind: 'malformed' | 'tampered' | 'reordered' | 'removed' | 'truncated' | 'head-missing'; message: string };
  /** Things worth knowing that are not tampering (a torn final line from a crash). */
  notes: string[];
  /** The last intact record: copy it somewhere agents cannot write to anchor the log. */
  head?: { seq: number; hash: string };
}

/**
 * Checks the whole chain and the head file; reports the first broken record. Without the head
 * file, records cut from the end cannot be told from records never written, so a missing head
 * is a failure unless `allowMissingHead` says the caller knows why it is gone.
 */
export function verifyAuditLog(file: string, headFile: string, options: { allowMissingHead?: boolean } = {}): VerifyResult {
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
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    if (lines.length > 0 && !options.allowMissingHead) {
      return {
        ok: false,
        records: lines.length,
        notes,
        problem: {
          line: lines.length + 1,
          kind: 'head-missing',
          message: `the head file ${headFile} is ${missing ? 'missing' : `unreadable (${(error as Error).message})`}: records cut from the end of the log cannot be ruled out`,
        },
      };
    }
    if (!missing) notes.push(`head file unreadable: ${(error as Error).message}`);
    else if (lines.length > 0) notes.push('no head file (accepted with --allow-missing-head): removal of records at the end cannot be checked');
  }
  return { ok: true, records: lines.length, notes, ...(lastSeq ? { head: { seq: lastSeq, hash: lastHash } } : {}) };
}
