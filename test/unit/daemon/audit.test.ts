import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, verifyAuditLog } from '../../../daemon/audit/log.js';

let dir: string;
let file: string;
let head: string;

async function writeLog(n: number): Promise<string[]> {
  const log = new AuditLog(file, head);
  await log.open();
  await Promise.all(Array.from({ length: n }, (_, i) => log.append({ event: 'grant.issue', agent: `agent-${i}`, grant: `gr_${i}` })));
  await log.close();
  return readFileSync(file, 'utf8').trim().split('\n');
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'keyward-audit-'));
  file = join(dir, 'audit.jsonl');
  head = join(dir, 'audit.head');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('audit log', () => {
  it('chains records by hash, in order, durably', async () => {
    const lines = await writeLog(5);
    const records = lines.map((l) => JSON.parse(l));
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(records[1].prev).toBe(records[0].hash);
    expect(verifyAuditLog(file, head)).toMatchObject({ ok: true, records: 5 });
    expect(JSON.parse(readFileSync(head, 'utf8'))).toEqual({ seq: 5, hash: records[4].hash });
  });

  it('continues the chain after reopening', async () => {
    await writeLog(2);
    await writeLog(2);
    expect(verifyAuditLog(file, head)).toMatchObject({ ok: true, records: 4 });
  });

  it('names a modified record', async () => {
    const lines = await writeLog(5);
    lines[2] = lines[2].replace('agent-2', 'agent-X');
    writeFileSync(file, lines.join('\n') + '\n');
    expect(verifyAuditLog(file, head).problem).toMatchObject({ line: 3, seq: 3, kind: 'tampered' });
  });

  it('names a modified record whose hash was recomputed, by its broken link', async () => {
    const { recordHash } = await import('../../../daemon/audit/log.js');
    const lines = await writeLog(4);
    const edited = lines[1].replace('agent-1', 'agent-Y');
    const body = edited.slice(0, edited.lastIndexOf(',"hash":'));
    lines[1] = `${body},"hash":"${recordHash(body)}"}`;
    writeFileSync(file, lines.join('\n') + '\n');
    expect(verifyAuditLog(file, head).problem).toMatchObject({ line: 2, seq: 2, kind: 'tampered' });
  });

  it('names removed and reordered records, and records cut from the end', async () => {
    const lines = await writeLog(5);
    writeFileSync(file, [lines[0], lines[2], lines[3], lines[4]].join('\n') + '\n');
    expect(verifyAuditLog(file, head).problem).toMatchObject({ line: 2, kind: 'removed', message: 'record 2 is missing before line 2' });
    writeFileSync(file, [lines[0], lines[2], lines[1], lines[3], lines[4]].join('\n') + '\n');
    expect(verifyAuditLog(file, head).problem?.kind).toMatch(/removed|reordered/);
    writeFileSync(file, lines.slice(0, 3).join('\n') + '\n');
    expect(verifyAuditLog(file, head).problem).toMatchObject({ kind: 'truncated', message: 'records 4–5 were cut from the end of the log' });
  });

  it('tolerates and repairs a torn last line left by a crash', async () => {
    await writeLog(3);
    appendFileSync(file, '{"seq":4,"time":"2024-');
    const v = verifyAuditLog(file, head);
    expect(v.ok).toBe(true);
    expect(v.notes[0]).toContain('incomplete');
    const log = new AuditLog(file, head);
    await log.open();
    expect(log.recovered).toContain('incomplete record');
    await log.append({ event: 'daemon.start' });
    await log.close();
    expect(verifyAuditLog(file, head)).toMatchObject({ ok: true, records: 4, notes: [] });
  });

  it('never writes a keyward token, even if one is passed in', async () => {
    const log = new AuditLog(file, head);
    await log.open();
    await log.append({ event: 'x', reason: `leaked kwg_${'a'.repeat(49)} here` });
    await log.close();
    expect(readFileSync(file, 'utf8')).not.toMatch(/kwg_a{49}/);
    expect(verifyAuditLog(file, head).ok).toBe(true);
  });
});

