import { mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
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
