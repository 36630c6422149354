import type { Rule } from '../types.js';

/**
 * The broad fallback: a value assigned to a name that says it is a secret. It yields to every
 * specific rule, needs entropy, and passes the stricter generic filters (references, identifiers,
 * hashes, UUIDs, integrity strings, test paths).
 */
const NAME =
  '(?:api[_.-]?key|apikey|secret(?:[_.-]?key)?|(?:access|auth|api|bearer|refresh|private|client|service)[_.-]?token|token|passw(?:or)?d|pwd|(?:access|auth|private|signing|encryption|master)[_.-]?key|client[_.-]?secret|credentials?)';

export const genericRules: Rule[] = [
  {
    id: 'generic-secret-assignment',
    description: 'Secret-looking value assigned to a secret-looking name',
    provider: 'generic',
    // Every spelling of the names NAME accepts: a bare "key" would fire on every keyboard and monkey.
    keywords: [
      'token', 'secret', 'passw', 'pwd', 'credential',
      ...['api', 'access', 'auth', 'private', 'signing', 'encryption', 'master'].flatMap((p) => ['', '_', '-', '.'].map((sep) => `${p}${sep}key`)),
    ],
    pattern:
      // Starts at the name's keyword, not before it: a leading class-run would make the regex
      // engine try every position of every window.
      `${NAME}[A-Za-z0-9_-]{0,20}["'\`]?[ \\t]{0,8}(?::=|=>|\\?=|=|:)[ \\t]{0,8}(?:[rbu]?["'\`])?` +
      `(?<secret>[A-Za-z0-9+/=_~!@#%^&*.:|-]{10,256})(?=["'\`]|[ \\t]*(?:$|[;,)}\\]\\r\\n#]))`,
    flags: 'im',
    entropy: 3.3,
    generic: true,
    migrate: 'generic',
    truePositives: [
      'api_key = "9f8Kq2LmX7vPz4Rt1Nw6"',
      'export SERVICE_TOKEN=Qm7xZ2pL9vK4tR8wN1cB5jH3',
      '"client_secret": "dG9rZW4tNzY0Mi1zZWNyZXQtdmFsdWU"',
      'db:\n  password: Vr7#kP2!mQz9xL4t',
      "PASSWORD := 'w8Q!zR3@pL6#vN1m'",
    ],
    falsePositives: [
      'api_key = "YOUR_API_KEY"',
      'api_key = os.environ["API_KEY"]',
      'token = ${GITHUB_TOKEN}',
      'password = getPassword()',
      'const tokenService: TokenService = new TokenService()',
      'secret_key = "<token>"',
      'token: "xxxxxxxxxxxxxxxxxxxxxxxx"',
      'request_id = "3f2b8c1e-5d4a-4e6f-9b7c-2a1d0e3f4b5c"',
      'commit_token = 4b825dc642cb6eb9a060e54bf8d69288fbee4904',
      '"integrity": "sha512-KZjE5uF1qzOqAFIDgHbpdU0ZIdQyzm0o5rB0hB4Lj6bt1cF2bX8bHbh+MDB0OHz1Y7sUcb4pn7f3fRXsR2R1Jg=="',
      'password = "password123"',
      'key_path = /etc/ssl/private/server.key',
    ],
  },
];
