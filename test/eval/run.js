#!/usr/bin/env node
// `npm run eval`: recall and false-positive rate of `keyward scan` on a labelled set built on the
// spot: secrets drawn at random in each provider's documented format (test/eval/formats.js),
// embedded in the file shapes they are found in (.env, YAML, JSON, code, shell scripts, curl
// commands, CI files, Kubernetes manifests, Docker config, XML, logs), and decoy files shaped like
// real code that hold none (hashes, digests, UUIDs, versions, paths, placeholders, references).
// Same seed, same set. Nothing in it was copied from another scanner's test data.
//
// Usage: npm run eval [-- --seed 7] [--copies 3] [--json out.json]
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { prng } from '../bench/corpus.js';
import { tokenChecksum } from '../../dist/kernel/checksum.js';
import { A, PREFIXED, UNPREFIXED } from './formats.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values } = parseArgs({
  options: { seed: { type: 'string', default: '13' }, copies: { type: 'string', default: '3' }, json: { type: 'string' }, work: { type: 'string', default: join(ROOT, '.eval') } },
});
const rand = prng(Number(values.seed));
const int = (n) => Math.floor(rand() * n);
const pick = (xs) => xs[int(xs.length)];
const draw = (alphabet, n) => Array.from({ length: n }, () => A[alphabet][int(A[alphabet].length)]).join('');
const hex = (n) => draw('hex', n);
const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-${pick(['8', '9', 'a', 'b'])}${hex(3)}-${hex(12)}`;
const checksummed = (n) => {
  const random = draw('b62', n);
  return random + tokenChecksum(random);
};
/** A random value in a documented shape; re-drawn until it mixes letters and digits and has no long runs. */
function value(spec) {
  for (;;) {
    const v = spec
      .map((p) => (typeof p === 'string' ? p : p.uuid ? uuid() : p.checksummed ? checksummed(p.checksummed) : draw(p[0], p.length > 2 ? p[1] + int(p[2] - p[1] + 1) : p[1])))
      .join('');
    if (!/(.)\1{4}|1234|abcd|xxxx|test|fake|demo|dumm|exam|sampl/i.test(v)) return v;
  }
}
const camel = (name) => name.toLowerCase().replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
const pw = () => draw('b62', 6) + pick(['!', '#', '%', '@', '_', '-']) + draw('b62', 8);

/** Templates that embed one secret: [category label, file name, text]. `${v}` is the secret. */
const EMBED = [
  (n, v) => ['env', '.env', `# ${n.split('_')[0].toLowerCase()} settings\nNODE_ENV=production\nPORT=8080\n${n}=${v}\nLOG_LEVEL=info\n`],
  (n, v) => ['yaml', 'config/settings.yaml', `app:\n  name: billing\n  replicas: 3\nintegrations:\n  ${n.toLowerCase()}: "${v}"\n`],
  (n, v) => ['json', 'config/local.json', JSON.stringify({ server: { port: 3000 }, secrets: { [camel(n)]: v } }, null, 2) + '\n'],
  (n, v) => ['python', 'app/clients.py', `import os\nimport requests\n\n${n} = "${v}"\n\ndef get(path):\n    return requests.get(BASE + path, timeout=10)\n`],
  (n, v) => ['javascript', 'src/config.js', `export const config = {\n  region: 'eu-west-1',\n  ${camel(n)}: '${v}',\n};\n`],
  (n, v) => ['shell', 'scripts/deploy.sh', `#!/usr/bin/env bash\nset -euo pipefail\nexport ${n}="${v}"\n./bin/release --env prod\n`],
  (n, v) => [
    'ci',
    '.github/workflows/release.yml',
    `name: release\non: push\njobs:\n  publish:\n    runs-on: ubuntu-latest\n    env:\n      ${n}: ${v}\n    steps:\n      - uses: actions/checkout@v4\n`,
  ],
  (n, v) => ['docker-compose', 'docker-compose.yml', `services:\n  api:\n    image: acme/api:1.4.2\n    environment:\n      - ${n}=${v}\n      - PORT=8080\n`],
  (n, v) => ['dockerfile', 'Dockerfile', `FROM node:20-alpine\nWORKDIR /app\nENV ${n}=${v}\nCOPY . .\nCMD ["node", "server.js"]\n`],
  (n, v) => ['terraform', 'infra/main.tf', `provider "acme" {\n  region = "eu-west-1"\n}\n\nvariable "${n.toLowerCase()}" {\n  default = "${v}"\n}\n`],
];

