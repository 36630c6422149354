import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordHash } from '../../daemon/audit/log.js';
import { removeDir, runCli } from '../helpers/cli.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

/**
 * `keyward audit verify` on a log the real daemon wrote, edited the ways someone hiding their
 * tracks would: one record changed, and the whole log rewritten with every hash recomputed (which
 * only the head file catches).
 */
describe('keyward audit verify on a real daemon log', () => {
  let d: TestDaemon;
  let log: string;
  let lines: string[];

  beforeAll(async () => {
    d = await startDaemon();
    // Records of the daemon's own: start, sessions opened and ended, stop.
    for (const agent of ['claude-code', 'cursor', 'mcp:github']) {
      const opened = await d.api('agent', 'POST', '/v1/sessions', { agent });
      expect(opened.status, JSON.stringify(opened.body)).toBe(201);
      expect((await d.api('agent', 'DELETE', '/v1/sessions/current', undefined, opened.body.token)).status).toBe(200);
    }
    await d.stop();
    log = join(d.home, 'state', 'audit.jsonl');
    lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(8);
  });
  afterAll(() => removeDir(d.home));

  const verify = () => runCli(['audit', 'verify', '--json'], { env: { KEYWARD_HOME: d.home } });
  const restore = () => writeFileSync(log, lines.join('\n') + '\n');

  it('passes the log as written', async () => {
    restore();
    const r = await verify();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, records: lines.length, notes: [] });
  });

  it('fails, naming the record, when one record is edited', async () => {
    const edited = [...lines];
    const at = 3;
    expect(edited[at]).toContain('"agent":"cursor"');
    edited[at] = edited[at].replace('"agent":"cursor"', '"agent":"curser"');
    writeFileSync(log, edited.join('\n') + '\n');
    const r = await verify();
    expect(r.code).toBe(1);
    const seq = JSON.parse(lines[at]).seq;
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, records: at, problem: { kind: 'tampered', line: at + 1, seq } });
    const text = await runCli(['audit', 'verify'], { env: { KEYWARD_HOME: d.home } });
    expect(text.stdout).toContain(`BROKEN: record ${seq} (line ${at + 1}) was modified: its hash does not match its content`);
    restore();
  });

  it('fails when the whole log is rewritten with recomputed hashes: the head file no longer matches', async () => {
    let prev = '0'.repeat(64);
    const rewritten = lines.map((line) => {
      const record = JSON.parse(line) as Record<string, unknown>;
      if (record.agent === 'cursor') record.agent = 'someone-else';
      delete record.hash;
      record.prev = prev;
      const body = JSON.stringify(record).slice(0, -1);
      prev = recordHash(body);
      return `${body},"hash":"${prev}"}`;
    });
    writeFileSync(log, rewritten.join('\n') + '\n');
    const r = await verify();
    expect(r.code).toBe(1);
    const head = JSON.parse(readFileSync(join(d.home, 'state', 'audit.head'), 'utf8')) as { seq: number };
    expect(JSON.parse(r.stdout).problem).toMatchObject({ kind: 'tampered', seq: head.seq, message: `record ${head.seq} does not match the head file (the log was rewritten)` });
    restore();
  });

  it('fails when records are cut from the end', async () => {
    writeFileSync(log, lines.slice(0, -2).join('\n') + '\n');
    const r = await verify();
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).problem).toMatchObject({ kind: 'truncated' });
    restore();
  });
});
