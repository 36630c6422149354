import type { ValidatorName } from '../types.js';
import { verifyTokenChecksum } from '../../kernel/checksum.js';

/**
 * Offline validators: checks that need no network. A validator returns `true` (the structure or
 * checksum is right: the finding becomes `validated`) or `false` (it is not a real token of that
 * kind: the match is dropped).
 */
export const validators: Record<ValidatorName, (secret: string) => boolean> = {
  'crc32-base62': verifyTokenChecksum,
  jwt: isJwt,
  'pem-private-key': isPemPrivateKey,
  'openssh-private-key': isUnencryptedOpenSshKey,
  'base64-json': (secret) => decodesToJsonObject(secret, 'base64') !== undefined,
  'aws-access-key-id': (secret) => /^(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}$/.test(secret),
  'slack-webhook': (secret) => /\/services\/T[A-Z0-9]{6,}\/B[A-Z0-9]{6,}\/[A-Za-z0-9]{20,}$/.test(secret),
  'basic-auth-base64': isBasicAuthBase64,
  'luhn-free': () => true,
};

/** `dXNlcjpwYXNz` → `user:pass`: printable, a user name, and a password of at least four characters. */
function isBasicAuthBase64(secret: string): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(secret) || secret.length % 4 !== 0) return false;
  const text = Buffer.from(secret, 'base64').toString('utf8');
  const m = /^([^:]{1,128}):([\x21-\x7e]{4,})$/.exec(text);
  return m !== null && !/^(?:password|passwd|pass|secret|changeme|token|\*+|x+)$/i.test(m[2]);
}

function decodesToJsonObject(text: string, encoding: 'base64' | 'base64url'): Record<string, unknown> | undefined {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(text, encoding).toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A JWT: header with `alg`, a JSON object payload, and a signature segment unless `alg` is `none`. */
export function isJwt(token: string): boolean {
  const parts = token.split('.');
  if (parts.length !== 3) return false;
  const header = decodesToJsonObject(parts[0], 'base64url');
  const payload = decodesToJsonObject(parts[1], 'base64url');
  if (!header || !payload || typeof header.alg !== 'string') return false;
  if (header.alg.toLowerCase() === 'none') return parts[2] === '';
  return /^[A-Za-z0-9_-]{16,}$/.test(parts[2]);
}

const PEM = /^-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY(?: BLOCK)?-----([\s\S]*?)-----END \1PRIVATE KEY(?: BLOCK)?-----$/;

/** Markers that agree, a body that is base64 and long enough, and no encryption. */
export function isPemPrivateKey(block: string): boolean {
  const m = PEM.exec(block.replace(/\r/g, '').replace(/\\n/g, '\n').trim());
  if (!m) return false;
  const label = m[1].trim();
  if (label === 'ENCRYPTED') return false; // PKCS#8 EncryptedPrivateKeyInfo: protected by a passphrase
  const lines = m[2]
    .split('\n')
    .map((l) => l.trim().replace(/^["']|["',]+$/g, ''))
    .filter(Boolean);
  // Legacy OpenSSL headers ("Proc-Type: 4,ENCRYPTED", "DEK-Info: ...") precede the body.
  if (lines.some((l) => /^Proc-Type:.*ENCRYPTED/i.test(l))) return false;
  const body = lines.filter((l) => !/^[A-Za-z-]+:/.test(l)).join('');
  if (label === 'PGP') return body.length >= 64; // armored PGP: radix-64 plus a CRC24 line
  if (label === 'OPENSSH') return isUnencryptedOpenSshKey(block);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body) || body.length < 64) return false;
  const der = Buffer.from(body, 'base64');
  return der.length > 32 && der[0] === 0x30; // a DER SEQUENCE
}

const OPENSSH_MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');

/** The openssh-key-v1 container with cipher `none`. */
export function isUnencryptedOpenSshKey(block: string): boolean {
  const body = block
    .replace(/\\n/g, '\n')
    .replace(/-----(BEGIN|END) OPENSSH PRIVATE KEY-----/g, '')
    .replace(/[\s"',]/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return false;
  const raw = Buffer.from(body, 'base64');
  if (raw.length < OPENSSH_MAGIC.length + 8 || !raw.subarray(0, OPENSSH_MAGIC.length).equals(OPENSSH_MAGIC)) return false;
  const cipherLength = raw.readUInt32BE(OPENSSH_MAGIC.length);
  const cipher = raw.toString('latin1', OPENSSH_MAGIC.length + 4, OPENSSH_MAGIC.length + 4 + cipherLength);
  return cipher === 'none';
}
