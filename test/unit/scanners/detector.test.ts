import { describe, expect, it } from 'vitest';
import { KeywordAutomaton } from '../../../scanners/detect/aho.js';
import { base62Encode, crc32, verifyTokenChecksum } from '../../../kernel/checksum.js';
import { Detector } from '../../../scanners/detect/detector.js';
import { shannonEntropy } from '../../../scanners/detect/entropy.js';
import { BLOCK_SIZE, scanBuffer } from '../../../scanners/engine/scan-bytes.js';
import { isJwt } from '../../../scanners/detect/validators.js';
import { builtinRules } from '../../../scanners/rules/index.js';
import { fingerprint, redact } from '../../../scanners/ruleset.js';
import type { Rule } from '../../../scanners/types.js';
import { checksummedToken, githubToken } from '../../helpers/secrets.js';

const all = new Detector(builtinRules);
const detect = (text: string, path = 'src/config.txt') => all.detect({ path, data: Buffer.from(text) });

describe('KeywordAutomaton', () => {
  it('finds every occurrence of every keyword, case-insensitively, including overlaps', () => {
    const ac = new KeywordAutomaton(['he', 'she', 'his', 'hers']);
    const hits: [number, number][] = [];
    ac.scan(Buffer.from('uSHErs his'), (k, end) => hits.push([k, end]));
    expect(hits).toEqual([
      [1, 4],
      [0, 4],
      [3, 6],
      [2, 10],
    ]);
  });
});

describe('checksums', () => {
  it('computes the standard CRC32', () => {
    expect(crc32('123456789')).toBe(0xcbf43926);
  });
  it('accepts a correctly checksummed token and rejects any single-character change', () => {
    const token = checksummedToken('ghp_');
    expect(verifyTokenChecksum(token)).toBe(true);
    for (const i of [4, 20, token.length - 1]) {
      const c = token[i] === 'a' ? 'b' : 'a';
      expect(verifyTokenChecksum(token.slice(0, i) + c + token.slice(i + 1))).toBe(false);
    }
  });
  it('pads base62 to the requested width', () => {
    expect(base62Encode(0, 6)).toBe('000000');
    expect(base62Encode(61, 2)).toBe('0z');
  });
});

describe('Detector', () => {
  it('reports 1-based line and column in characters, after multi-byte text', () => {
    const token = githubToken();
    const [m] = detect(`ünïcödé\n  héllo → ${token}\n`);
    expect(m).toMatchObject({ ruleId: 'github-classic-pat', line: 2, column: 11, secret: token, confidence: 'validated' });
  });

  it('drops a token whose checksum fails instead of reporting it', () => {
    const token = githubToken();
    const broken = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    expect(detect(`GITHUB_TOKEN=${broken}`).filter((m) => m.ruleId === 'github-classic-pat')).toEqual([]);
  });

  it('lets a specific rule win over the generic rule on the same secret', () => {
    const ids = detect(`api_token = "${githubToken()}"`).map((m) => m.ruleId);
    expect(ids).toEqual(['github-classic-pat']);
  });

  it('marks lines carrying keyward:allow', () => {
    const [m] = detect(`T=${githubToken()} # keyward:allow`);
    expect(m.inlineAllowed).toBe(true);
  });

  it('maps lines through a diff line map', () => {
    const [m] = all.detect({ path: 'a', data: Buffer.from(`x\nT=${githubToken()}`), lineMap: [10, 42] });
    expect(m.line).toBe(42);
  });

  it('drops generic findings in test paths but keeps provider-specific ones', () => {
    const generic = 'api_key = "q8Zr2Lm9Xv4Tp7Kw1Ns6"';
    expect(detect(generic, 'src/app.py').map((m) => m.ruleId)).toEqual(['generic-secret-assignment']);
    expect(detect(generic, 'tests/test_app.py')).toEqual([]);
    expect(detect(`T=${githubToken()}`, 'tests/test_app.py').map((m) => m.ruleId)).toEqual(['github-classic-pat']);
  });

  it('finds a multi-line PEM key written with escaped newlines in JSON', () => {
    const pem = builtinRules.find((r) => r.id === 'private-key-pem')!.truePositives[0];
    const json = JSON.stringify({ type: 'service_account', private_key: pem });
    expect(detect(json).map((m) => m.ruleId)).toContain('private-key-pem');
  });

  it('refuses a rule without keywords', () => {
    const rule: Rule = { id: 'x', description: 'x', provider: 'x', keywords: [], pattern: 'x', truePositives: [], falsePositives: [] };
    expect(() => new Detector([rule])).toThrow(/no keywords/);
  });
});

