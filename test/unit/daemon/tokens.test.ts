import { describe, expect, it } from 'vitest';
import { Detector } from '../../../scanners/detect/detector.js';
import { builtinRules } from '../../../scanners/rules/index.js';
import { digestsEqual, isWellFormedToken, newToken, tokenDigest } from '../../../daemon/tokens.js';
import { formatDuration, parseDuration } from '../../../kernel/units.js';

describe('tokens', () => {
  it('are prefix + 43 base62 + a 6-character checksum, and differ every time', () => {
    const a = newToken('kwg');
    const b = newToken('kwg');
    expect(a).toMatch(/^kwg_[A-Za-z0-9]{49}$/);
    expect(a).not.toBe(b);
    expect(isWellFormedToken(a, 'kwg')).toBe(true);
    expect(isWellFormedToken(a, 'kws')).toBe(false);
    expect(isWellFormedToken(a.slice(0, -1) + (a.endsWith('A') ? 'B' : 'A'), 'kwg')).toBe(false);
  });
  it("are found and validated by keyward's own scanner when they leak", () => {
    const token = newToken('kws');
    const [m] = new Detector(builtinRules).detect({ path: 'leak.log', data: Buffer.from(`export KEYWARD_SESSION=${token}\n`) });
    expect(m).toMatchObject({ ruleId: 'keyward-session-token', confidence: 'validated' });
  });
  it('are compared by digest', () => {
    const t = newToken('kwg');
    expect(digestsEqual(tokenDigest(t), tokenDigest(t))).toBe(true);
    expect(digestsEqual(tokenDigest(t), tokenDigest(newToken('kwg')))).toBe(false);
  });
});

describe('durations', () => {
  it('parses and formats', () => {
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('90')).toBeUndefined();
    expect(parseDuration('soon')).toBeUndefined();
    expect(formatDuration(5_400_000)).toBe('1h30m');
  });
});

describe('base62 of bytes', () => {
  it('agrees with big-integer arithmetic, including leading zero bytes', async () => {
    const { base62FromBytes, base62Encode } = await import('../../../kernel/checksum.js');
    const { randomBytes } = await import('node:crypto');
    for (let i = 0; i < 200; i++) {
      const bytes = randomBytes(32);
      if (i % 10 === 0) bytes[0] = 0;
      if (i % 20 === 0) bytes.fill(0, 0, 5);
      let n = 0n;
      for (const b of bytes) n = (n << 8n) | BigInt(b);
      expect(base62FromBytes(bytes)).toBe(base62Encode(n, 43));
    }
    expect(base62FromBytes(new Uint8Array(32))).toBe('0'.repeat(43));
  });
});