describe('audit verify, each finding exactly', () => {
  it('passes a missing log as empty, and names the last intact record as the head to keep', async () => {
    expect(verifyAuditLog(file, head)).toEqual({ ok: true, records: 0, notes: ['no audit log yet'] });
    const lines = await writeLog(3);
    expect(verifyAuditLog(file, head)).toEqual({ ok: true, records: 3, notes: [], head: { seq: 3, hash: JSON.parse(lines[2]).hash } });
  });

  it('names a line that is not JSON', async () => {
    const lines = await writeLog(3);
    writeFileSync(file, [lines[0], 'not json', lines[2]].join('\n') + '\n');
    expect(verifyAuditLog(file, head)).toEqual({ ok: false, records: 1, notes: [], problem: { line: 2, kind: 'malformed', message: 'line 2 is not a JSON record' } });
  });

  it('names a record without its hash field, or with its hash edited', async () => {
    const lines = await writeLog(3);
    const noHash = lines[1].slice(0, lines[1].lastIndexOf(',"hash":')) + '}';
    writeFileSync(file, [lines[0], noHash, lines[2]].join('\n') + '\n');
    expect(verifyAuditLog(file, head)).toEqual({
      ok: false,
      records: 1,
      notes: [],
      problem: { line: 2, seq: 2, kind: 'tampered', message: 'record 2 (line 2) was modified: its hash does not match its content' },
    });
    writeFileSync(file, [lines[0], lines[1].replace(/"hash":"[0-9a-f]/, '"hash":"x'), lines[2]].join('\n') + '\n');
    expect(verifyAuditLog(file, head).problem).toMatchObject({ line: 2, seq: 2, kind: 'tampered' });
  });

  it('names the record whose successor no longer links to it', async () => {
    const { recordHash } = await import('../../../daemon/audit/log.js');
    const lines = await writeLog(3);
    const body = lines[1].replace('agent-1', 'agent-Z').slice(0, lines[1].lastIndexOf(',"hash":'));
    writeFileSync(file, [lines[0], `${body},"hash":"${recordHash(body)}"}`, lines[2]].join('\n') + '\n');
    expect(verifyAuditLog(file, head)).toEqual({
      ok: false,
      records: 2,
      notes: [],
      problem: { line: 2, seq: 2, kind: 'tampered', message: 'record 2 (line 2) was modified: record 3 no longer links to it' },
    });
  });

  it('names one removed record, several removed records, and a record out of order', async () => {
    const lines = await writeLog(5);
    writeFileSync(file, [lines[0], lines[3], lines[4]].join('\n') + '\n');
    expect(verifyAuditLog(file, head)).toEqual({
      ok: false,
      records: 1,
      notes: [],
      problem: { line: 2, seq: 4, kind: 'removed', message: 'records 2–3 are missing before line 2' },
    });
    writeFileSync(file, [lines[0], lines[1], lines[0]].join('\n') + '\n');
    expect(verifyAuditLog(file, head)).toEqual({
      ok: false,
      records: 2,
      notes: [],
      problem: { line: 3, seq: 1, kind: 'reordered', message: 'record 1 (line 3) is out of order: expected 3' },
    });
  });

  it('names records cut from the end by the head file, and a log rewritten under it', async () => {
    const lines = await writeLog(4);
    writeFileSync(file, lines.slice(0, 3).join('\n') + '\n');
    expect(verifyAuditLog(file, head)).toEqual({
      ok: false,
      records: 3,
      notes: [],
      problem: { line: 4, seq: 4, kind: 'truncated', message: 'records 4–4 were cut from the end of the log' },
    });
  });

  it('names a log rewritten under the head file', async () => {
    await writeLog(4);
    const oldHead = readFileSync(head, 'utf8');
    rmSync(file);
    rmSync(head);
    const log = new AuditLog(file, head);
    await log.open();
    for (let i = 0; i < 4; i++) await log.append({ event: 'grant.issue', agent: `other-${i}` });
    await log.close();
    writeFileSync(head, oldHead);
    expect(verifyAuditLog(file, head)).toEqual({
      ok: false,
      records: 4,
      notes: [],
      problem: { line: 4, seq: 4, kind: 'tampered', message: 'record 4 does not match the head file (the log was rewritten)' },
    });
  });

  it('fails without a readable head file unless told the head is gone', async () => {
    await writeLog(2);
    rmSync(head);
    expect(verifyAuditLog(file, head)).toEqual({
      ok: false,
      records: 2,
      notes: [],
      problem: { line: 3, kind: 'head-missing', message: `the head file ${head} is missing: records cut from the end of the log cannot be ruled out` },
    });
    expect(verifyAuditLog(file, head, { allowMissingHead: true })).toMatchObject({
      ok: true,
      records: 2,
      notes: ['no head file (accepted with --allow-missing-head): removal of records at the end cannot be checked'],
    });
    writeFileSync(head, 'not json');
    expect(verifyAuditLog(file, head)).toMatchObject({ ok: false, problem: { kind: 'head-missing', message: expect.stringContaining(`the head file ${head} is unreadable (`) } });
    expect(verifyAuditLog(file, head, { allowMissingHead: true })).toMatchObject({ ok: true, notes: [expect.stringMatching(/^head file unreadable: /)] });
  });
});

describe('audit log recovery on open', () => {
  it('keeps an unterminated last line that holds a whole record, for verify to report', async () => {
    const lines = await writeLog(2);
    writeFileSync(file, lines.join('\n')); // no final line break: not a crash's doing
    const log = new AuditLog(file, head);
    await log.open();
    expect(log.recovery).toEqual({
      kept: {
        bytes: Buffer.byteLength(lines[1]),
        sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
        why: 'the unterminated last line holds a whole record, which a crash cannot cut',
      },
    });
    expect(log.recovered).toBe(
      `kept ${Buffer.byteLength(lines[1])} unterminated bytes at the end of the log (the unterminated last line holds a whole record, which a crash cannot cut); keyward audit verify reports them`,
    );
    expect(log.lastSeq).toBe(2);
    const r = await log.append({ event: 'daemon.start' });
    await log.close();
    expect(r).toMatchObject({ seq: 3, prev: JSON.parse(lines[1]).hash });
    expect(readFileSync(file, 'utf8')).toBe(`${lines[0]}\n${lines[1]}\n${readFileSync(file, 'utf8').split('\n')[2]}\n`);
    expect(verifyAuditLog(file, head)).toMatchObject({ ok: true, records: 3 });
  });

  it('keeps a last MiB without a line break, and carries on after the last record named in it', async () => {
    const lines = await writeLog(2);
    writeFileSync(file, lines.join('\n') + '\n' + 'x'.repeat((1 << 20) + 10));
    const log = new AuditLog(file, head);
    await log.open();
    expect(log.recovery?.kept).toMatchObject({ bytes: 1 << 20, why: 'no line break in the last MiB of the log' });
    await log.close();
    expect(verifyAuditLog(file, head).ok).toBe(false);
  });

  it('continues numbering after a damaged last line from the last seq and hash in it', async () => {
    const lines = await writeLog(2);
    const damaged = lines[1].replace('"event":"grant.issue"', '"event":"grant.issue"garbage');
    writeFileSync(file, `${lines[0]}\n${damaged}\n`);
    const log = new AuditLog(file, head);
    await log.open();
    expect(log.recovery).toBeUndefined();
    const r = await log.append({ event: 'daemon.start' });
    await log.close();
    expect(r).toMatchObject({ seq: 3, prev: JSON.parse(lines[1]).hash });
  });

  it('numbers on after records cut from the end, so that the gap stays visible', async () => {
    const lines = await writeLog(4);
    writeFileSync(file, lines.slice(0, 2).join('\n') + '\n');
    const log = new AuditLog(file, head);
    await log.open();
    expect(log.recovery).toEqual({ missing: { from: 3, to: 4 } });
    expect(log.recovered).toBe('records 3–4 named by the head file are missing from the log');
    expect((await log.append({ event: 'daemon.start' })).seq).toBe(5);
    await log.close();
    expect(verifyAuditLog(file, head).problem).toMatchObject({ kind: 'removed', message: 'records 3–4 are missing before line 3' });
  });

  it('says both when a crash tore the last line and records were cut before it', async () => {
    const lines = await writeLog(4);
    writeFileSync(file, lines.slice(0, 2).join('\n') + '\n{"seq":3,"ti');
    const log = new AuditLog(file, head);
    await log.open();
    expect(log.recovery).toEqual({ discarded: { lines: 1, bytes: 12, sha256: expect.any(String) }, missing: { from: 3, to: 4 } });
    expect(log.recovered).toBe('discarded 12 bytes of an incomplete record written during a crash; records 3–4 named by the head file are missing from the log');
    await log.close();
    expect(readFileSync(file, 'utf8')).toBe(lines.slice(0, 2).join('\n') + '\n');
  });

  it('refuses to append before it is open', async () => {
    const log = new AuditLog(file, head);
    await expect(log.append({ event: 'x' })).rejects.toThrow('audit log is not open');
  });

  it('writes the time of its clock, and hands every durable record to its listener', async () => {
    const log = new AuditLog(file, head, () => new Date('2030-01-02T03:04:05.000Z'));
    await log.open();
    const seen: number[] = [];
    log.onRecord = (r) => seen.push(r.seq);
    const r = await log.append({ event: 'x' });
    await log.close();
    expect(r).toMatchObject({ seq: 1, time: '2030-01-02T03:04:05.000Z', prev: '0'.repeat(64) });
    expect(seen).toEqual([1]);
  });
});

describe.skipIf(process.platform !== 'linux')('audit log on a full disk (/dev/full)', () => {
  it('acknowledges nothing, says the disk is full, and keeps its chain where it was', async () => {
    const log = new AuditLog('/dev/full', head);
    await log.open();
    await expect(log.append({ event: 'grant.issue' })).rejects.toMatchObject({
      code: 'audit_unavailable',
      message: 'cannot write the audit log: the disk is full; nothing was done',
      hint: 'Free space (or fix the state directory), then retry: keyward does not act without a record.',
    });
    expect(log.lastSeq).toBe(0);
    // Every record of a batch is refused, and the next batch is tried again.
    const batch = await Promise.allSettled([log.append({ event: 'a' }), log.append({ event: 'b' })]);
    expect(batch.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await expect(log.append({ event: 'c' })).rejects.toMatchObject({ code: 'audit_unavailable' });
    await log.close();
  });
});

describe('audit log details', () => {
  it('marks where a token was removed, and leaves text that only looks like a token prefix', async () => {
    const log = new AuditLog(file, head);
    await log.open();
    await log.append({ event: 'x', reason: `a kws_${'b'.repeat(49)} and kwg_short` });
    await log.close();
    expect(JSON.parse(readFileSync(file, 'utf8')).reason).toBe('a [token removed] and kwg_short');
  });

  it('writes the head owner-only as one JSON line, and none for a log that holds nothing', async () => {
    const log = new AuditLog(file, head);
    await log.open();
    await log.close();
    expect(existsSync(head)).toBe(false);
    const lines = await writeLog(2);
    expect(readFileSync(head, 'utf8')).toBe(`{"seq":2,"hash":"${JSON.parse(lines[1]).hash}"}\n`);
    expect(statSync(head).mode & 0o777).toBe(0o600);
  });

  it('accepts a head one batch behind the log, checked against the record it names', async () => {
    await writeLog(2);
    const behind = readFileSync(head, 'utf8');
    await writeLog(1);
    writeFileSync(head, behind);
    expect(verifyAuditLog(file, head)).toMatchObject({ ok: true, records: 3, notes: [] });
  });

  it('passes an empty log with no head, and throws on a log it cannot read', () => {
    writeFileSync(file, '');
    expect(verifyAuditLog(file, head)).toEqual({ ok: true, records: 0, notes: [] });
    expect(() => verifyAuditLog(dir, head)).toThrow(/EISDIR/);
  });
});

describe('audit log whose only line is torn', () => {
  it('cuts it: a crash during the first write, never acknowledged', async () => {
    writeFileSync(file, '{"seq":1,"ti');
    const log = new AuditLog(file, head);
    await log.open();
    expect(log.recovery).toEqual({ discarded: { lines: 1, bytes: 12, sha256: expect.any(String) } });
    expect((await log.append({ event: 'daemon.start' })).seq).toBe(1);
    await log.close();
    expect(verifyAuditLog(file, head)).toMatchObject({ ok: true, records: 1, notes: [] });
  });
});