describe('large inputs', () => {
  it('finds secrets on both sides of and across block boundaries, with the right lines', () => {
    const tokens = [githubToken(), githubToken(), githubToken()];
    const filler = 'x'.repeat(99) + '\n';
    const lines: string[] = [];
    const target = Math.ceil((BLOCK_SIZE * 2.5) / filler.length);
    const at = [10, Math.floor(BLOCK_SIZE / filler.length) - 1, target - 5];
    for (let i = 0; i < target; i++) lines.push(at.includes(i) ? `token=${tokens[at.indexOf(i)]}`.padEnd(99, ' ') + '\n' : filler);
    // A keyword just before a boundary whose secret starts just after it.
    const data = Buffer.from(lines.join(''));
    const result = scanBuffer(all, 'big.txt', data);
    expect(result.matches.map((m) => [m.secret, m.line])).toEqual(tokens.map((t, i) => [t, at[i] + 1]));
  });
});

describe('entropy, fingerprint, redaction', () => {
  it('measures Shannon entropy in bits per character', () => {
    expect(shannonEntropy('aaaa')).toBe(0);
    expect(shannonEntropy('abcd')).toBe(2);
  });
  it('fingerprints rule id and secret with sha256', () => {
    // printf 'r:s' | sha256sum
    expect(fingerprint('r', 's')).toBe('44c71f3e87e3599e14890254d522998ae2c12aacfb7cdd227998477183ca4173');
    expect(fingerprint('r', 's')).not.toBe(fingerprint('r2', 's'));
  });
  it('redacts all but a short public prefix of long secrets, and all of short ones', () => {
    expect(redact('ghp_abcdefghijklmnopqrstuvwxyz')).toBe('ghp_********');
    expect(redact('hunter2hunter')).toBe('********');
  });
});

describe('JWT structure', () => {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  it('accepts a signed token and an unsigned alg:none one, rejects malformed ones', () => {
    expect(isJwt(`${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: '1' })}.${'s'.repeat(20)}`)).toBe(true);
    expect(isJwt(`${b64({ alg: 'none' })}.${b64({ sub: '1' })}.`)).toBe(true);
    expect(isJwt(`${b64({ typ: 'JWT' })}.${b64({ sub: '1' })}.${'s'.repeat(20)}`)).toBe(false);
    expect(isJwt(`${b64({ alg: 'HS256' })}.bm90IGpzb24.${'s'.repeat(20)}`)).toBe(false);
  });
});

describe('KeywordAutomaton on large buffers (two interleaved streams)', () => {
  it('reports exactly the occurrences a naive search finds, in order, whatever the size', () => {
    const keywords = ['token', 'ghp_', 'sk-ant-api', 'secret_access_key', 'ab', 'bab'];
    const ac = new KeywordAutomaton(keywords);
    const alphabet = 'abTOKENtoken_ghp-sk-antapisecret_access_key \n';
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (const size of [0, 1, 100, 511, 512, 513, 1000, 4097, 20000]) {
      let text = '';
      for (let i = 0; i < size; i++) text += alphabet[Math.floor(rand() * alphabet.length)];
      // Put one long keyword across the middle, where the two streams meet.
      if (size > 100) text = text.slice(0, size / 2 - 8) + 'SECRET_ACCESS_KEY' + text.slice(size / 2 + 9);
      const expected: [number, number][] = [];
      const lower = text.toLowerCase();
      for (let end = 1; end <= lower.length; end++) {
        keywords.forEach((k, i) => {
          if (end >= k.length && lower.slice(end - k.length, end) === k) expected.push([i, end]);
        });
      }
      const got: [number, number][] = [];
      ac.scan(Buffer.from(text), (k, end) => got.push([k, end]));
      // Hits come out in order of their end offset (the detector relies on it).
      for (let i = 1; i < got.length; i++) expect(got[i][1]).toBeGreaterThanOrEqual(got[i - 1][1]);
      const order = (a: [number, number], b: [number, number]) => a[1] - b[1] || a[0] - b[0];
      expect(got.sort(order), `size ${size}`).toEqual(expected.sort(order));
    }
  });
});

describe('large inputs: encodings and columns', () => {
  it('scans a UTF-16 file larger than a block', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { scanFile } = await import('../../../scanners/engine/scan-bytes.js');
    const dir = mkdtempSync(join(tmpdir(), 'kw-utf16-'));
    const token = githubToken();
    const text = 'filler line\r\n'.repeat(Math.ceil((BLOCK_SIZE * 1.2) / 13)) + `GITHUB_TOKEN=${token}\r\n`;
    writeFileSync(join(dir, 'big.txt'), Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
    const r = scanFile(all, join(dir, 'big.txt'), 'big.txt', 64 * 1024 * 1024);
    expect(r.skipped).toBeUndefined();
    expect(r.matches.map((m) => m.secret)).toEqual([token]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts columns in characters on a multi-byte line that spans blocks', () => {
    const token = githubToken();
    const prefix = 'é'.repeat(Math.ceil(BLOCK_SIZE / 2) + 1000); // 2 bytes each: the line crosses a block edge
    const data = Buffer.from(`first line\n${prefix} t=${token}\n`);
    const [m] = scanBuffer(all, 'x.txt', data).matches;
    expect(m).toMatchObject({ line: 2, column: prefix.length + 4 });
  });
});