/** Templates for credentials outside name = value syntax. */
const FORMAT_AWARE = [
  () => {
    const v = pw();
    return ['curl -u', 'scripts/ping.sh', `#!/bin/sh\ncurl -fsS -u deploy:${v} https://ci.acme.io/api/json\n`, v];
  },
  () => {
    const v = draw('b62', 32);
    return ['curl header', 'scripts/call.sh', `curl -X POST https://api.acme.io/v2/jobs \\\n  -H "X-Api-Key: ${v}" \\\n  -d @job.json\n`, v];
  },
  () => {
    const v = draw('b62', 28);
    return ['curl bearer', 'docs/usage.md', `\`\`\`\ncurl -H 'Authorization: Bearer ${v}' https://api.acme.io/v1/me\n\`\`\`\n`, v];
  },
  () => {
    const v = pw();
    return ['wget', 'scripts/fetch.sh', `wget --user=ci --password=${v} https://files.acme.io/build.tgz\n`, v];
  },
  () => {
    const v = pw();
    return ['docker login', 'scripts/push.sh', `docker login -u ci -p ${v} registry.acme.io\ndocker push registry.acme.io/app:latest\n`, v];
  },
  () => {
    const v = `${draw('url', 3)}8Q~${draw('url', 34)}`;
    return ['powershell', 'scripts/login.ps1', `$tenant = "acme.onmicrosoft.com"\nConnect-AzAccount -ServicePrincipal -ClientSecret '${v}' -Tenant $tenant\n`, v];
  },
  () => {
    const v = pw();
    return [
      'connection string',
      'appsettings.json',
      JSON.stringify({ ConnectionStrings: { Default: `Server=db.acme.io;Database=app;User Id=app;Password=${v};` } }, null, 2) + '\n',
      v,
    ];
  },
  () => {
    const v = draw('b64', 86) + '==';
    return [
      'azure storage',
      'appsettings.Production.json',
      `{"Storage": "DefaultEndpointsProtocol=https;AccountName=acmeprod;AccountKey=${v};EndpointSuffix=core.windows.net"}\n`,
      v,
    ];
  },
  () => {
    const v = pw();
    return [
      'xml element',
      'settings.xml',
      `<settings>\n  <servers>\n    <server>\n      <id>releases</id>\n      <username>deploy</username>\n      <password>${v}</password>\n    </server>\n  </servers>\n</settings>\n`,
      v,
    ];
  },
  () => {
    const v = draw('b62', 30);
    return ['xml attribute', 'Web.config', `<configuration>\n  <appSettings>\n    <add key="PaymentApiKey" value="${v}" />\n  </appSettings>\n</configuration>\n`, v];
  },
  () => {
    const v = pw();
    const b = Buffer.from(v).toString('base64');
    return [
      'k8s secret',
      'k8s/secret.yaml',
      `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n  username: ${Buffer.from('app').toString('base64')}\n  password: ${b}\n`,
      b,
    ];
  },
  () => {
    const v = `${draw('url', 6)}.${draw('url', 30)}`;
    return ['kubeconfig token', 'kubeconfig', `apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n    token: ${v}\n`, v];
  },
  () => {
    const b = Buffer.from(`ci:${pw()}`).toString('base64');
    return ['docker config', '.docker/config.json', JSON.stringify({ auths: { 'registry.acme.io': { auth: b } } }, null, 2) + '\n', b];
  },
  () => {
    const v = draw('b62', 24);
    return ['log line', 'logs/app.log', `2024-06-01T10:00:00Z INFO  starting worker\n2024-06-01T10:00:01Z DEBUG client: using key=${v}\n`, v];
  },
  () => {
    const v = pw();
    return ['cli flag', 'Makefile', `deploy:\n\tmongosh --username app --password ${v} mongodb.acme.io/app\n`, v];
  },
  () => {
    const v = pw();
    return ['url credentials', '.env', `DATABASE_URL=postgres://app:${v}@db.acme.io:5432/app\n`, v];
  },
];

