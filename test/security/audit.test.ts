import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cli.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

/**
 * Attack 12: cutting the end of the audit log quietly. The attacker runs as the same user, so
 * it can edit `audit.jsonl` and `audit.head` while the daemon is stopped (or after killing it).
 * Each test does that to the files of a real daemon and checks what `keyward audit verify` and
 * the next `daemon.start` record say.
 */

interface Rec {
  seq: number;
  time: string;
  event: string;
  detail?: Record<string, any>;
}

const lines = (home: string) =>
  readFileSync(join(home, 'state', 'audit.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean);
const records = (home: string): Rec[] =>
  lines(home).flatMap((l) => {
    try {
      return [JSON.parse(l) as Rec];
    } catch {
      return [];
    }
  });

async function withRecords(count: number): Promise<TestDaemon> {
  const d = await startDaemon({ home: tempDir('keyward-sec-audit-') });
  for (let i = 0; i < count; i++) expect((await d.api('agent', 'POST', '/v1/sessions', { agent: `a${i}` })).status).toBe(201);
  return d;
}

describe('an audit log that cannot be cut quietly', () => {
  let d: TestDaemon | undefined;
  afterEach(async () => {
    await d?.stop();
    d = undefined;
  });

  it('fails verify when the head file is deleted, unless --allow-missing-head says so', async () => {
    d = await withRecords(3);
    await d.stop();
    expect((await d.cli(['audit', 'verify'])).code).toBe(0);
    rmSync(join(d.home, 'state', 'audit.head'));
    const broken = await d.cli(['audit', 'verify', '--json']);
    expect(broken.code).toBe(1);
    expect(JSON.parse(broken.stdout).problem).toMatchObject({ kind: 'head-missing' });
    const accepted = await d.cli(['audit', 'verify', '--allow-missing-head']);
    expect(accepted.code, accepted.stdout).toBe(0);
    expect(accepted.stdout).toContain('no head file');
  });

  it('does not let a crafted "torn" last line discard acknowledged records at the next start', async () => {
    d = await withRecords(3);
    await d.stop();
    const before = lines(d.home);
    const lastThree = before.slice(-3);
    // Three acknowledged records run together into one unterminated line.
    writeFileSync(join(d.home, 'state', 'audit.jsonl'), before.slice(0, -3).join('\n') + '\n' + lastThree.join(''));
    d = await startDaemon({ home: d.home });
    const text = readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8');
    expect(text).toContain(lastThree.join('')); // nothing was cut
    const start = records(d.home).at(-1)!;
    expect(start.event).toBe('daemon.start');
    expect(start.detail!.recovery.kept).toMatchObject({ bytes: Buffer.byteLength(lastThree.join('')) });
    expect(start.detail!.recovery.discarded).toBeUndefined();
    const v = await d.cli(['audit', 'verify', '--json']);
    expect(v.code).toBe(1);
    expect(JSON.parse(v.stdout).problem).toMatchObject({ kind: 'malformed', line: before.length - 2 });
  });

  it('discards a real partial last line, one only, and records its size and hash in daemon.start', async () => {
    d = await withRecords(2);
    await d.stop();
    const whole = lines(d.home);
    const partial = whole[whole.length - 1].slice(0, 40).replace(/"seq":\d+/, `"seq":${whole.length + 1}`);
    appendFileSync(join(d.home, 'state', 'audit.jsonl'), partial);
    d = await startDaemon({ home: d.home });
    const { createHash } = await import('node:crypto');
    const start = records(d.home).at(-1)!;
    expect(start.detail!.recovery.discarded).toEqual({ lines: 1, bytes: partial.length, sha256: createHash('sha256').update(partial).digest('hex') });
    expect(lines(d.home).slice(0, whole.length)).toEqual(whole);
    expect((await d.cli(['audit', 'verify'])).code).toBe(0);
  });

  it('keeps a gap in the numbering when records named by the head were cut, so verify reports them', async () => {
    d = await withRecords(4);
    await d.stop();
    const all = lines(d.home);
    writeFileSync(join(d.home, 'state', 'audit.jsonl'), all.slice(0, -3).join('\n') + '\n');
    d = await startDaemon({ home: d.home });
    const start = records(d.home).at(-1)!;
    const lastKept = JSON.parse(all[all.length - 4]).seq;
    expect(start.detail!.recovery.missing).toEqual({ from: lastKept + 1, to: lastKept + 3 });
    const v = await d.cli(['audit', 'verify', '--json']);
    expect(v.code).toBe(1);
    expect(JSON.parse(v.stdout).problem).toMatchObject({ kind: 'removed' });
  });

  it('keeps the head within one write batch of the log under load', async () => {
    d = await withRecords(0);
    await Promise.all(Array.from({ length: 60 }, (_, i) => d!.api('agent', 'POST', '/v1/sessions', { agent: `load${i}` })));
    // Killed without a chance to write a last head: what is on disk is what a crash leaves.
    d.process.kill('SIGKILL');
    await new Promise((r) => d!.process.once('exit', r));
    const head = JSON.parse(readFileSync(join(d.home, 'state', 'audit.head'), 'utf8')) as { seq: number };
    const recs = records(d.home);
    const last = recs.at(-1)!;
    const behind = recs.filter((r) => r.seq > head.seq);
    // Every record the head does not cover was written in the same batch as the last one.
    for (const r of behind) expect(r.time).toBe(last.time);
    expect(behind.length).toBeLessThan(60);
    d = undefined;
  }, 120_000);
});
