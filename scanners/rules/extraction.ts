import type { Rule } from '../types.js';

/**
 * Secrets outside `name = value` syntax: credentials on command lines (curl, wget, httpie,
 * `docker login`, PowerShell and CLI flags), in log lines, in XML elements and attributes, and in
 * Docker's config.json. Each reports the value only, at its own line and column. Like the generic
 * rule they yield to any specific rule on the same bytes and pass its false-positive filters
 * (references, identifiers, paths, test files).
 */

const re = String.raw;

/** A value on a command line: not a flag, not a variable or template reference. */
const CLI_VALUE = re`(?![-$%<{(])(?<secret>[^\s"'\`;|&<>]{8,256})`;

/** Names that say a value is a secret, in XML element and attribute names. */
const SECRET_NAME = re`(?:password|passwd|pwd|secret|client[_.-]?secret|api[_.-]?key|apikey|(?:access|auth|api|bearer|refresh)[_.-]?token|token|access[_.-]?key|private[_.-]?key|connection[_.-]?string)`;

export const extractionRules: Rule[] = [
  {
    id: 'cli-basic-auth',
    description: 'Password in a user:password option of curl, wget, httpie or xh',
    provider: 'http',
    keywords: ['-u ', '-u=', '--user', '-a ', '--auth'],
    pattern: re`(?<![\w.-])(?:curl|wget|https?|xh)(?:\.exe)?(?:\s[^\n]{0,300}?)?\s(?:-u|--user|-a|--auth)(?:=|[ \t]+)["']?[^\s:"'$]{1,64}:(?![$%<{])(?<secret>[^\s"']{6,128})(?=["']?(?:\s|$))`,
    entropy: 2.5,
    generic: true,
    truePositives: [
      'curl -u deploy:Vq3xT9mPz2Lk https://ci.internal.acme.io/api/json',
      "curl --user 'admin:h7Wd!2pQz9xR' -X POST https://registry.acme.io/v2/token",
      'http -a ci:R4nd0mPassW0rk https://api.acme.io/builds',
    ],
    falsePositives: [
      'curl -u "$USER:$PASSWORD" https://ci.acme.io',
      'curl -u admin:admin http://localhost:8080',
      'git log -a -u origin:main --stat',
      'curl -u user:<password> https://api.acme.io',
    ],
  },
  {
    id: 'cli-secret-flag',
    description: 'Secret passed as a command-line flag (--password, --client-secret, -ClientSecret, --token, ...)',
    provider: 'generic',
    keywords: ['password', 'passwd', 'secret', 'token', 'api-key', 'apikey'],
    pattern:
      re`(?<![\w-])(?:--(?:[a-z]+-){0,2}(?:password|passwd|secret|token|api-?key)|-(?:ClientSecret|Password|PlainTextPassword|ApiKey|AccessToken|Token|Secret|SecretKey))` +
      re`(?:=|[ \t]+)(?:["'](?=[^"'\n]{8,256}["']))?${CLI_VALUE}`,
    entropy: 3,
    generic: true,
    truePositives: [
      "Connect-AzAccount -ServicePrincipal -ClientSecret 'Wq7~Ls2Kx9pVm4Rz8Tn1' -Tenant acme.onmicrosoft.com",
      'terraform login --token qH7zN2kW9xR4tL6mV8pB3cJ5 app.terraform.io',
      'wget --http-password=Tk9pW2mQ7zXv4LrN https://files.acme.io/a.tgz',
      'mongosh --username app --password r8Jf2LqW7zPx5 mongodb.acme.io',
    ],
    falsePositives: [
      'mysql --password="$DB_PASSWORD" app',
      'gh auth login --with-token < token.txt',
      'az login --service-principal --password ${{ secrets.AZURE_SECRET }}',
      'kubectl create secret generic app --from-literal=user=admin',
      '  --token-file /var/run/secrets/kubernetes.io/serviceaccount/token',
      '--password-stdin',
    ],
  },
  {
    id: 'cli-login-password',
    description: 'Password given with -p to docker, podman, helm or az login, sshpass or mysql',
    provider: 'generic',
    keywords: ['login', 'sshpass', 'mysql'],
    pattern:
      re`(?:(?<![\w-])(?:docker|podman|nerdctl|buildah|helm(?:\s+registry)?|oras|skopeo|az)\s+login\b[^\n|;&]{0,160}?\s(?:-p|--password)(?:=|[ \t]+)["']?|` +
      re`(?<![\w-])sshpass\s+-p\s*["']?|(?<![\w-])mysql(?:dump|admin)?\s[^\n|;&]{0,120}?\s-p["']?(?=[^\s"']{6}))${CLI_VALUE}`,
    entropy: 3,
    generic: true,
    truePositives: [
      'docker login -u ci -p Qm7xZ2pL9vK4tR8w registry.acme.io',
      "sshpass -p 'vN4q!Lz8Rw2m' ssh root@10.0.4.12",
      'mysql -uroot -pK8s2LqW9zXv4 app < dump.sql',
      'az login --service-principal -u 7f1c2d3e-0000-4000-8000-5f6a7b8c9d0e -p wQ8~rT2zLm5pX7vN3kB9 --tenant acme',
    ],
    falsePositives: [
      'docker login -u "$CI_USER" -p "$CI_TOKEN" registry.acme.io',
      'mysql -u root -p app',
      'docker login --password-stdin -u ci registry.acme.io',
      'sshpass -p "$PASS" ssh host',
    ],
  },
  {
    id: 'stdin-login-password',
    description: 'Literal password piped into a --password-stdin login',
    provider: 'generic',
    keywords: ['password-stdin'],
    pattern: re`(?<![\w-])(?:echo|printf)\s+(?:-n\s+)?["']?(?![-$%<{])(?<secret>[^\s"'|;&]{8,256})["']?\s*\|\s*(?:docker|podman|nerdctl|helm(?:\s+registry)?|oras|skopeo)\s+login\b[^\n]{0,200}--password-stdin`,
    entropy: 3,
    generic: true,
    truePositives: ["echo 'Zk8pW3mQ7vXr2LtN' | docker login -u ci --password-stdin registry.acme.io"],
    falsePositives: ['echo "$REGISTRY_TOKEN" | docker login -u ci --password-stdin registry.acme.io', 'cat ~/token.txt | docker login --password-stdin'],
  },
  {
    id: 'log-line-key',
    description: 'Key printed in a log line ("Using key=…", "authenticating with api key …")',
    provider: 'generic',
    keywords: ['using key', 'using api key', 'using apikey', 'with key', 'with api key', 'with apikey', 'using token', 'with token'],
    pattern: re`(?<![\w-])(?:using|with)\s+(?:api\s?|access\s|auth\s)?(?:key|token)(?:\s*[=:]\s*|\s+)["']?(?![$%<{])(?<secret>[A-Za-z0-9_+/=.~-]{16,256})(?![A-Za-z0-9_+/=.~-])`,
    flags: 'i',
    entropy: 3.3,
    generic: true,
    truePositives: ['2024-05-01T10:00:00Z INFO client: Using key=Rz7kQ2mW9pXv4LtN8cB3', '[auth] authenticating with api key hT5nW8qZ2kLm7RvX3pC9'],
    falsePositives: [
      'INFO Using key=/etc/app/keys/service.pem',
      'DEBUG using token from environment variable GITHUB_TOKEN',
      'Sign the request with key abcdefghijklmnopqrstuvwxyz',
    ],
  },
  {
    id: 'xml-secret-element',
    description: 'Secret in an XML element named for it (<password>…</password>)',
    provider: 'generic',
    keywords: ['password>', 'passwd>', 'pwd>', 'secret>', 'key>', 'token>', 'string>'],
    pattern: re`<(?:[\w.-]+:)?(?<name>[\w.-]{0,24}${SECRET_NAME})(?:\s[^>]{0,120})?>\s*(?![$%<{])(?<secret>[^<\s]{8,256})\s*</(?:[\w.-]+:)?\k<name>>`,
    flags: 'i',
    entropy: 3,
    generic: true,
    truePositives: [
      '<password>Vr7#kP2!mQz9xL4t</password>',
      '<server>\n  <id>releases</id>\n  <username>deploy</username>\n  <password>h8Kq2WzL9pXv3mRt</password>\n</server>',
      '<ns:ApiKey>Qm7xZ2pL9vK4tR8wN1cB</ns:ApiKey>',
    ],
    falsePositives: [
      '<password>${env.NEXUS_PASSWORD}</password>',
      '<passwordPolicy>StrongPasswordPolicy</passwordPolicy>',
      '<token>{{ token }}</token>',
      '<secret>classpath:secrets/app.jks</secret>',
    ],
  },
  {
    id: 'xml-secret-attribute',
    description: 'Secret in an XML key/value setting (<add key="ApiKey" value="…"/>, <entry key="password">…</entry>)',
    provider: 'generic',
    keywords: ['<add', '<entry', '<property', '<setting', '<param', '<parameter', '<item'],
    pattern:
      re`<(?:add|entry|property|setting|param|parameter|item)\b[^>]{0,160}?\b(?:key|name)\s*=\s*["'][\w.:-]{0,40}${SECRET_NAME}[\w.:-]{0,20}["']` +
      re`(?:[^>]{0,80}?\bvalue\s*=\s*["'](?![$%<{])(?<secret>[^"'\s]{8,256})["']|[^>]{0,40}?>\s*(?![$%<{])(?<inner>[^<\s]{8,256})\s*<)`,
    flags: 'i',
    entropy: 3,
    generic: true,
    truePositives: ['<add key="ApiKey" value="Qm7xZ2pL9vK4tR8wN1cB" />', '<property name="db.password" value="Vr7kP2mQz9xL4tWs"/>'],
    falsePositives: [
      '<add key="ApiKey" value="%API_KEY%" />',
      '<property name="password.encoder" value="org.acme.BCryptEncoder"/>',
      '<add key="TokenLifetime" value="00:30:00" />',
    ],
  },
  {
    id: 'xml-secret-entry',
    description: 'Secret as the text of an XML entry named for it (<entry key="secret">…</entry>)',
    provider: 'generic',
    keywords: ['<entry', '<property', '<setting', '<item'],
    pattern: re`<(?:entry|property|setting|item)\b[^>]{0,80}?\b(?:key|name)\s*=\s*["'][\w.:-]{0,40}${SECRET_NAME}[\w.:-]{0,20}["'][^>]{0,40}?>\s*(?![$%<{])(?<secret>[^<\s]{8,256})\s*<`,
    flags: 'i',
    entropy: 3,
    generic: true,
    truePositives: ['<entry key="secret">Zq8vN3kR7tW2pL5xC9mB</entry>', '<setting name="ClientSecret" serializeAs="String">wQ8~rT2zLm5pX7vN3kB9</setting>'],
    falsePositives: ['<entry key="secret">${SECRET}</entry>', '<entry key="tokenizer">org.apache.lucene.Standard</entry>'],
  },
  {
    id: 'docker-config-auth',
    description: 'Registry credentials in Docker config.json (auths.<registry>.auth = base64 of user:password)',
    provider: 'docker',
    keywords: ['"auth"'],
    pattern: re`"auth"\s*:\s*"(?<secret>[A-Za-z0-9+/]{8,1024}={0,2})"`,
    validate: 'basic-auth-base64',
    migrate: 'docker',
    truePositives: [
      '{"auths":{"registry.acme.io":{"auth":"Y2k6WnE4dk4za1I3dFcycEw1eEM5bUI0aEo2"}}}',
      '{\n  "auths": {\n    "ghcr.io": {\n      "auth": "ZGVwbG95OnFIN3pOMmtXOXhSNHRMNg=="\n    }\n  }\n}',
    ],
    falsePositives: ['{"auths":{"registry.acme.io":{"auth":""}}}', '{"auth": "Bearer"}', '{"auths":{"ghcr.io":{"auth":"dXNlcm5hbWU6cGFzc3dvcmQ="}}}'],
  },
];
