/**
 * The checksum scheme of GitHub's and npm's token formats, which keyward's own `kwg_`/`kws_`
 * tokens reuse: the last 6 characters are the CRC32 of the random part, in base62, zero-padded.
 */
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(data: string | Uint8Array): number {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Encodes a non-negative integer in base62, left-padded with `0` to `width`. */
export function base62Encode(value: number | bigint, width = 0): string {
  let n = BigInt(value);
  let out = '';
  while (n > 0n) {
    out = BASE62[Number(n % 62n)] + out;
    n /= 62n;
  }
  return out.padStart(width, '0');
}

/**
 * Encodes bytes as a base62 big-endian integer, padded to the length that any value of that size
 * needs. Long division on the bytes: no BigInt, as the daemon makes a token per grant.
 */
export function base62FromBytes(bytes: Uint8Array): string {
  const width = Math.ceil((bytes.length * 8) / Math.log2(62));
  const digits = Array.from(bytes);
  let out = '';
  let start = 0;
  while (start < digits.length) {
    let remainder = 0;
    for (let i = start; i < digits.length; i++) {
      const value = remainder * 256 + digits[i];
      digits[i] = Math.floor(value / 62);
      remainder = value % 62;
    }
    out = BASE62[remainder] + out;
    while (start < digits.length && digits[start] === 0) start++;
  }
  return out.padStart(width, '0');
}

export function base62Decode(text: string): bigint | undefined {
  let n = 0n;
  for (const ch of text) {
    const digit = BASE62.indexOf(ch);
    if (digit < 0) return undefined;
    n = n * 62n + BigInt(digit);
  }
  return n;
}

/** The 6-character checksum for a token's random part. */
export function tokenChecksum(random: string): string {
  return base62Encode(crc32(random), 6);
}

/**
 * Checks a `prefix_<random><checksum>` token. The random part is everything between the last
 * underscore and the final 6 characters.
 */
export function verifyTokenChecksum(token: string): boolean {
  const underscore = token.lastIndexOf('_');
  const body = token.slice(underscore + 1);
  if (body.length <= 6) return false;
  const random = body.slice(0, -6);
  const expected = base62Decode(body.slice(-6));
  return expected !== undefined && expected === BigInt(crc32(random));
}
