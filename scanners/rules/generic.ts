import type { Rule } from '../types.js';

/**
 * The broad fallback: a value assigned to a name that says it is a secret. It yields to every
 * specific rule, needs entropy, and passes the stricter generic filters (references, identifiers,
 * hashes, UUIDs, integrity strings, test paths).
 */

/**
 * "token" names whose values are public or not credentials at all: pagination cursors
 * (NextToken, page_token, ContinuationToken), idempotency and request ids (ClientRequestToken),
 * CSRF tokens, DNS verification records, purchase receipts.
 */
const PUBLIC_TOKEN = '(?:next|page|continuation|verification|purchase|idempotency|csrf|xsrf|request|sync|cancel(?:lation)?|pagination)[ _.-]?';

/**
 * Not followed by `_id`: `AccessKeyId`, `api_key_id`, `token_id` name an identifier, not the
 * secret. (`secret` is also not `SecretsManager`, the service.)
 */
const NOT_ID = '(?![_.-]?ids?(?![a-z]))';

const NAME =
  `(?:(?:api[_.-]?key|apikey)${NOT_ID}|secret(?!s?[_.-]?manager|[_.-]?key[_.-]?ids?(?![a-z]))(?:[_.-]?key)?|` +
  `(?:access|auth|api|bearer|refresh|private|client|service)[_.-]?token${NOT_ID}|` +
  `(?<!${PUBLIC_TOKEN})token(?!i[sz])${NOT_ID}|` + // not tokenizer, tokenise
  `passw(?:or)?d|pwd|(?:access|auth|private|signing|encryption|master)[_.-]?key${NOT_ID}|client[_.-]?secret|credentials?${NOT_ID})`;

/**
 * Where the name may not start: right after a `::` scope operator (`AWS::IAM::AccessKey`,
 * `tokenstream::TokenStream`), inside an ARN (`arn:aws:secretsmanager:*:*:secret:name-*`),
 * inside a URL on a documentation or loopback host
 * (`https://example.com/cb#access_token=…`), in a Codecov badge URL (`badge.svg?token=`: public by
 * design), or in a Zoom meeting link (`zoom.us/j/…?pwd=`: published with the meeting).
 */
const NOT_AFTER =
  // The lookahead first: the lookbehinds then run only where a name starts, not at every position.
  '(?=api|secret|access|auth|bearer|refresh|private|client|service|token|passw|pwd|signing|encryption|master|credential)' +
  '(?<!::)(?<!\\.svg\\?)(?<!\\barn:[^\\s"\'<>]{0,120})' +
  `(?<!(?:\\b(?:example\\.(?:com|org|net)|localhost|127\\.0\\.0\\.1)[:/?#]|zoom\\.us/)[^\\s"'<>]{0,200})`;

/**
 * One character of a value: `&` only when it does not start the next `&name=` of a query string
 * and does not end the line (a query string continued on the next line).
 */
const VALUE_CHAR = '(?:[A-Za-z0-9+/=_~!@#%^*.:|-]|&(?![A-Za-z_][A-Za-z0-9_.-]{0,40}=|[ \\t]*$))';

