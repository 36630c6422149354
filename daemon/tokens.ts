import { createHash, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';
import { base62FromBytes, tokenChecksum, verifyTokenChecksum } from '../kernel/checksum.js';

/**
 * keyward's capability tokens: `kws_` (a session) and `kwg_` (a grant). A token is the prefix,
 * 32 random bytes in base62 (43 characters) and a 6-character base62 CRC32 of those 43, so that
 * keyward's own scanner recognises and validates a leaked one offline. The daemon keeps only
 * sha256 digests of tokens and compares digests in constant time.
 */
export type TokenKind = 'kws' | 'kwg';

/** Random bytes from a refilled pool: one getrandom call per 128 tokens instead of one each. */
const pool = Buffer.alloc(4096);
let poolAt = pool.length;
export function pooledRandom(n: number): Buffer {
  if (n > pool.length) return randomBytes(n);
  if (poolAt + n > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const out = Buffer.from(pool.subarray(poolAt, poolAt + n));
  pool.fill(0, poolAt, poolAt + n);
  poolAt += n;
  return out;
}

export function newToken(kind: TokenKind, random: (n: number) => Buffer = pooledRandom): string {
  const body = base62FromBytes(random(32));
  return `${kind}_${body}${tokenChecksum(body)}`;
}

/** Shape and checksum only: cheap rejection of garbage before any lookup. */
export function isWellFormedToken(token: string, kind: TokenKind): boolean {
  return token.length === 4 + 43 + 6 && token.startsWith(`${kind}_`) && /^[A-Za-z0-9]+$/.test(token.slice(4)) && verifyTokenChecksum(token);
}

export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Constant-time comparison of two digests. */
export function digestsEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
