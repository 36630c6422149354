import type { Rule } from '../types.js';

// Test keys generated for these examples only; they guard nothing.
const OPENSSH_UNENCRYPTED = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACBr19AVQcwmhuqxF97pIp5xkOad4z6cHyyQt86w31ThCgAAAIg+s5zSPrOc
0gAAAAtzc2gtZWQyNTUxOQAAACBr19AVQcwmhuqxF97pIp5xkOad4z6cHyyQt86w31ThCg
AAAEDYiC0UHv4scdxvLNAUPJcns8LApvCf2eklaag3Y5g5oGvX0BVBzCaG6rEX3ukinnGQ
5p3jPpwfLJC3zrDfVOEKAAAAAAECAwQF
-----END OPENSSH PRIVATE KEY-----`;
const OPENSSH_ENCRYPTED = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABCrl4Imy+
tyOZwWbif7P/cdAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIGSqIVYXeCMicUic
WWEGsKV93+e/98b7obqv0ZSJmq81AAAAkEwfR0IH2QecXB9c8gYAZGdFXnaDaTKMe6dFAx
5FQ/xB6yS+0FuIZ4hiLYMjEl0mY/IOifBUAl8D4T5g8eL8gmSnKY7awAFXKj2algvb+hXt
3J5autwpW5qUD6GZa+H1p9WLN9OzJoVdeoXxl9JrjDEOFWjGVtKwHrOTnnuM3dCjShPDJG
r2JD8751qlSxZhsA==
-----END OPENSSH PRIVATE KEY-----`;
const PKCS8 = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgVWCuKHYda7qqmQ4t
iaY9WM8+rzxTDB9KuaHXjRBQvrehRANCAATw0ZU5J/MjsZ84LuGy0DoLcE9i7i5E
o/u2HWympTwkrLX7ndvnALfx7Uc+XPE0A2X16clSdtmwwHUYj5Na5Az3
-----END PRIVATE KEY-----`;
const SEC1 = `-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIIm2e2098LRyyMpwOuZwrMQBqjAmKFaGvCcCflddz48uoAoGCCqGSM49
AwEHoUQDQgAEpAewstE6gMKcxMrwV8krVFdmKxxjtpb7MHrpGtC+8pPKyVZ65eHn
gnj6izrU9yzRhdOST+SAfKV5omZCiCLenQ==
-----END EC PRIVATE KEY-----`;

/** Characters of a PEM body, with headers, indentation and JSON-escaped newlines. */
const PEM_BODY = '[A-Za-z0-9+/=\\s:,\\\\-]';
/**
 * A PEM block up to 16 KiB, written with real or JSON-escaped (`\n`) newlines. A body carrying
 * the word EXAMPLE before its END line is a documentation key (AWS's docs mark theirs so).
 */
const pemBlock = (labels: string) =>
  `(?<secret>-----BEGIN (?:${labels})PRIVATE KEY-----(?:\\\\n|\\r?\\n)(?!(?:(?!-----END)${PEM_BODY}){0,16384}?EXAMPLE)${PEM_BODY}{40,16384}?-----END (?:${labels})PRIVATE KEY-----)`;

export const privateKeyRules: Rule[] = [
  {
    id: 'private-key-pem',
    description: 'Unencrypted private key in PEM form (RSA, EC, DSA, PKCS#8)',
    provider: 'private-key',
    keywords: ['private key-----'],
    pattern: pemBlock('RSA |EC |DSA |'),
    validate: 'pem-private-key',
    window: { after: 20000 },
    filters: false,
    truePositives: [PKCS8, SEC1, `{"private_key": "${PKCS8.replace(/\n/g, '\\n')}"}`],
    falsePositives: [
      '-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----',
      `"PrivateKey": "-----BEGIN EC PRIVATE KEY-----\\n${SEC1.split('\n').slice(1, -1).join('').replace('AwEHoUQDQgAE', 'AwEHoUQEXAMPLE')}\\n-----END EC PRIVATE KEY-----\\n"`,
      `-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,3F8C3B2A9C1D4E5F6A7B8C9D0E1F2A3B\n\n${PKCS8.split('\n').slice(1, -1).join('\n')}\n-----END RSA PRIVATE KEY-----`,
      '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8NGVOSfzI7GfOC7hstA6C3BPYu4u\n-----END PUBLIC KEY-----',
    ],
  },
  {
    id: 'private-key-openssh',
    description: 'Unencrypted OpenSSH private key',
    provider: 'private-key',
    keywords: ['begin openssh private key'],
    pattern: pemBlock('OPENSSH '),
    validate: 'openssh-private-key',
    window: { after: 20000 },
    filters: false,
    truePositives: [OPENSSH_UNENCRYPTED],
    falsePositives: [
      OPENSSH_ENCRYPTED,
      '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END OPENSSH PRIVATE KEY-----',
    ],
  },
  {
    id: 'private-key-pgp',
    description: 'PGP private key block',
    provider: 'private-key',
    keywords: ['begin pgp private key block'],
    pattern: '(?<secret>-----BEGIN PGP PRIVATE KEY BLOCK-----(?:\\\\n|\\r?\\n)[A-Za-z0-9+/=\\s:.,()\\\\-]{64,65536}?-----END PGP PRIVATE KEY BLOCK-----)',
    validate: 'pem-private-key',
    window: { after: 70000 },
    filters: false,
    truePositives: [
      '-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlFgEZk0p3xYJKwYBBAHaRw8BAQdAn3q2l0nS1X8C8n3b5yq1qf4xkSx7m0wQbXr1\nJtq3Yr0AAQCk0m3J9Qp8m2gVYwQ7cKJ8dU3z1t9Yq7n2Jc0Xf5m7Ew8btB1UZXN0\n=Ab3d\n-----END PGP PRIVATE KEY BLOCK-----',
    ],
    falsePositives: [
      '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZk0p3xYJKwYBBAHaRw8BAQdAn3q2l0nS1X8C8n3b5yq1qf4xkSx7m0wQbXr1\n-----END PGP PUBLIC KEY BLOCK-----',
      '-----BEGIN PGP PRIVATE KEY BLOCK-----\n...\n-----END PGP PRIVATE KEY BLOCK-----',
    ],
  },
  {
    id: 'private-key-putty',
    description: 'Unencrypted PuTTY private key (.ppk)',
    provider: 'private-key',
    keywords: ['putty-user-key-file-'],
    pattern:
      '(?<secret>PuTTY-User-Key-File-[23]: [a-z0-9-]{3,40}\\r?\\nEncryption: none\\r?\\n[^\\0]{0,8192}?Private-Lines: \\d{1,3}\\r?\\n[A-Za-z0-9+/=\\r\\n]{20,8192}?Private-MAC: [0-9a-f]{40,64})',
    window: { after: 20000 },
    filters: false,
    truePositives: [
      'PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy@build\nPublic-Lines: 2\nAAAAC3NzaC1lZDI1NTE5AAAAIGvX0BVBzCaG6rEX3ukinnGQ5p3jPpwfLJC3zrDf\nVOEK\nPrivate-Lines: 1\nAAAAINiILRQe/ixx3G8s0BQ8lyezwsCm8J/Z6SVpqDdjmDmg\nPrivate-MAC: 8d2c0f4b7e1a9c3d5f6e7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d',
    ],
    falsePositives: [
      'PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: aes256-cbc\nComment: deploy@build\nPublic-Lines: 2\nAAAAC3NzaC1lZDI1NTE5AAAAIGvX0BVBzCaG6rEX3ukinnGQ5p3jPpwfLJC3zrDf\nVOEK\nPrivate-Lines: 1\nAAAAINiILRQe/ixx3G8s0BQ8lyezwsCm8J/Z6SVpqDdjmDmg\nPrivate-MAC: 8d2c0f4b7e1a9c3d5f6e7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d',
    ],
  },
];
