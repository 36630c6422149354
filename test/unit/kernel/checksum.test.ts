import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { base62Decode, base62Encode, base62FromBytes, crc32, tokenChecksum, verifyTokenChecksum } from '../../../kernel/checksum.js';

describe('token checksums', () => {
  it('crc32 is the standard CRC-32 (check value, empty input, strings as UTF-8, every byte value)', () => {
    expect(crc32('123456789')).toBe(0xcbf43926);
    expect(crc32('')).toBe(0);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32('é')).toBe(zlibCrc32(Buffer.from('é', 'utf8')));
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(crc32(all)).toBe(zlibCrc32(all));
    expect(crc32(all.reverse())).toBe(zlibCrc32(all));
  });

  it('base62 encodes with its alphabet, most significant digit first, padded to the width', () => {
    expect(base62Encode(0)).toBe('');
    expect(base62Encode(0, 3)).toBe('000');
    expect(base62Encode(61)).toBe('z');
    expect(base62Encode(62)).toBe('10');
    expect(base62Encode(10 * 62 + 36, 4)).toBe('00Aa');
    expect(base62Encode(0xffffffff, 6)).toBe('4gfFC3');
    expect(base62Encode(62n ** 6n - 1n, 6)).toBe('zzzzzz');
  });

  it('base62 decodes its own encoding and refuses any other character', () => {
    expect(base62Decode('')).toBe(0n);
    expect(base62Decode('00Aa')).toBe(BigInt(10 * 62 + 36));
    expect(base62Decode('4gfFC3')).toBe(0xffffffffn);
    expect(base62Decode('zzzzzz')).toBe(62n ** 6n - 1n);
    expect(base62Decode('12-4')).toBeUndefined();
    expect(base62Decode('_')).toBeUndefined();
    expect(base62Decode('abc ')).toBeUndefined();
  });

  it('base62 of bytes pads to the width any value of that many bytes needs', () => {
    expect(base62FromBytes(Uint8Array.of(0xff, 0xff, 0xff, 0xff))).toBe('4gfFC3');
    expect(base62FromBytes(Uint8Array.of(0, 0, 0, 1))).toBe('000001');
    expect(base62FromBytes(Uint8Array.of(1, 0))).toBe('048');
    expect(base62FromBytes(new Uint8Array(0))).toBe('');
  });

  it('a token checks out only with the CRC of its random part as its last 6 characters', () => {
    const random = 'Ab3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6kM9nP2';
    const checksum = tokenChecksum(random);
    expect(checksum).toBe(base62Encode(crc32(random), 6));
    expect(checksum).toHaveLength(6);
    expect(verifyTokenChecksum(`kwg_${random}${checksum}`)).toBe(true);
    // The prefix is not part of the checksum; the random part is everything after the last `_`.
    expect(verifyTokenChecksum(`kws_${random}${checksum}`)).toBe(true);
    expect(verifyTokenChecksum(`a_b_${random}${checksum}`)).toBe(true);
    expect(verifyTokenChecksum(`${random}${checksum}`)).toBe(true);
    // One character changed anywhere breaks it.
    expect(verifyTokenChecksum(`kwg_${random.replace('A', 'B')}${checksum}`)).toBe(false);
    expect(verifyTokenChecksum(`kwg_${random}${checksum.slice(0, -1)}${checksum.endsWith('0') ? '1' : '0'}`)).toBe(false);
    expect(verifyTokenChecksum(`kwg_${random}x${checksum}`)).toBe(false);
    // A checksum that is not base62, or no random part at all.
    expect(verifyTokenChecksum(`kwg_${random}${checksum.slice(0, -1)}-`)).toBe(false);
    expect(verifyTokenChecksum(`kwg_${checksum}`)).toBe(false);
    expect(verifyTokenChecksum('kwg_')).toBe(false);
    // Six characters are a checksum alone: the CRC of an empty random part (0) does not count.
    expect(tokenChecksum('')).toBe('000000');
    expect(verifyTokenChecksum('kwg_000000')).toBe(false);
    expect(verifyTokenChecksum('')).toBe(false);
    // The shortest token that checks out: one random character.
    expect(verifyTokenChecksum(`kwg_x${tokenChecksum('x')}`)).toBe(true);
    expect(verifyTokenChecksum(`kwg_x${tokenChecksum('y')}`)).toBe(false);
  });
});
