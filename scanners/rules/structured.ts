import type { Rule } from '../types.js';

/** Passwords that local development setups use on purpose: not long-lived secrets worth a finding. */
const DEFAULT_PASSWORDS = '(?!(?:password|passwd|pass|secret|changeme|postgres|mysql|root|admin|user|guest|test|example|redis|rabbitmq|mongo|pwd|\\*+|x+)@)';
/** User names that only documentation uses: `https://user:…@`, `myusername:…`, `[username]:…`. */
const DOCUMENTATION_USERS = '(?!\\[?(?:user(?:name)?|(?:my|some|your|fake)[_-]?user(?:name)?)\\]?:)';
/**
 * Hosts reserved for documentation and tests (RFC 2606, RFC 6761): example.com/.net/.org and the
 * .test, .example and .invalid top-level domains.
 */
const RESERVED_HOSTS = '(?!(?:[A-Za-z0-9-]{1,63}\\.){0,8}example\\.(?:com|net|org)(?![A-Za-z0-9.-])|(?:[A-Za-z0-9-]{1,63}\\.){1,8}(?:test|example|invalid)(?![A-Za-z0-9.-]))';

export const structuredRules: Rule[] = [
  {
    id: 'jwt',
    description: 'JSON Web Token',
    provider: 'jwt',
    keywords: ['eyj'],
    pattern: '(?<![A-Za-z0-9_-])(?<secret>eyJ[A-Za-z0-9_-]{10,4096}\\.eyJ[A-Za-z0-9_-]{10,16384}\\.(?:[A-Za-z0-9_-]{16,2048})?)(?![A-Za-z0-9_.-])',
    validate: 'jwt',
    // Filters on: documented tokens (jwt.io's John Doe, library READMEs) and payloads with
    // placeholder words are dropped; the filters also look inside the decoded payload.
    truePositives: [
      'Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzdmMtYmlsbGluZyIsInJvbGUiOiJzZXJ2aWNlX3JvbGUiLCJpYXQiOjE3MTYwMDAwMDB9.k3Jq9v0Xb7nR2mL5pT8wQ1zY4cH6dF0sA2gE9uI3oKx',
    ],
    falsePositives: [
      'eyJhbGciOiJIUzI1NiJ9.eyJub3QiOiJqc29u.sig', // payload does not decode to JSON
      'eyJmb28iOiJiYXIifQ.eyJzdWIiOiIxMjM0NTY3ODkwIn0.k3Jq9v0Xb7nR2mL5pT8wQ1zY4cH6dF0s', // header without alg
      // jwt.io's example payload (sub 1234567890, John Doe) with any signature
      'token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.k3Jq9v0Xb7nR2mL5pT8wQ1zY4cH6dF0sA2gE9uI3oKx"',
      // payload {"iss":"https://auth.example.com","sub":"svc"}
      'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20iLCJzdWIiOiJzdmMifQ.k3Jq9v0Xb7nR2mL5pT8wQ1zY4cH6dF0sA2gE9uI3oKx',
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzb21lIjoicGF5bG9hZCJ9.4twFt5NiznN84AWoo1d7KO1T_yoc0Z6XOpOVswacPZg', // PyJWT README
    ],
  },
  {
    id: 'database-url-password',
    description: 'Database or message broker URL with a password',
    provider: 'database',
    keywords: [
      'postgres://',
      'postgresql://',
      'mysql://',
      'mariadb://',
      'mongodb://',
      'mongodb+srv://',
      'redis://',
      'rediss://',
      'amqp://',
      'amqps://',
      'mssql://',
      'sqlserver://',
      'clickhouse://',
      'cockroachdb://',
      'nats://',
      'kafka://',
      'couchbase://',
      'neo4j://',
      'neo4j+s://',
      'bolt://',
      'oracle://',
      'jdbc:',
    ],
    pattern:
      '(?<![A-Za-z0-9+.-])(?:jdbc:)?(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\\+srv)?|rediss?|amqps?|mssql|sqlserver|clickhouse|cockroachdb|nats|kafka|couchbase|neo4j(?:\\+s)?|bolt|oracle)://' +
      DOCUMENTATION_USERS +
      '[^\\s:@/"\'`<>{}]{0,128}:' +
      DEFAULT_PASSWORDS +
      '(?<secret>[^\\s@/"\'`<>{}$]{3,256})@' +
      RESERVED_HOSTS +
      '[A-Za-z0-9._-]{1,253}',
    flags: 'i',
    // Four-letter test passwords ("hush", "p4ss") are not worth a finding; real ones pass easily.
    entropy: 2,
    migrate: 'generic',
    truePositives: [
      'DATABASE_URL=postgres://app:Zq8vK2mLp9wT@db.internal.acme.io:5432/app',
      'mongodb+srv://svc:H7fQ2kX9pLm3@cluster0.ab1cd.mongodb.net/prod?retryWrites=true',
      'REDIS_URL=rediss://default:AVNS_k2Jf8QmX7pL1zR4@redis-prod.acme.io:6379',
    ],
    falsePositives: [
      'postgres://postgres:postgres@localhost:5432/dev',
      'postgres://user:${DB_PASSWORD}@db:5432/app',
      'mysql://user:<password>@host/db',
      'postgres://db.internal:5432/app',
      'redis://localhost:6379',
      'redis://[[username]:[password]]@localhost:6379/0',
      '>>> db_connection_url = "postgresql://myusername:mypassword@myhost:5432/mydb"',
      'postgres://user:p#ssword!@localhost/foobar',
      'postgresql://app:Zq8vK2mLp9wT@db.example.com:5432/app',
      'postgresql://warehouse:topsecret@db:26257/x',
      'redis://:p4ss@cache:6379',
    ],
  },
  {
    // A bearer, basic or token credential sent as a header: curl lines in shell history, MCP
    // `headers` blocks, scripts. Generic: any provider-specific rule on the same token wins.
    id: 'http-authorization-header',
    description: 'Credential in an HTTP Authorization header',
    provider: 'http',
    keywords: ['authorization'],
    pattern:
      '(?<![A-Za-z0-9_-])authorization["\'`]?[ \\t]{0,4}[:=][ \\t]{0,4}["\'`]?(?:bearer|basic|token|apikey)[ \\t]{1,4}(?<secret>[A-Za-z0-9._~+/=-]{16,2048})(?![A-Za-z0-9._~+/=-])',
    flags: 'i',
    entropy: 3.2,
    generic: true,
    migrate: 'generic',
    truePositives: [
      "curl -H 'Authorization: Bearer 7Jq2vXk9LmPz4Rt8Nw3cB6hY1sD5fG0a' https://api.acme.io/v1/me",
      '"headers": { "Authorization": "Bearer mcp_live_Zk4pQ8vN2xR7tL1wC9bH3jF6" }',
      'Authorization: Basic ZGVwbG95OnE4Vm4yWHI3dEwxd0M5Ykgz',
    ],
    falsePositives: [
      'Authorization: Bearer ${API_TOKEN}',
      '"Authorization": "Bearer <your-token>"',
      'Authorization: Bearer $(cat ~/.token)',
      'authorization_url = "https://auth.acme.io/oauth/authorize"',
      'Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==', // RFC 7617
      'headers["Authorization"] = "Bearer " + token',
    ],
  },
  {
    id: 'url-basic-auth',
    description: 'HTTP(S) or FTP URL with a password',
    provider: 'url',
    keywords: ['http://', 'https://', 'ftp://', 'ftps://'],
    pattern:
      '(?<![A-Za-z0-9+.-])(?:https?|ftps?)://' +
      DOCUMENTATION_USERS +
      "[A-Za-z0-9._~%!$&'()*+,;=-]{1,128}:" +
      DEFAULT_PASSWORDS +
      "(?<secret>[A-Za-z0-9._~%!&'()*+,;=-]{6,256})@" +
      RESERVED_HOSTS +
      '[A-Za-z0-9-]{1,63}(?:\\.[A-Za-z0-9-]{1,63})+',
    entropy: 2.5,
    truePositives: ['https://deploy:g7Hk2pQx9vLm@registry.acme.io/v2/', 'pip install --index-url https://ci:Xk29fLqP3mZt@pypi.acme.io/simple pkg'],
    falsePositives: [
      'https://user:password@example.com/',
      'https://git@github.com/acme/app.git',
      'https://example.com/a:b@c',
      'http://localhost:8080',
      'https://user:he%2F%2Fo@pypi.company.com/simple',
      "'https://sigmavirus24:not-re%40l@github.com/sigmavirus24/rfc3986'",
      'ESQL.row(uri="http://deploy:g7Hk2pQx9vLm@www.example.com:80/foo.gif")',
      '"https://fakeuser:fakepass@en.wikipedia.org/wiki/Foo_(bar)."',
      '"[b](https://deploy:g7Hk2pQx9vLm@private.test/doc)"',
    ],
  },
];