/** Decoy files: shapes real repositories are full of, with nothing secret in them. */
const DECOYS = [
  () => [
    'package-lock.json',
    JSON.stringify(
      {
        packages: {
          'node_modules/left-pad': {
            version: `1.${int(9)}.${int(20)}`,
            resolved: 'https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz',
            integrity: `sha512-${Buffer.from(hex(64), 'hex').toString('base64')}`,
          },
        },
      },
      null,
      2,
    ),
  ],
  () => ['go.sum', `github.com/acme/lib v1.${int(20)}.${int(9)} h1:${Buffer.from(hex(64), 'hex').toString('base64')}\n`],
  () => ['Dockerfile', `FROM node:20-alpine@sha256:${hex(64)}\nARG TOKEN_FILE=/run/secrets/npm_token\nRUN --mount=type=secret,id=npm_token npm ci\n`],
  () => [
    '.env.example',
    `API_KEY=your-api-key-here\nSECRET_KEY=changeme\nDATABASE_URL=postgres://user:password@localhost:5432/app\nSTRIPE_SECRET_KEY=sk_live_xxxxxxxxxxxxxxxxxxxxxxxx\n`,
  ],
  () => [
    'src/settings.py',
    `import os\nSECRET_KEY = os.environ["SECRET_KEY"]\nAPI_TOKEN = os.getenv("API_TOKEN", "")\nPASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]\n`,
  ],
  () => ['src/ids.ts', `export const TENANT_ID = '${uuid()}';\nexport const REQUEST_ID = '${uuid()}';\nexport const COMMIT = '${hex(40)}';\n`],
  () => ['CHANGELOG.md', `## ${int(5)}.${int(20)}.${int(10)}\n- Fix token refresh (${hex(7)})\n- Bump jackson-databind-2.15.${int(9)}\n- Merge ${hex(40)}\n`],
  () => ['contracts/addresses.json', JSON.stringify({ tokenAddress: `0x${hex(40)}`, owner: `0x${hex(40)}` }, null, 2)],
  () => [
    'k8s/deploy.yaml',
    `apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: ghcr.io/acme/api@sha256:${hex(64)}\n          env:\n            - name: API_TOKEN\n              valueFrom:\n                secretKeyRef: { name: api, key: token }\n`,
  ],
  () => ['config/app.properties', `ssl.truststore.location=/etc/app/truststore.jks\nssl.keystore.password=\${KEYSTORE_PASSWORD}\njavax.net.ssl.trustStore=/etc/pki/java/cacerts\n`],
  () => ['styles/theme.css', `.btn { color: #${hex(6)}; background: #${hex(6)}; }\n.token { font-family: monospace; }\n`],
  () => ['src/auth.test.ts', `it('rejects a bad token', () => {\n  expect(verify('not-a-real-token')).toBe(false);\n});\n`],
  () => ['README.md', `Set \`OPENAI_API_KEY\` to your key (it starts with \`sk-\`).\n\n    export OPENAI_API_KEY=<your key>\n\nThe token expires after ${int(60)} minutes.\n`],
  () => [
    'scripts/build.sh',
    `#!/bin/sh\ncurl -fsSL -H "Authorization: Bearer $GITHUB_TOKEN" https://api.github.com/repos/acme/app\ndocker login -u "$CI_USER" -p "$CI_PASSWORD" registry.acme.io\n`,
  ],
  () => ['vcpkg.json', JSON.stringify({ name: 'app', 'version-string': `1.${int(9)}.0`, overrides: [{ name: 'openssl', version: `3.0.${int(15)}` }] }, null, 2)],
  () => [
    'pom.xml',
    `<project>\n  <dependency>\n    <groupId>com.fasterxml.jackson.core</groupId>\n    <artifactId>jackson-databind</artifactId>\n    <version>2.15.${int(4)}</version>\n  </dependency>\n  <properties><gpg.passphrase>\${env.GPG_PASSPHRASE}</gpg.passphrase></properties>\n</project>\n`,
  ],
  () => [
    'app.log',
    `2024-06-01T10:00:0${int(9)}Z INFO request_id=${uuid()} user=${int(99999)} latency_ms=${int(900)}\n2024-06-01T10:00:0${int(9)}Z WARN token expired for session ${hex(16)}\n`,
  ],
  () => ['src/pagination.py', `resp = client.list_objects_v2(Bucket="logs", ContinuationToken=next_token)\nnext_token = resp.get("NextContinuationToken")\n`],
  () => [
    'web/index.html',
    `<meta name="csrf-token" content="{{ csrf_token() }}">\n<script src="https://cdn.acme.io/app.${hex(8)}.js" integrity="sha384-${Buffer.from(hex(96), 'hex').toString('base64')}" crossorigin="anonymous"></script>\n`,
  ],
  () => ['config/ssl.conf', `SSLCertificateFile /etc/ssl/certs/acme.crt\nSSLCertificateKeyFile /etc/ssl/private/acme.key\nSSL.KeyFile=server_priv.pem\n`],
  () => ['Cargo.lock', `[[package]]\nname = "ring"\nversion = "0.17.${int(9)}"\nchecksum = "${hex(64)}"\n`],
  () => ['src/colors.js', `export const palette = ['${hex(6)}', '${hex(6)}', '${hex(6)}'];\nexport const secretMenuEnabled = false;\n`],
  () => [
    '.github/workflows/ci.yml',
    `jobs:\n  test:\n    steps:\n      - uses: actions/setup-node@${hex(40)}\n      - run: npm test\n        env:\n          NPM_TOKEN: \${{ secrets.NPM_TOKEN }}\n`,
  ],
  () => [
    'src/i18n/en.json',
    JSON.stringify({ password_label: 'Password', token_expired: 'Your session token has expired', api_key_help: 'Find your API key under Settings' }, null, 2),
  ],
  () => ['docs/api.md', `| Field | Example |\n|---|---|\n| id | \`${uuid()}\` |\n| access_token | \`<token>\` |\n| created | \`2024-01-0${int(9)}T10:00:00Z\` |\n`],
];

