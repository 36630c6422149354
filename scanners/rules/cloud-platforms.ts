import type { Rule } from '../types.js';

/** Quote, assignment operator (`=`, `:`, `=>`, `:=`), quote: what sits between a name and its value. */
const ASSIGN = '["\'`]?\\s{0,4}(?:[:=]|=>|:=)\\s{0,4}["\'`]?';
/** Anything after the provider name up to the assignment, e.g. `_API_TOKEN`. */
const LOOSE = '[\\w.-]{0,25}';
/** After the provider name, a word that says the value is a secret (UUID values need this: ids are UUIDs too). */
const KEYISH = '[\\w.-]{0,20}?(?:key|token|secret|pat|auth|password)\\w{0,12}';
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** `<name><assignment><value>` with the value as group `secret`, ending where the value's characters end. */
const assigned = (name: string, value: string) => `(?:${name})${ASSIGN}(?<secret>${value})(?![A-Za-z0-9_-])`;

export const cloudPlatformRules: Rule[] = [
  // ── Google ──────────────────────────────────────────────────────────────────────────────────
  {
    // A service-account key file: {"type": "service_account", "project_id": …, "private_key_id": <40 hex>,
    // "private_key": <PEM>, …}. The PEM is found by private-key-pem; this rule reports the key id so
    // that a key file is flagged even when the PEM is cut or escaped differently.
    id: 'gcp-service-account-key',
    description: 'Google Cloud service account key file (JSON)',
    provider: 'google',
    keywords: ['service_account'],
    pattern: '\\\\?"type\\\\?"\\s{0,8}:\\s{0,8}\\\\?"service_account\\\\?"[\\s\\S]{0,800}?\\\\?"private_key_id\\\\?"\\s{0,8}:\\s{0,8}\\\\?"(?<secret>[0-9a-f]{40})\\\\?"',
    window: { after: 1024 },
    entropy: 3,
    truePositives: [
      '{\n  "type": "service_account",\n  "project_id": "billing-prod-318204",\n  "private_key_id": "531dd5b85a8f27aaecf10117a45c6974ece6b14c",\n  "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIE...\\n-----END PRIVATE KEY-----\\n",\n  "client_email": "deployer@billing-prod-318204.iam.gserviceaccount.com"\n}',
      'GOOGLE_CREDENTIALS=\'{"type":"service_account","project_id":"ml-infra","private_key_id":"3d15cdf4dc37f3cbb787ec3f42f555105a217f29","private_key":"-----BEGIN PRIVATE KEY-----\\n"}\'',
    ],
    falsePositives: [
      '{"type": "authorized_user", "private_key_id": "449cdd28edfdd7eee1bc3e983733a03495f97e81"}',
      '{"type": "service_account", "project_id": "ml-infra", "private_key_id": "<key id>"}',
      '{"type": "service_account", "private_key_id": "f6ad379a0f406aa837fade3e5b03d47cc81cae5"}',
    ],
  },
  {
    // Google API keys (Maps, Firebase, Gemini / AI Studio, …): "AIza" + 35 base64url characters.
    id: 'google-api-key',
    description: 'Google API key (Google Cloud, Firebase, Gemini)',
    provider: 'google',
    keywords: ['aiza'],
    pattern: '(?<![A-Za-z0-9_-])(?<secret>AIza[A-Za-z0-9_-]{35})(?![A-Za-z0-9_-])',
    entropy: 3.5,
    migrate: 'google',
    truePositives: [
      'GEMINI_API_KEY=AIzaSyPd9-ubv7PYHsSBQh_UEDxWzbbFkMWJ_xP',
      'const firebaseConfig = { apiKey: "AIzaSyDHk3gz5auH4fAnMZjlsF_YHnMzgQNsOBC", authDomain: "acme.firebaseapp.com" };',
    ],
    falsePositives: [
      'apiKey: "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe"', // the key from Google's own documentation
      'GEMINI_API_KEY=AIzaVNdbc1w6wSr2zibXnTCYNxXF_3c5cf_Iwx',
      'key=AIzaKt8eKH2OLWTZ45svU-Kxf_ThXTMzaf2GCYm8',
      'GEMINI_API_KEY=AIzaXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
    ],
  },
  {
    // OAuth client secrets issued since 2021: "GOCSPX-" + 28 base64url characters.
    id: 'google-oauth-client-secret',
    description: 'Google OAuth client secret',
    provider: 'google',
    keywords: ['gocspx-'],
    pattern: '(?<![A-Za-z0-9_-])(?<secret>GOCSPX-[A-Za-z0-9_-]{28})(?![A-Za-z0-9_-])',
    entropy: 3.5,
    truePositives: [
      'GOOGLE_CLIENT_SECRET=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',
      '{"web": {"client_id": "1093.apps.googleusercontent.com", "client_secret": "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"}}',
    ],
    falsePositives: ['GOOGLE_CLIENT_SECRET=GOCSPX-lLBUFHs8VywOPujahpJFxZuUKzd', 'client_secret: GOCSPX-<your secret>', '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CS'],
  },

  // ── Microsoft Azure ─────────────────────────────────────────────────────────────────────────
  {
    // Storage account keys are 64 random bytes in base64: 86 characters and "==".
    id: 'azure-storage-account-key',
    description: 'Azure Storage account key',
    provider: 'azure',
    keywords: ['accountkey', 'account_key', 'account-key', 'storage_key', 'storagekey', 'storage-key'],
    pattern:
      '(?:account[_-]?key|storage[_-]?key)' +
      ASSIGN +
      // Azurite's well-known development key is public.
      '(?!Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==)' +
      '(?<secret>[A-Za-z0-9+/]{86}==)(?![A-Za-z0-9+/=])',
    flags: 'i',
    entropy: 4,
    truePositives: [
      'AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=https;AccountName=acmeprod;AccountKey=wJGkcsQajBodRU/fJ8aM+ERd1doplckApnlN1r/ECVeSQdCZ3qkevO7mKOYbkv3mcPEJAIoobyYdluNYOHXqFp==;EndpointSuffix=core.windows.net"',
      'AZURE_STORAGE_KEY=15wp0IaT4HwdahHA6t40FtOhT9+mCErA5iaTHleQt57Q3S9diYtQIer/Mf9hV/1TqUwSSrl+wjPv3fV6BZjvGc==',
    ],
    falsePositives: [
      'AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==', // Azurite's well-known development key
      'AccountKey=4Y6oR5Tr/x1XE2muUnD/BIS0NiUvLCY7sXvH8vHu+zmea5nN6l/aRqNF02BCxbkfoy0JPkTTbP/e2VqF==',
      'AccountKey=${AZURE_STORAGE_KEY}',
    ],
  },
  {
    // Entra ID (Azure AD) application client secrets in the current format: 40 characters,
    // three random characters, a digit, the marker "Q~", then 34 characters of [A-Za-z0-9_~.-].
    id: 'azure-entra-client-secret',
    description: 'Microsoft Entra ID (Azure AD) application client secret',
    provider: 'azure',
    keywords: ['0q~', '1q~', '2q~', '3q~', '4q~', '5q~', '6q~', '7q~', '8q~', '9q~'],
    // The lookahead drops alphabet runs such as Microsoft's documented "abc8Q~defghijklmnopqrs…".
    pattern:
      '(?<![A-Za-z0-9_~.-])(?![A-Za-z0-9_~.-]{0,34}(?:abcdef|defghi|ghijkl|jklmno|mnopqr|pqrstu|stuvwx|uvwxyz|012345|345678|456789))(?<secret>[A-Za-z0-9_~.-]{3}\\dQ~[A-Za-z0-9_~.-]{34})(?![A-Za-z0-9_~.-])',
    entropy: 3.5,
    truePositives: ['AZURE_CLIENT_SECRET=seD0Q~42yxXu9mcQ~03yXryb2~Nm8C6xEg1CG9rq', '"ClientSecret": "kBl9Q~tFTDaqGfgkWuGt-nDakHpTx6kFKOq0nuUF",'],
    falsePositives: [
      'AppSecret=abc8Q~defghijklmnopqrstuvwxyz-_.~0123456', // the shape from Microsoft's documentation
      'AZURE_CLIENT_SECRET=seA7Q~oBV1paHldcqCbfC6YE48',
      'AZURE_CLIENT_SECRET=HeUmQ~UIqrDx59dbB7F73zHZsY0DgTzID7TKtwQ8',
    ],
  },
  {
    // Shared access signatures: the signature `sig` is a base64 HMAC-SHA256 (44 characters, ending "="),
    // usually percent-encoded in URLs; a service version `sv=YYYY-MM-DD` sits in the same query.
    id: 'azure-sas-token',
    description: 'Azure shared access signature (SAS) token',
    provider: 'azure',
    keywords: ['sig='],
    pattern:
      '[?&;]sig=(?<secret>(?:[A-Za-z0-9+/]|%2[BbFf]){43}(?:%3[Dd]|=))(?![A-Za-z0-9%])' +
      '(?:(?<=\\bsv=\\d{4}-\\d{2}-\\d{2}&[^\\s"\'<>]{0,400})|(?=[^\\s"\'<>]{0,400}[?&;]sv=\\d{4}-\\d{2}-\\d{2}))',
    entropy: 3.5,
    truePositives: [
      'https://acmeprod.blob.core.windows.net/backups/db.bak?sv=2022-11-02&ss=b&srt=co&sp=rl&se=2026-01-31T00:00:00Z&st=2025-01-01T00:00:00Z&spr=https&sig=j%2B2pcKrI4aVF9HjWJaC3IxKTTSm99rRy%2FTtXHyzHqPY%3D',
      'BlobEndpoint=https://acme.blob.core.windows.net/;SharedAccessSignature=sp=racwdl&st=2025-03-01T09:00:00Z&se=2025-09-01T17:00:00Z&spr=https&sv=2022-11-02&sr=c&sig=QCEv%2BUzKl0yGs8cBAIxeU%2BaNS2U3HoaLktnNf7SGXrI%3D',
    ],
    falsePositives: [
      'https://acme.blob.core.windows.net/c/f?sv=2022-11-02&sp=r&sig=<signature>',
      'https://api.acme.io/callback?sig=Yh4v0%2B8Lw8PT40m%2B9Z0POwL0ejfNZCNtDXjRCK25jQc%3D&ts=1700000000', // no SAS service version
      'https://acme.blob.core.windows.net/c/f?sv=2022-11-02&sr=b&sig=lIRllQhMoZuCV8sWAyvG%3D',
    ],
  },
  {
    // Personal access tokens issued since July 2024: 84 characters with the fixed signature "AZDO"
    // at positions 76–80 (52 of the characters are random).
    id: 'azure-devops-pat',
    description: 'Azure DevOps personal access token',
    provider: 'azure',
    keywords: ['azdo'],
    pattern: '(?<![A-Za-z0-9])(?<secret>[A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4})(?![A-Za-z0-9])',
    entropy: 4,
    migrate: 'azure',
    truePositives: [
      'AZURE_DEVOPS_EXT_PAT=7YTZkQzOZY8xkrQhMysCiY38L2pSLsbLQ5XCBxMYhnlMeWCeTfavsxQLS9T1QduvIhutBWdMKTaAAZDOiQKX',
      'git clone https://build:ucdI75PmrTImzxjSthQPcGuLjaezsl89f8IP2nseA2IEXluiLjq9gZoSr8vT6bQ0Y5QHM0hMPPdXAZDOAUnQ@dev.azure.com/acme/app/_git/app',
    ],
    falsePositives: [
      'AZURE_DEVOPS_EXT_PAT=Lz9zvzit66FqyPoIK1EpLlg2zF18ltX1J0IHT6xhQhBtvQVvcnGllksIrGjikvKxumkhwvAZDOSX4t',
      'AZDO_ORG_URL=https://dev.azure.com/acme',
      'XDaWQKdnim0r9bXXs1PRNl5CDdfVYc90xSVqLG3GFqIxUYoFmBBnHBcc7sHsabhLF5dioyUrj1RjAZDOOR7T7KSz2',
    ],
  },
  {
    // Tokens from before July 2024: 52 characters of lower-case base32, recognizable only by their name.
    id: 'azure-devops-pat-legacy',
    description: 'Azure DevOps personal access token (52-character format)',
    provider: 'azure',
    keywords: ['devops', 'azdo', 'vsts', 'ado_pat', 'ado_token'],
    pattern: assigned('(?:azure[_.-]?devops|devops|azdo|vsts|ado)' + LOOSE, '[a-z2-7]{52}'),
    flags: 'i',
    entropy: 3.5,
    migrate: 'azure',
    truePositives: ['AZURE_DEVOPS_PAT=xkyf4vbpqshcppto3jeaa2haiydoik2dlf7e5mufrsqahaqkwuvz', 'azdo_token: "ytz6bqmsefvkj5kdsuo2b37hj632qe73k4ayfsiyksfnlt5fp6g4"'],
    falsePositives: [
      'AZURE_DEVOPS_PAT=ukhihshk5ywc746b2j3du2v6u5u5gwtxnn5oaf77mjltreoyfme',
      'AZURE_DEVOPS_PAT=$(System.AccessToken)',
      'commit_sha=o7mmtuver7hw6sd6uucxke5uvoxebb4w6ayjdy2xdbimegb2gadh',
    ],
  },

  // ── DigitalOcean ────────────────────────────────────────────────────────────────────────────
  {
    // Personal access tokens: "dop_v1_" + 64 hex.
    id: 'digitalocean-pat',
    description: 'DigitalOcean personal access token',
    provider: 'digitalocean',
    keywords: ['dop_v1_'],
    pattern: '(?<![A-Za-z0-9_])(?<secret>dop_v1_[a-f0-9]{64})(?![A-Za-z0-9_])',
    entropy: 3,
    migrate: 'digitalocean',
    truePositives: [
      'DIGITALOCEAN_ACCESS_TOKEN=dop_v1_cd73a556bdcc74cdf2017f1b2f9f40c818be8cd72f70d786d8a3f149031e17c5',
      'doctl auth init --access-token dop_v1_33c7fe38cd502b664f8d3b1691add38b866d98fefb41c13bff8b3cb1c4995919',
    ],
    falsePositives: [
      'DIGITALOCEAN_ACCESS_TOKEN=dop_v1_b8413488e5b77e0b3329629d7475eb52f04688ab58518c69f08c2fcebfcd16a',
      'dop_v1_88A2F74E2829F416860E0C6826EA6C485068D652BB73616E5BED803D5F25C7CD',
      'dop_v2_8c519d03feee171e030702b004e96afdb5675792c612b9424a541f6f7ffd952f',
    ],
  },
  {
    // OAuth access ("doo_v1_") and refresh ("dor_v1_") tokens: prefix + 64 hex.
    id: 'digitalocean-oauth-token',
    description: 'DigitalOcean OAuth access or refresh token',
    provider: 'digitalocean',
    keywords: ['doo_v1_', 'dor_v1_'],
    pattern: '(?<![A-Za-z0-9_])(?<secret>do[or]_v1_[a-f0-9]{64})(?![A-Za-z0-9_])',
    entropy: 3,
    migrate: 'digitalocean',
    truePositives: [
      '"access_token": "doo_v1_0ead86bcb9a64c4fe794761739818a3a049e7ad88e85a3db99bfff9bc04c9042"',
      'refresh_token=dor_v1_9041c96d39680a91fae25cba7283d534d6633ccb836f77008e075b82907fddae',
    ],
    falsePositives: [
      '"access_token": "doo_v1_e56b7afb2c9f1e9ef8081cc122848d1580fe1ead2f4d9afc1b7fd533a51c"',
      'dox_v1_3cdbeff843097cde1a4906d7c43e06c79f4fa9e0a8172131ad69780f50b6d375',
    ],
  },

  // ── Heroku ──────────────────────────────────────────────────────────────────────────────────
  {
    // Classic API keys and OAuth authorizations are UUIDs, recognizable only by their name.
    id: 'heroku-api-key',
    description: 'Heroku API key (UUID format)',
    provider: 'heroku',
    keywords: ['heroku'],
    pattern: assigned('heroku' + KEYISH, UUID),
    flags: 'i',
    entropy: 3,
    migrate: 'heroku',
    truePositives: [
      'HEROKU_API_KEY=3db05630-ce98-440d-8fbb-1fa74443e819',
      'export HEROKU_OAUTH_TOKEN="d2c35420-0f9e-4d18-a080-e77138812991"',
      '"heroku_api_key": "fe6ee9ec-8a1b-4fb1-b6a9-d6cea31da5ee"',
    ],
    falsePositives: ['HEROKU_APP_ID=cc232aa2-be11-420a-8345-f75b0cbd3398', 'HEROKU_API_KEY=${{ secrets.HEROKU_API_KEY }}', 'HEROKU_API_KEY=00000000-0000-0000-0000-000000000000'],
  },
  {
    // Keys issued since 2024: "HRKU-AA" + 58 base64url characters.
    id: 'heroku-api-key-v2',
    description: 'Heroku API key (HRKU- format)',
    provider: 'heroku',
    keywords: ['hrku-'],
    pattern: '(?<![A-Za-z0-9_-])(?<secret>HRKU-AA[A-Za-z0-9_-]{58})(?![A-Za-z0-9_-])',
    entropy: 3.5,
    migrate: 'heroku',
    truePositives: [
      'HEROKU_API_KEY=HRKU-AASGqtscQ4GOartVAiWT5WNE7E895ltyOmVEKEKr9_w_T0c-ncQ0f0ZdlXPa',
      'curl -n https://api.heroku.com/apps -H "Authorization: Bearer HRKU-AA9rIgseesnEsjBwiTzQ-MnLhoQdwrlza0EQ0qxzHzXu3pTm-3ag-KL_WimU"',
    ],
    falsePositives: [
      'HEROKU_API_KEY=HRKU-AAg8BL-dm4IvNIE-mTehwhsfVcXhdhanBdtsJbeKaaZFKlUn9A1B',
      'HEROKU_API_KEY=HRKU-...',
      'HRKU-BBOCWqjKPDSz3VqPOn5bRjPb_KkSn-LD_4UTq4NvTijO4dPw5N8pNLuq9Fik',
    ],
  },

  // ── Cloudflare ──────────────────────────────────────────────────────────────────────────────
  {
    // Scannable credentials (2026): "cfk_" (global API key), "cfut_" (user API token) or "cfat_"
    // (account API token) + 40 characters + a checksum (8 hex characters).
    id: 'cloudflare-api-credential',
    description: 'Cloudflare API token or global API key (prefixed format)',
    provider: 'cloudflare',
    keywords: ['cfk_', 'cfut_', 'cfat_'],
    pattern: '(?<![A-Za-z0-9_])(?<secret>cf(?:k|ut|at)_[A-Za-z0-9]{40}[a-f0-9]{8})(?![A-Za-z0-9_])',
    entropy: 3.5,
    migrate: 'cloudflare',
    truePositives: ['CLOUDFLARE_API_TOKEN=cfut_STVRcXLdjNYUtD63PmXdpjmhQnWQzTdkJvNBFosa85cb287e', 'api_token = "cfat_GDAKJLY70tECcGuTMzO9T2Xu4yK0jFS94aVc4WUm011cf30d"'],
    falsePositives: [
      'CLOUDFLARE_API_TOKEN=cfut_0WJXteiqIng1tnp8g0bQXhUO4UK44841TAbo5H5A',
      'cfut_Z95tWyAkcIUu3zuBqg2XweLATzixKjyxMWoCydhJ0f3fae8bx',
      'cfxt_1VG1HTbNDTVCk7gcjenm66g5SmXQ05M7U01q62ij652ab946',
    ],
  },
  {
    // API tokens from before 2026: 40 characters, recognizable only by their name.
    id: 'cloudflare-api-token-legacy',
    description: 'Cloudflare API token (unprefixed format)',
    provider: 'cloudflare',
    keywords: ['cloudflare', 'cf_api_token', 'cf-api-token', 'cf_token'],
    pattern: assigned('cloudflare' + LOOSE + '|cf[_-]api[_-]token|cf[_-]token', '[A-Za-z0-9_-]{40}'),
    flags: 'i',
    entropy: 3.5,
    migrate: 'cloudflare',
    truePositives: ['CLOUDFLARE_API_TOKEN=JJ4lD5cfJr1YptwUa0w-qZMkGUehvXZCdZQO4jWt', '{"cloudflare_api_token": "XG_FQm1n3rcgJ3x8YUYjxhF6aiNWDOANbAEm3IYx"}'],
    falsePositives: [
      'CLOUDFLARE_API_TOKEN=z2oOHTziv4uNrUZVhtDgDv1RxGeS8AM0ZbkLS7k',
      'CLOUDFLARE_ACCOUNT_ID=d3a459f57c0f259ef72a846b46648769',
      'CLOUDFLARE_API_TOKEN=${{ secrets.CLOUDFLARE_API_TOKEN }}',
    ],
  },
  {
    // Global API keys from before 2026: 37–45 lower-case hex characters, sent with X-Auth-Email.
    id: 'cloudflare-global-api-key',
    description: 'Cloudflare global API key (unprefixed format)',
    provider: 'cloudflare',
    keywords: ['cloudflare', 'cf_api_key', 'cf-api-key', 'x-auth-key'],
    pattern: assigned('cloudflare' + LOOSE + '|cf[_-]api[_-]key|x-auth-key', '[a-f0-9]{37,45}'),
    flags: 'i',
    entropy: 3,
    migrate: 'cloudflare',
    truePositives: [
      'CLOUDFLARE_API_KEY=c2f99b293cfa383c84adecd67b6108c512b32',
      'curl -H "X-Auth-Email: ops@acme.io" -H "X-Auth-Key: 45e11ad579d2c898ef69ce3a91084b5a354e0" https://api.cloudflare.com/client/v4/zones',
    ],
    falsePositives: ['CLOUDFLARE_ZONE_ID=953cda1633410633b19205cf10ec4936', 'X-Auth-Key: <global api key>', 'CLOUDFLARE_API_KEY=7cf6bbf0dfef3de311fde13f24531abd37f0d01d3a14c0'],
  },
  {
    // Origin CA keys (X-Auth-User-Service-Key) always start with "v1.0-"; observed keys continue with
    // 24 hex characters, a dash and 146 hex characters.
    id: 'cloudflare-origin-ca-key',
    description: 'Cloudflare Origin CA key',
    provider: 'cloudflare',
    keywords: ['v1.0-'],
    pattern: '(?<![A-Za-z0-9._-])(?<secret>v1\\.0-[a-f0-9]{24}-[a-f0-9]{146})(?![A-Za-z0-9_-])',
    entropy: 3,
    migrate: 'cloudflare',
    truePositives: [
      'CF_ORIGIN_CA_KEY=v1.0-cc9cce748d4d692e6111241f-c1412a0ccb3887edaa5df590555f0298ddaa06febb820903c4c958ab81ddee67e955ad49e3f5c7d287b76446e706a4bf2b24fc1f627e7fefe23646b396a2fe57bc21d593a600e0a439',
      'X-Auth-User-Service-Key: v1.0-016c60bb103383fccb574f95-25d6799e091724ff0bd54a45ce7f742c0da1aedb2e2c66d255c7e3a7b377e4e835ecc3e652aa0727cb16cd31c35f90eb5b6dcf581603f8623878b2459211ff1094d10f1b53385e45a1',
    ],
    falsePositives: [
      'version: v1.0-beta',
      'v1.0-3753ef4c101d708cd5ef024d-e39c53278b67fff81be18850620f3e37269372bf357c28059d524d28d0b9c2d4befd6b75f869ed33d81e5c8143b8ad0700ec',
      'v1.0-b6d28dea9fa64d05a31341fc53cee88b542bebcbd8828143c3a7d7c8b02417ccd70d3f3cc8a2e98f58dcdf9627911a67592419a1a3537f05dee3ae5b8e01f578afde84c26ba6f122a146e50af4f5c10c1de942101d',
    ],
  },

  // ── Fly.io ──────────────────────────────────────────────────────────────────────────────────
  {
    // Macaroon tokens: "fm2_" (or the older "fm1r_"/"fm1a_") + base64, sent as "Authorization: FlyV1 …";
    // `fly tokens create` may print several comma-separated macaroons: the first is reported.
    id: 'flyio-access-token',
    description: 'Fly.io access token (macaroon)',
    provider: 'flyio',
    keywords: ['fm2_', 'fm1r_', 'fm1a_'],
    pattern: '(?<![A-Za-z0-9_+/,])(?<secret>fm(?:2|1[ar])_[A-Za-z0-9+/]{64,2048}={0,2})(?![A-Za-z0-9_+/=])',
    entropy: 4,
    migrate: 'flyio',
    truePositives: [
      'FLY_API_TOKEN="FlyV1 fm2_P5iWASgNEjX5PFv0ug6eJSRuUKiDGxJKwsHIQzY49crt5Xtd1FF2tmfFpJVLl4Z+928bvY4ddx1wXZrlBXCdqeDGYv0bdyLuXzzJiDwSqnc79gcH4CC1UwvYx65r+Ge+YOsEFpF705blDtY2Jdm/X4XYsqlS0LVSBdIRmt7fQZTS5pEJjdCVPrPPz+pYTUyEtsdIJFVB55UyN5Ju5mffIQnJwuC/ULGRbduK0Xh+DhQBo4EQ=="',
      'Authorization: FlyV1 fm2_2x9bhmsTyC7tHnHv8pCRT6MorGTKqqbOie0s+UQLy7ZoDofUx/BXB3CSKq/sdtCiUi0U7j6GgKip0/71EcbFZBMgOajsmyM8qJszkJb/CTRRTHFMCuL9kZGo3ZLWCfdF5F5p7L+Nzyiv5q5kZaTk8TdZgVGyZs3KNGXGJ1Gft1SEM31p51JAEGXZv8z44BEY8Db+rH6HZicLOEsyzDFIjzkyrqPYRzBnbVj6+hhAV9qqoDWg+GTS807tszgUrMNwCC/hLIIkdDpTshsQ0q7MF8G70d/3r+eQ3Qnay6xQbKYlKy39Wjrkhq6b15z2mbyn,fm2_+T0cPfS+SH/DnT08zp9UnkBRzsiV10RpLf22ClHEiW6+M7mrIUzs1BWbInbxgDUsuFtd2R5j6wYZBUCRd3og9KB41+LA8bG95D8qx3tY+E2Qx85FTkGulhCym+XGSvZB587HkUrzHReaOYUop9JzOGAHk71vY2tr0oKaa1ROINMc9ApFlOAp',
    ],
    falsePositives: [
      'FLY_API_TOKEN="FlyV1 fm2_..."',
      'fm2_DF3SBVUOvC9azsGB/5UbLp8v9T8ITKq/1Mk8cjA0',
      'fm3_nansHyoqOuyFqAeqDlJgARJvd8rTYASOn2PmMhqUQKUop2lS/PRPeW21VUbOsbVzFtHFeHAyBGGfKp8JluJEeBj+vlrEFRbtJuUSZinNsATc0okZaIC/+w0OSFyi9Of8mkPvXT/bcBS2ABVdlGdbDMeE6kUHa5KdLt7gtFH4m9amQbfGlNW+ZN4V9FfRAeRYhctrWH/k11XQaE23eh4hjC58B37jMMxOJJESPRz0HC6MvDGK',
    ],
  },
  {
    // OAuth tokens from `fly auth token`: "fo1_" + 43 base64url characters, sent as a Bearer token.
    id: 'flyio-oauth-token',
    description: 'Fly.io OAuth token',
    provider: 'flyio',
    keywords: ['fo1_'],
    pattern: '(?<![A-Za-z0-9_,-])(?<secret>fo1_[A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])',
    entropy: 3.5,
    migrate: 'flyio',
    truePositives: ['FLY_API_TOKEN=fo1_9vkSD28xXGuBHisZTcYSv55Vj-SKQW2M8qAoFcXA42m', 'Authorization: Bearer fo1_tXLgmC3IZWO3_n2XPumHP6mzA-R3uo7ugQg46ZjUUOu'],
    falsePositives: ['FLY_API_TOKEN=fo1_2YefLsioxS-mXB22ItfKjUn2rVu2w9iVXNKx06cq', 'fo2_vpcLLuz0-gfV5vNRJ_fo9K1_fjTfJuUDHy-J0NO4FEH'],
  },

  // ── Vercel ──────────────────────────────────────────────────────────────────────────────────
  {
    // Prefixed credentials (2026): "vcp_" personal, "vci_" integration, "vca_" app access,
    // "vcr_" app refresh, "vck_" API key, then random base62 characters.
    id: 'vercel-token',
    description: 'Vercel access token or API key',
    provider: 'vercel',
    keywords: ['vcp_', 'vci_', 'vca_', 'vcr_', 'vck_'],
    pattern: '(?<![A-Za-z0-9_])(?<secret>vc[piark]_[A-Za-z0-9]{24,64})(?![A-Za-z0-9_])',
    entropy: 3.5,
    migrate: 'vercel',
    truePositives: ['VERCEL_TOKEN=vcp_WZWg0xBZ4nGOUFbn70XKwfGV', 'AI_GATEWAY_API_KEY="vck_tExwQWVLaDOjTOFAGCHwfpW3DQH0XIKxhHZCNM7GL2nr7ZG3"'],
    falsePositives: ['VERCEL_TOKEN=vcp_Lofwvd0mFNVMD9KD', 'VERCEL_TOKEN=vcp_...', 'vcx_x5GYWNb6dOVAKmv4FwUyOJd9'],
  },
  {
    // Tokens from before the prefixes: 24 base62 characters, recognizable only by their name.
    id: 'vercel-token-legacy',
    description: 'Vercel access token (unprefixed format)',
    provider: 'vercel',
    keywords: ['vercel'],
    pattern: assigned('vercel' + KEYISH, '[A-Za-z0-9]{24}'),
    flags: 'i',
    entropy: 3.5,
    migrate: 'vercel',
    truePositives: ['VERCEL_TOKEN=PhllqFTXO8VTCdBamKd9prJ6', 'vercel_api_token: "ZJLXfffvQr3ZFU1IN1T5c5Iu"'],
    falsePositives: ['VERCEL_ORG_ID=team_dhbnKwa2OdjDY44mc0elcqOv', 'VERCEL_PROJECT_ID=prj_TyDlv9muNIC1vIGcf8aT6q6Ixgcx', 'VERCEL_TOKEN=mnxpGAA0rXdOQKQjqYMYOnU'],
  },

  // ── Netlify, Supabase, Render, Railway, Neon, PlanetScale, Databricks ───────────────────────
  {
    // Personal access tokens: "nfp_" + about 40 base62 characters.
    id: 'netlify-pat',
    description: 'Netlify personal access token',
    provider: 'netlify',
    keywords: ['nfp_'],
    pattern: '(?<![A-Za-z0-9_])(?<secret>nfp_[A-Za-z0-9]{36,44})(?![A-Za-z0-9_])',
    entropy: 3.5,
    migrate: 'netlify',
    truePositives: ['NETLIFY_AUTH_TOKEN=nfp_MQQkFMi6zkC6ydD7vGMJ1YVXQxJDCpfLQCoYQ5YB', 'netlify deploy --prod --auth nfp_QzDcTfqpCDsmZILwQ9UT6QDMLYqhKF0XxLOlc0Xf'],
    falsePositives: ['NETLIFY_AUTH_TOKEN=nfp_BcyLgatp8FfhgEY6mcaq4WIuT2h6y8', 'NETLIFY_AUTH_TOKEN=nfp_...'],
  },
  {
    // Management API personal access tokens: "sbp_" + 40 hex.
    id: 'supabase-pat',
    description: 'Supabase personal access token',
    provider: 'supabase',
    keywords: ['sbp_'],
    pattern: '(?<![A-Za-z0-9_])(?<secret>sbp_[a-f0-9]{40})(?![A-Za-z0-9_])',
    entropy: 3,
    migrate: 'supabase',
    truePositives: ['SUPABASE_ACCESS_TOKEN=sbp_1268343acd6486dbe89d6d5589f5b97b2390b9aa', 'supabase login --token sbp_5b42f591dfc1418088c18e069074554faed00261'],
    falsePositives: ['SUPABASE_ACCESS_TOKEN=sbp_eff91b71f773fab5303655219960e00cdd92820', 'sbp_QviB4efj1N9HW8iHqWFb3WZECxSMxaYMzmdSkukUx'],
  },
  {
    // Project secret API keys (2025, replacing service_role JWTs): "sb_secret_" + base64url characters.
    // The publishable "sb_publishable_" keys are public by design and are not reported.
    id: 'supabase-secret-key',
    description: 'Supabase secret API key',
    provider: 'supabase',
    keywords: ['sb_secret_'],
    pattern: '(?<![A-Za-z0-9_])(?<secret>sb_secret_[A-Za-z0-9_-]{28,64})(?![A-Za-z0-9_-])',
    entropy: 3.5,
    migrate: 'supabase',
    truePositives: ['SUPABASE_SECRET_KEY=sb_secret_ga6rtTXGkastUAL_TpjKVh_8V0PJlBM', 'createClient(url, "sb_secret_um8pZaK_zKwJIu4j6Lz_Or_0opWSfkf")'],
    falsePositives: ['SUPABASE_SECRET_KEY=sb_secret_...', 'SUPABASE_PUBLISHABLE_KEY=sb_publishable_LDV5vfkcKC-ujUllwC5zFWYgFpfmod_', 'sb_secret_AJRsl13Molp-bQqFQhJU'],
  },
  {
    // API keys: "rnd_" + 32 base62 characters.
    id: 'render-api-key',
    description: 'Render API key',
    provider: 'render',
    keywords: ['rnd_'],
    pattern: '(?<![A-Za-z0-9_])(?<secret>rnd_[A-Za-z0-9]{32})(?![A-Za-z0-9_])',
    entropy: 4,
    migrate: 'render',
    truePositives: ['RENDER_API_KEY=rnd_DjRlafQjVENefFq34j4EufTWSLyGRoXG', '-H "Authorization: Bearer rnd_ClZ6jOcDaMy6GSnDm7Z435a0zruWJdS1"'],
    falsePositives: ['RENDER_API_KEY=rnd_8bxgOCvKnYUIKVfes4RsmBSMmxwor5b', 'const rnd_generatorStateForTheSimulation = 1;'],
  },
  {
    // Account, team and project tokens are UUIDs, recognizable only by their name.
    id: 'railway-token',
    description: 'Railway API or project token',
    provider: 'railway',
    keywords: ['railway'],
    pattern: assigned('railway' + KEYISH, UUID),
    flags: 'i',
    entropy: 3,
    migrate: 'railway',
    truePositives: ['RAILWAY_TOKEN=4859506d-4bae-4141-b236-a220190cd31d', 'RAILWAY_API_TOKEN: "125816da-0574-471a-8135-4d325b03bbe2"'],
    falsePositives: ['RAILWAY_PROJECT_ID=19236dc0-fd39-479d-9402-607d10ab8468', 'RAILWAY_TOKEN=${{ secrets.RAILWAY_TOKEN }}'],
  },
  {
    // API keys: "napi_" + 64 lower-case base36 characters.
    id: 'neon-api-key',
    description: 'Neon API key',
    provider: 'neon',
    keywords: ['napi_'],
    pattern: '(?<![A-Za-z0-9_])(?<secret>napi_[a-z0-9]{64})(?![A-Za-z0-9_])',
    entropy: 3.5,
    migrate: 'neon',
    truePositives: [
      'NEON_API_KEY=napi_wb4o1hofc9r3zyms2bojkk4znm8umua7d6210wa45q2pg3h2pymmxqg5h3jiz3np',
      '"apiKey": "napi_c6zq794cnb20e0u3oc5k3p7or88fc9yuuqcanxroopcwjv57knwvrjmb5algmjhw"',
    ],
    falsePositives: ['NEON_API_KEY=napi_0ek7t37k84dwv06338bymx516pp7kxmekbmriwek9m9x16tw7g', 'napi_q18xqsjxxdi03yg6xm6qtt7ef2irrlia0urckg8qzk0bo9ww3hgrm44upictlw0u_x'],
  },
  {
    // Service tokens ("pscale_tkn_") and OAuth tokens ("pscale_oauth_"): prefix + about 43 base64url characters.
    id: 'planetscale-api-token',
    description: 'PlanetScale service or OAuth token',
    provider: 'planetscale',
    keywords: ['pscale_tkn_', 'pscale_oauth_'],
    pattern: '(?<![A-Za-z0-9_])(?<secret>pscale_(?:tkn|oauth)_[A-Za-z0-9_-]{32,64})(?![A-Za-z0-9_-])',
    entropy: 3.5,
    migrate: 'planetscale',
    truePositives: ['PLANETSCALE_SERVICE_TOKEN=pscale_tkn_iZubksndeQ69v6sKjZYKhBMwWFmqJyktE5tcFFlqV2X', 'token: pscale_oauth_q1zsIJcO2P7GoU4CP4p2y6fPkt_klse0XxPcp5E7R1U'],
    falsePositives: ['PLANETSCALE_SERVICE_TOKEN=pscale_tkn_Za7baY1N-TkZnbuGCofB', 'pscale_tkn_...'],
  },
  {
    // Database passwords: "pscale_pw_" + about 43 base64url characters (used with a MySQL/Postgres user).
    id: 'planetscale-password',
    description: 'PlanetScale database password',
    provider: 'planetscale',
    keywords: ['pscale_pw_'],
    pattern: '(?<![A-Za-z0-9_])(?<secret>pscale_pw_[A-Za-z0-9_-]{32,64})(?![A-Za-z0-9_-])',
    entropy: 3.5,
    truePositives: [
      'DATABASE_PASSWORD=pscale_pw_OZK7iZVro4nKAUODiY4oiZjK8nfWPZNMYG9eveknqaq',
      'mysql -h aws.connect.psdb.cloud -u app --password=pscale_pw_AUxhlUGnOyG8whYtYE0denb9kdzrnflXMtZTvxYZbIM',
    ],
    falsePositives: ['DATABASE_PASSWORD=pscale_pw_Emk0dmURqW0yc5_l', 'DATABASE_PASSWORD=pscale_pw_<password>'],
  },
  {
    // Personal access tokens: "dapi" + 32 hex, optionally "-" and a digit.
    id: 'databricks-token',
    description: 'Databricks personal access token',
    provider: 'databricks',
    keywords: ['dapi'],
    pattern: '(?<![A-Za-z0-9_-])(?<secret>dapi[a-f0-9]{32}(?:-\\d)?)(?![A-Za-z0-9_-])',
    entropy: 3,
    migrate: 'databricks',
    truePositives: [
      'DATABRICKS_TOKEN=dapi19602d70e11159d8b12ac1855a043ebe',
      '[DEFAULT]\nhost = https://adb-123.azuredatabricks.net\ntoken = dapic79e1639f1c15f9569c228b4615cf6c0-2',
    ],
    falsePositives: [
      'DATABRICKS_TOKEN=dapif2c45d121c6aad961257d7c7dd53c9b',
      'const dapif22875713c2a66f50b4b5c405b6f6472x = 1',
      'DATABRICKS_TOKEN=dapiFA816CAC53E6C40D9C9B3D42A6F7C725',
    ],
  },

  // ── Secret managers and infrastructure as code ──────────────────────────────────────────────
  {
    // Doppler tokens: "dp." + type (pt personal, st service, sa service account, ct CLI, scim, audit)
    // + "." + 40–44 base62 characters; service tokens may carry the config name in between.
    id: 'doppler-token',
    description: 'Doppler API token',
    provider: 'doppler',
    keywords: ['dp.pt.', 'dp.st.', 'dp.sa.', 'dp.ct.', 'dp.scim.', 'dp.audit.'],
    pattern: '(?<![A-Za-z0-9_.])(?<secret>dp\\.(?:pt|st|sa|ct|scim|audit)\\.(?:[A-Za-z0-9_-]{1,40}\\.)?[A-Za-z0-9]{40,44})(?![A-Za-z0-9_])',
    entropy: 3.5,
    migrate: 'doppler',
    truePositives: [
      'DOPPLER_TOKEN=dp.st.prd.Q9RvLk1eqS3fhHu7VSPqHjMLedEY9XxYJ4c7EgQugwj',
      'doppler configure set token dp.pt.CyhNp9zrSCyOMrT9jOaex90hAJ93LTZ2udYrZ22OAw8',
      '"token": "dp.sa.B23JMYrn7LSxv4NL5GeELNhNlYmL5dlYhZopYol5gdi"',
    ],
    falsePositives: ['DOPPLER_TOKEN=dp.st.fX7Shywa8L962LuHSjmtwYvEu1j2TM', 'DOPPLER_TOKEN=dp.xx.jWHhH4ZhfuKLtbfa3zCKZ6tGlYPZ5CkSBzHs8QGReO4', 'DOPPLER_TOKEN=dp.pt.xxxx'],
  },
  {
    // Vault 1.10+ tokens: "hvs." service, "hvb." batch, "hvr." recovery, then base64url characters
    // (service tokens are about 95 characters, batch tokens longer).
    id: 'vault-token',
    description: 'HashiCorp Vault token',
    provider: 'vault',
    keywords: ['hvs.', 'hvb.', 'hvr.'],
    pattern: '(?<![A-Za-z0-9_.-])(?<secret>hv[sbr]\\.[A-Za-z0-9_-]{24,512}(?:\\.[A-Za-z0-9]{5})?)(?![A-Za-z0-9_-])',
    entropy: 3.5,
    migrate: 'vault',
    truePositives: [
      'VAULT_TOKEN=hvs.CAESIDbTuxXTGBOaH2YnslnK2f4RZXXh0jbGIuRJfofS7aBD712IXskBTQ9sr7iouGAOvCjDCCQ9ddK9EX26Y0Xj4eH',
      'curl -H "X-Vault-Token: hvb.AAAAAQlYdfJmvilm8J-WA1VRzcN9wbB6M_PNnRHvSqY6iUTqR2KXjE7sKQXCnKLKiseVQHwk2kEW9n8hABVd1eGdfyVIqMrKedfHoSnVCDYOlpaxzhkEkSUk4EiftCBFeFIBanxk85wZiPW2O9QbIODdC67l" https://vault.acme.io/v1/secret/data/app',
    ],
    falsePositives: ['VAULT_TOKEN=hvs.A2WRj4emIW', 'VAULT_TOKEN=hvs.xxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'VAULT_TOKEN=s.PlrOn4ZueN66dkP3RzNLt7s6'],
  },
  {
    // Terraform Cloud / Enterprise API tokens: 14 base62 characters + ".atlasv1." + about 67 characters.
    id: 'terraform-cloud-token',
    description: 'Terraform Cloud / HCP Terraform API token',
    provider: 'terraform',
    keywords: ['.atlasv1.'],
    pattern: '(?<![A-Za-z0-9])(?<secret>[A-Za-z0-9]{14}\\.atlasv1\\.[A-Za-z0-9_=-]{60,70})(?![A-Za-z0-9_=-])',
    entropy: 3.5,
    migrate: 'terraform',
    truePositives: [
      'credentials "app.terraform.io" {\n  token = "6z30i6zEAawtgV.atlasv1.g1zsjvrONPTK_JcapwIw2huagFKTnvI-KT2kAKI3sfGCMaJgVfrxUj-If3r6Vi7NMDL"\n}',
      'TF_TOKEN_app_terraform_io=LBLK7f5naScSqB.atlasv1.UOpSNPcokyHMPl2cKp0oNIvdTOfa5uWG4Hpg2IyOzaLgOBiJYzdSSvOwftbMuh2BmIv',
    ],
    falsePositives: [
      'TF_TOKEN_app_terraform_io=0gWZs9kgoWg0Mw.atlasv1.qOk7dfdShKznk2htXNtTlOHi_IZFrv',
      'token = "xxxxxxxxxxxxxx.atlasv1.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
    ],
  },
  {
    // Pulumi Cloud access tokens: "pul-" + 40 hex.
    id: 'pulumi-access-token',
    description: 'Pulumi Cloud access token',
    provider: 'pulumi',
    keywords: ['pul-'],
    pattern: '(?<![A-Za-z0-9_-])(?<secret>pul-[a-f0-9]{40})(?![A-Za-z0-9_-])',
    entropy: 3,
    migrate: 'pulumi',
    truePositives: ['PULUMI_ACCESS_TOKEN=pul-a01c4b94e70bf675bcf2f52891efad378e65e0db', 'pulumi login --token pul-eaca9571504eaaa5afe1806ef93d15a7a4cb8f03'],
    falsePositives: ['PULUMI_ACCESS_TOKEN=pul-ff534bba81fac23d59fb39c2ca4028da60de806', 'pul-y3hJCEwdrKlUBvu0LMbZHNxdduIpOBdp7nfjvCAi'],
  },
  {
    // 1Password service account tokens: "ops_" + base64 of a JSON object (which starts "eyJ").
    id: '1password-service-account-token',
    description: '1Password service account token',
    provider: '1password',
    keywords: ['ops_eyj'],
    pattern: '(?<![A-Za-z0-9_])(?<secret>ops_eyJ[A-Za-z0-9+/_-]{100,2040}={0,2})(?![A-Za-z0-9+/_=-])',
    entropy: 4,
    migrate: '1password',
    truePositives: [
      'OP_SERVICE_ACCOUNT_TOKEN=ops_eyJzaWduSW5BZGRyZXNzIjoiYWNtZS4xcGFzc3dvcmQuY29tIiwidXNlckF1dGgiOnsibWV0aG9kIjoiU1JQZy00MDk2IiwiYWxnIjoiUEJFUzJnLUhTMjU2IiwiaXRlcmF0aW9ucyI6NjUwMDAwLCJzYWx0IjoiZjBHdVlrS0N1RF9qVXpGY05vS0hrQSJ9LCJlbWFpbCI6Im9xd2hvaXh4bmpqeUAxcGFzc3dvcmRzZXJ2aWNlYWNjb3VudHMuY29tIiwic3JwWCI6IjU3MmM1ZThhZmEwZDM2YTFmNzA3ZWI2NTIxNThhYWRjMWJlYTgyMGNjYjMwMmQwNTk1NWMyZmQwMzJmNGZiZGQiLCJtdWsiOnsiYWxnIjoiQTI1NkdDTSIsImV4dCI6dHJ1ZSwiayI6Ik5wdG5tUDRXVVpaQ1dYSHlzWUNHcmJSUnh6Q1g3SHpkczBNM3gtSDh3M28iLCJrZXlfb3BzIjpbImVuY3J5cHQiLCJkZWNyeXB0Il0sImt0eSI6Im9jdCIsImtpZCI6Im1wIn0sInNlY3JldEtleSI6IkEzLUJZQlRCVy0yVjRRRTctM1gzSzQiLCJ0aHJvdHRsZVNlY3JldCI6eyJzZWVkIjoiYTc4YTRkY2M4ZTJkNDY4ZjgwZjY1NjJiMTZkODg2MzRkMGYyNDNiZDIxOTUzMGZmZGMyOTA1MmNhNDdiYjQyNSIsInV1aWQiOiIyNjRmZjk2MS00NjAwLTQ5ODYtYTEwMC0wNWIwMDE3NGM3MGUifSwiZGV2aWNlVXVpZCI6IjJqNmlqMmF2YWFubm1pbXZybHR4bDZydGxqIn0',
      'export OP_SERVICE_ACCOUNT_TOKEN="ops_eyJzaWduSW5BZGRyZXNzIjoiYWNtZS4xcGFzc3dvcmQuY29tIiwidXNlckF1dGgiOnsibWV0aG9kIjoiU1JQZy00MDk2IiwiYWxnIjoiUEJFUzJnLUhTMjU2IiwiaXRlcmF0aW9ucyI6NjUwMDAwLCJzYWx0IjoiaDR3cHZ2WDI5ZUNtRVo5SC1RQ3NtUSJ9LCJlbWFpbCI6Im9qZ3F5dnN1cHNlZUAxcGFzc3dvcmRzZXJ2aWNlYWNjb3VudHMuY29tIiwic3JwWCI6IjMwYmRiYjQ0Y2E3ZTYwYWFiODlkNWU1ZTFiMjMyOWY5N2Q2Y2YzYWMxNzEyMzE3NDM5MmZhN2NkMDdmZjNhNjkiLCJtdWsiOnsiYWxnIjoiQTI1NkdDTSIsImV4dCI6dHJ1ZSwiayI6IjFSTTBfYkJkOUJwQ3VrN09nVmlvRFd2MWlxOW1qWEkwS2c4Vjdkd0Y5ZlUiLCJrZXlfb3BzIjpbImVuY3J5cHQiLCJkZWNyeXB0Il0sImt0eSI6Im9jdCIsImtpZCI6Im1wIn0sInNlY3JldEtleSI6IkEzLUdaOTdLMy1DM0ZYWTItNk5YUVIiLCJ0aHJvdHRsZVNlY3JldCI6eyJzZWVkIjoiOTg3ZWE1NmIzMzM4NTU2MzliNzQ0MTMxNmRiYjdlNDYzYzMwNDQ2OWE0MDcwMzcxNDM0ZjFmNmE2NmJiYmNiZiIsInV1aWQiOiI2ZTNkMDA5NS1jYmRhLTQ1ODQtODBlNi1lZGQxMWYxYjE5OTMifSwiZGV2aWNlVXVpZCI6InptZnpheWU1Zmp5Zmt5ZGJvdm4yeWRrc2c3In0"',
    ],
    falsePositives: ['OP_SERVICE_ACCOUNT_TOKEN=ops_eyJ...', 'OP_SERVICE_ACCOUNT_TOKEN=ops_eyJ3IVwuzbLAnjejah0jJa9FVazP1ORFISAJInNwZVb'],
  },

  // ── Other clouds ────────────────────────────────────────────────────────────────────────────
  {
    // Linode / Akamai personal access tokens: 64 hex, recognizable only by their name.
    id: 'linode-token',
    description: 'Linode (Akamai) personal access token',
    provider: 'linode',
    keywords: ['linode'],
    pattern: assigned('linode' + LOOSE, '[a-f0-9]{64}'),
    flags: 'i',
    entropy: 3,
    migrate: 'linode',
    truePositives: [
      'LINODE_TOKEN=6b661afbf0211803835f63bb3d60f41f23dc71eb7231328d92d954c81a87ba8e',
      '{"linode_token": "3b411db24ec830cacc8f53f31d1873c53dda96b775bf13e731b4dcee414f956c"}',
      'linode_cli_token: 64e36537e1cebd3f37e99c6188713be417e0fa4695911e3e3b427f129bd8357b',
    ],
    falsePositives: [
      'LINODE_TOKEN=9e6fdd69237dccc92899fecb9b0ab39d569412d22e62e49fcf4880db0486426',
      'LINODE_TOKEN=${LINODE_TOKEN}',
      'image_sha256 = "2b9ef9b439aeff12e0a50ed568b857b46166288f638c7e3a389355376ba68e2b"',
    ],
  },
  {
    // AccessKey IDs: "LTAI" + 12–20 base62 characters. Not secret alone, but always next to its secret.
    id: 'alibaba-access-key-id',
    description: 'Alibaba Cloud AccessKey ID',
    provider: 'alibaba',
    keywords: ['ltai'],
    pattern: '(?<![A-Za-z0-9])(?<secret>LTAI[A-Za-z0-9]{12,20})(?![A-Za-z0-9])',
    entropy: 3,
    truePositives: ['ALIBABA_CLOUD_ACCESS_KEY_ID=LTAIgdhUyLySRNEI3O8lntCU', 'access_key_id: LTAI5h399vtlnrJBDubX'],
    falsePositives: ['ALIBABA_CLOUD_ACCESS_KEY_ID=LTAInHkNwiP5', 'ltaifVEvKUHqyt5QAamXvb1P', 'XLTAIduivvSJm2u9p8Fuq1tQU'],
  },
  {
    // SecretIds: "AKID" + 32 base62 characters. Not secret alone, but always next to its SecretKey.
    id: 'tencent-secret-id',
    description: 'Tencent Cloud SecretId',
    provider: 'tencent',
    keywords: ['akid'],
    pattern: '(?<![A-Za-z0-9])(?<secret>AKID[A-Za-z0-9]{32})(?![A-Za-z0-9])',
    entropy: 3.5,
    truePositives: ['TENCENTCLOUD_SECRET_ID=AKIDG30K1DebpTWjYOU4E2Ix56KXx9v6x87H', 'cred = credential.Credential("AKIDnzmmFDJigxJphViNVLhDPssHv8Dd55Q1", secret_key)'],
    falsePositives: ['TENCENTCLOUD_SECRET_ID=AKIDt43bwAD3t0sPDTnXp1iMpiBSPRvKXXY', 'akidLrbeM5MzH8a6ua9URtAGcRMBStEv3W2F'],
  },
  {
    // IBM Cloud API keys: 44 base64url characters, recognizable only by their name.
    id: 'ibm-cloud-api-key',
    description: 'IBM Cloud API key',
    provider: 'ibm',
    keywords: ['ibmcloud', 'ibm_cloud', 'ibm-cloud', 'ibm_api_key', 'ibm-api-key', 'ic_api_key'],
    pattern: assigned('(?:ibm[_.-]?cloud|ibm|ic)[\\w.-]{0,20}?api[_.-]?key\\w{0,10}', '[A-Za-z0-9_-]{44}'),
    flags: 'i',
    entropy: 3.5,
    migrate: 'ibm',
    truePositives: ['IBMCLOUD_API_KEY=mHpCop5g7OPgO4yKZnPlDyV-Xgpyl3pK0_M1ws6fzY5k', 'IC_API_KEY: "qWwyrpXQSm6TW6mOQ9Xfg0axlTTnk7rYKOk6EMLqZrEb"'],
    falsePositives: ['IBMCLOUD_API_KEY=BeqJDdZ9DtD5vDaly5CVFWC5UnnKKFHvr_QAl3JpD5w', 'IBMCLOUD_REGION=us-south', 'IBMCLOUD_API_KEY=${IBMCLOUD_API_KEY}'],
  },
  {
    // Scaleway access key IDs: "SCW" + 17 upper-case base36 characters.
    id: 'scaleway-access-key',
    description: 'Scaleway access key ID',
    provider: 'scaleway',
    keywords: ['scw'],
    pattern: '(?<![A-Za-z0-9])(?<secret>SCW[A-Z0-9]{17})(?![A-Za-z0-9])',
    entropy: 3,
    truePositives: ['SCW_ACCESS_KEY=SCWGDRL6DS7DMGIDPJ8N', 'access_key: SCWSNT07QV98WJ3DDJY9'],
    falsePositives: ['SCW_ACCESS_KEY=SCWPRUH0VJOQ6R4L3E3', 'SCW_DEFAULT_REGION=fr-par', 'SCW2qonmwmwdbygo1h6p'],
  },
  {
    // Scaleway secret keys are UUIDs (sent as X-Auth-Token), recognizable only by their name.
    id: 'scaleway-secret-key',
    description: 'Scaleway secret key',
    provider: 'scaleway',
    keywords: ['scaleway', 'scw_secret', 'scw-secret'],
    pattern: assigned('(?:scaleway|scw)' + KEYISH, UUID),
    flags: 'i',
    entropy: 3,
    migrate: 'scaleway',
    truePositives: ['SCW_SECRET_KEY=b4c3a54c-2e37-41ec-9aac-60b22f602a32', '{"scw_secret_key": "3d7482d4-e1d5-44eb-90f0-6070603f9c93"}'],
    falsePositives: ['SCW_DEFAULT_PROJECT_ID=a604650c-cfb4-4c68-a2ee-9f81d6939678', 'SCW_SECRET_KEY=<secret key>'],
  },
  {
    // age (file encryption) identities: "AGE-SECRET-KEY-1" + 58 upper-case bech32 characters.
    id: 'age-secret-key',
    description: 'age encryption secret key (identity)',
    provider: 'age',
    keywords: ['age-secret-key-1'],
    pattern: '(?<![A-Za-z0-9-])(?<secret>AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})(?![A-Za-z0-9])',
    entropy: 3.5,
    truePositives: [
      '# created: 2025-02-11T10:04:55Z\n# public key: age1yn6y3t19sjqs3e41xsm9ic18b5bvl0psiuud6jwx73tblo924z99rbm7wf\nAGE-SECRET-KEY-15ZN6G8M35QFT003EWMF2MLTG5VNZAAQL3L7CHKL6N75XEHX03WKD34GNPV',
      'SOPS_AGE_KEY=AGE-SECRET-KEY-1MXNFMKA72WUSJTV45K4T3S63ZTWKHS6C2LSKCZT8H05U08K090997MEMSS',
    ],
    falsePositives: [
      'AGE-SECRET-KEY-1E4Z5QN5DC54X08D5SAWPRW2JZK4TNUNS8TJKRP543WH5ZFQAVR',
      'age-secret-key-1mr38b0chfiontqtido5o3fnyv49ylyf2qrieleu1pyxr9y90o3sju7t1cs',
      'SOPS_AGE_KEY=AGE-SECRET-KEY-1...',
    ],
  },
];