export const genericRules: Rule[] = [
  {
    id: 'generic-secret-assignment',
    description: 'Secret-looking value assigned to a secret-looking name',
    provider: 'generic',
    // Every spelling of the names NAME accepts: a bare "key" would fire on every keyboard and monkey.
    keywords: [
      'token',
      'secret',
      'passw',
      'pwd',
      'credential',
      ...['api', 'access', 'auth', 'private', 'signing', 'encryption', 'master'].flatMap((p) => ['', '_', '-', '.'].map((sep) => `${p}${sep}key`)),
    ],
    pattern:
      // Starts at the name's keyword, not before it: a leading class-run would make the regex
      // engine try every position of every window. `=` is not `==` and `:` is not `::` or `://`;
      // the value does not start with `=` or `:`.
      `${NOT_AFTER}${NAME}[A-Za-z0-9_-]{0,20}["'\`]?[ \\t]{0,8}(?::=|=>|\\?=|=(?![=~])|:(?![:=\\\\]|//))[ \\t]{0,8}(?:[rbu]?["'\`])?` +
      `(?<secret>(?![=:])${VALUE_CHAR}{10,256})(?=["'\`]|&(?:[A-Za-z_][A-Za-z0-9_.-]{0,40}=|[ \\t]*$)|[ \\t]*(?:$|[;,)}\\]\\r\\n#]))`,
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
      'curl "https://api.acme.io/v1/items?access_token=Qm7xZ2pL9vK4tR8wN1cB&format=json"',
      'password="Vr7#kP2&mQz9xL4t"',
      "Acme::API_TOKEN = 'Qm7xZ2pL9vK4tR8wN1cB5jH3'",
      '{"auth_token":"dG9rZW4tNzY0Mi1zZWNyZXQtdmFsdWU"}',
      'private_key: 0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318',
      '    token: rs7X5h.QFSHwRxfnBm8BiJEMXySFaAv3LeppK',
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
      // Shapes seen in real packages and documentation
      '"AWS::ApiGateway::ApiKey": "48205d4ffd7feba3",',
      '#3: 0x95CACC9: reserve&lt;syntax::tokenstream::TokenStream,alloc::alloc::Global&gt;',
      'if expectedTokenType==Token.EOF:',
      '"Resource": "arn:aws:secretsmanager:*:*:secret:rds-custom!*"',
      '"SecretsManagerReadWrite": "arn:aws:iam::aws:policy/SecretsManagerReadWrite",',
      '"secretsmanager:ResourceTag/aws:secretsmanager:owningService": "datasync"',
      '"secretsmanager:ResourceTag/DocDBElasticFullAccess":"*"',
      '"kms:EncryptionContext:SecretARN":"arn:aws:secretsmanager:*:${aws:PrincipalAccount}:secret:amazon-bedrock*",',
      'fin = open("s3://aws_access_key_id:aws_secret_access_key@bucket/key")',
      'self, private_key: ed25519.Ed25519PrivateKey, f_priv: _FragList',
      'credentials._private_key_pkcs8_pem = private_key_pkcs8_pem',
      'token_uri=oauth2client.GOOGLE_TOKEN_URI,',
      '"X-aws-ec2-metadata-token-ttl-seconds": _IMDSV2_SESSION_TOKEN_TTL_SECONDS',
      'per_token_loss = -per_token_logps',
      '_TOKEN_PATH = "latest/api/token"',
      'SERVICE_ACCOUNT_TOKEN_TYPE = "urn:k8s:params:oauth:token-type:serviceaccount"',
      '"hf_tokenizer_name": "timm/ViT-B-16-SigLIP",',
      'downgrade_token="%s_downgrades" % name,',
      '"PasswordLastUsed": "2016-09-08T21:47:36Z",',
      '"Password": "SomeKindOfPassword123!@#",',
      '"AccessKeyId": "TESTACCESSKEY12345",',
      '"NextContinuationToken": "1w41l63U0xa8q7smH50vCxyTQqdxo69O3EmK28Bi5PcROI4wI/EyIJg==",',
      '"VerificationToken": "QTKknzFg2J4ygwa+XvHAxUl1hyHoY0gVfZdfjIedHZ0=",',
      'Next page token: eav1OzQB0OM8rLdGXOEsyQWSG',
      '"PurchaseToken": "eyJ2IjoiMSIsInMiOjEsImMiOi...",',
      'client_secret="GOCSPX-abc123...",',
      "password: 'bm90IG15IHJlYWwgcGFzc3dvcmQ=',",
      ">>> uri = 'https://example.com/callback#access_token=sdlfkj452&state=ss345asyht&token_type=Bearer'",
      '"access_token":"2YotnFZFEjr1zCsicMWpAA",',
      '[![codecov](https://codecov.io/gh/acme/app/graph/badge.svg?token=m5ZQrMd3vk)](https://codecov.io/gh/acme/app)',
      '- Where: [Zoom](https://zoom.us/j/95228013874?pwd=Kq7HIk8t9JP6VToxt1Wj4P7K5P)',
      "'otpauth://totp/user@example.org?secret=S3JDVB7QD2R7JPXX&issuer=myservice'",
      '"Message": "https://logs.s3.amazonaws.com/tail.out?AWSAccessKeyId=AKGPT4J56IAJ2EUBL5CQ&Expires=1440195891&Signature=n%2BE"',
      '"private_key_id": "Qm7xZ2pL9vK4tR8wN1cB5jH3",',
      'curve_secret_key_len = crypto_sign_curve25519_BYTES',
      'oauth_token=hh5s93j4hdidpola&oauth_token_secret=hdhd0244k9j7ao03&',
      // Values that say where or which, not what: files, versions, package specs, digests, addresses
      'TRUSTSTORE_PASSWORD_FILE=/etc/app/trust.jks',
      'SSL.PrivateKey=server_priv.pem',
      'token_vcpkg=libfoo:x64-windows=fail',
      'API_KEY_VERSION=rc1.4.0_20240101-SNAPSHOT',
      'secret_lib=jackson-databind-2.15.2',
      'token_image=sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
      'auth_token_image=ghcr.io/acme/app@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
      'token_address = "0x742d35Cc6634C0532925a3b844Bc454e4438f44e"',
      'credentials_email=ops-team@acme-corp.io',
      'token: v1.2.3-beta.4+build.567',
      'auth_key_name=keyring-2024-01-prod',
      'this.lastTokStart=this.pos,this.lastToken=this.lastTokStartLoc=null',
    ],
  },
];