// Build the set.
const dir = resolve(values.work);
rmSync(dir, { recursive: true, force: true });
const labels = []; // { file, secret, category, provider, shape }
const decoys = [];
let n = 0;
const put = (rel, text) => {
  const file = `case${String(n++).padStart(4, '0')}/${rel}`;
  mkdirSync(dirname(join(dir, file)), { recursive: true });
  writeFileSync(join(dir, file), text);
  return file;
};
const copies = Number(values.copies);
for (let c = 0; c < copies; c++) {
  for (const [category, provider, name, spec] of PREFIXED) {
    const v = value(spec);
    const [shape, rel, text] = pick(EMBED)(name, v);
    labels.push({ file: put(rel, text), secret: v, category, provider, shape, kind: 'prefixed' });
  }
  for (const [category, provider, name, spec] of UNPREFIXED) {
    const v = value(spec);
    const [shape, rel, text] = pick(EMBED.slice(0, 6))(name, v);
    labels.push({ file: put(rel, text), secret: v, category, provider, shape, kind: 'keyword-context' });
  }
  for (const make of FORMAT_AWARE) {
    const [shape, rel, text, v] = make();
    labels.push({ file: put(rel, text), secret: v, category: 'format-aware', provider: shape, shape, kind: 'format-aware' });
  }
  for (let d = 0; d < 4; d++)
    for (const make of DECOYS) {
      const [rel, text] = make();
      decoys.push(put(rel, text));
    }
}
spawnSync('git', ['init', '-q', dir]);

