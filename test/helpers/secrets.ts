import { randomBytes } from 'node:crypto';
import { base62Encode, crc32 } from '../../kernel/checksum.js';

/**
 * Secrets made up at run time in each provider's documented shape, so tests never carry a fixed
 * key and every run uses fresh values.
 */
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function randomAlnum(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += ALNUM[bytes[i] % ALNUM.length];
  return out;
}

/** A GitHub-format token with a correct CRC32 checksum (`ghp_`, `gho_`, `npm_`…). */
export function checksummedToken(prefix: string, randomLength = 30): string {
  const random = randomAlnum(randomLength);
  return `${prefix}${random}${base62Encode(crc32(random), 6)}`;
}

export const githubToken = () => checksummedToken('ghp_');

export function awsKeyId(): string {
  const b32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bytes = randomBytes(16);
  return 'AKIA' + [...bytes].map((b) => b32[b % 32]).join('');
}

export function anthropicKey(): string {
  const chars = ALNUM + '-_';
  const bytes = randomBytes(93);
  return 'sk-ant-api03-' + [...bytes].map((b) => chars[b % chars.length]).join('') + 'AA';
}