// Scan it as a user would.
const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'run.js'), 'scan', dir, '--json', '--show-secrets'], {
  encoding: 'utf8',
  maxBuffer: 1 << 28,
  env: { ...process.env, NO_COLOR: '1' },
});
if (r.status !== 0 && r.status !== 1) throw new Error(`keyward scan exited ${r.status}: ${r.stderr}`);
const findings = JSON.parse(r.stdout).findings;
const byFile = new Map();
for (const f of findings) {
  const key = f.file.slice(f.file.indexOf('case'));
  if (!byFile.has(key)) byFile.set(key, []);
  byFile.get(key).push(f);
}
const found = (l) => (byFile.get(l.file) ?? []).some((f) => f.secret === l.secret || l.secret.includes(f.secret) || f.secret.includes(l.secret));
const rows = new Map();
const missed = [];
for (const l of labels) {
  const row = rows.get(l.category) ?? { category: l.category, secrets: 0, found: 0 };
  row.secrets++;
  if (found(l)) row.found++;
  else missed.push(`${l.kind} ${l.provider} in ${l.shape} (${l.file})`);
  rows.set(l.category, row);
}
const flagged = decoys.filter((file) => (byFile.get(file) ?? []).length > 0);
const total = { secrets: labels.length, found: [...rows.values()].reduce((a, r) => a + r.found, 0) };
const result = {
  seed: Number(values.seed),
  recall: total.found / total.secrets,
  secrets: total.secrets,
  decoyFiles: decoys.length,
  decoysFlagged: flagged.length,
  decoyRate: flagged.length / decoys.length,
  categories: [...rows.values()].map((row) => ({ ...row, recall: row.found / row.secrets })),
  missed,
  flagged: flagged.map((file) => `${file}: ${(byFile.get(file) ?? []).map((f) => f.ruleId).join(', ')}`),
};
console.log(`keyward ${r.status === 1 ? '' : '(no findings) '}on ${labels.length} secrets in ${labels.length} files and ${decoys.length} decoy files (seed ${result.seed})\n`);
console.log('category        secrets  found  recall');
for (const row of result.categories.sort((a, b) => a.category.localeCompare(b.category)))
  console.log(`${row.category.padEnd(15)} ${String(row.secrets).padStart(7)} ${String(row.found).padStart(6)}  ${row.recall.toFixed(3)}`);
console.log(`${'all'.padEnd(15)} ${String(total.secrets).padStart(7)} ${String(total.found).padStart(6)}  ${result.recall.toFixed(3)}`);
console.log(`\ndecoy files flagged: ${flagged.length} of ${decoys.length} (${(result.decoyRate * 100).toFixed(1)}%)`);
const gitleaks = spawnSync('sh', ['-c', 'command -v gitleaks'], { encoding: 'utf8' });
console.log(
  gitleaks.status === 0
    ? `gitleaks is installed (${gitleaks.stdout.trim()}); compare with: gitleaks dir ${dir} --report-format json`
    : 'gitleaks is not installed: no side-by-side column.',
);
if (missed.length) console.log(`\nmissed:\n  ${missed.join('\n  ')}`);
if (flagged.length) console.log(`\nflagged decoys:\n  ${result.flagged.join('\n  ')}`);
if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 2) + '\n');
process.exitCode = result.recall >= 0.95 && result.decoyRate <= 0.02 ? 0 : 1;
