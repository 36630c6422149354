import type { Rule } from '../types.js';

const re = String.raw;

/** Between a name and its value: `=`, `:`, `=>` or `:=`, with optional quotes and spaces. */
const ASSIGN = re`["'\`]?\s{0,4}(?:[:=]|=>|:=)\s{0,4}["'\`]?`;

export const registryRules: Rule[] = [
  {
    // npm granular and automation tokens: npm_ + 30 base62 + 6-character base62 CRC32 of those 30,
    // the scheme GitHub's tokens use.
    id: 'npm-access-token',
    description: 'npm access token',
    provider: 'npm',
    keywords: ['npm_'],
    pattern: re`(?<![A-Za-z0-9_])(?<secret>npm_[A-Za-z0-9]{36})(?![A-Za-z0-9])`,
    validate: 'crc32-base62',
    migrate: 'npm',
    truePositives: [
      '//registry.npmjs.org/:_authToken=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',
      'NPM_TOKEN=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',
      '"token": "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"',
    ],
    falsePositives: [
      'NPM_TOKEN=npm_EvJypXm3lBVwcSMQJeupYFVZM3GTJS2EmitA', // checksum does not match
      'NPM_TOKEN=npm_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
      'NPM_TOKEN=npm_VkP3GBFQJm4DBLiMbPKj75pd1iVvGG',
    ],
  },
  {
    // .npmrc auth lines, `//registry/:_authToken=<token>`, and Yarn's `npmAuthToken: <token>`. Legacy npm
    // tokens are UUIDs, which no other rule reports; other registries put opaque tokens here.
    // Variable references (`${NPM_TOKEN}`) are left alone.
    id: 'npm-registry-auth-token',
    description: 'Registry auth token in an .npmrc or .yarnrc.yml file',
    provider: 'npm',
    keywords: ['_authtoken', 'npmauthtoken'],
    pattern: re`(?:_authToken\s{0,4}=|(?<![A-Za-z0-9])npmAuthToken["']?\s{0,4}:)\s{0,4}["']?(?<secret>[A-Za-z0-9._~+/=-]{20,1024})(?![A-Za-z0-9._~+/=-])`,
    entropy: 3,
    migrate: 'npm',
    truePositives: [
      'registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=aa382736-423e-4508-ac1a-2dd20b0a10a8',
      '//npm.pkg.acme.io/repository/npm/:_authToken="btQrk4pRK_Hnja59HfR79mDKKTagBek-dQfYtHouy79K"',
      'npmScopes:\n  acme:\n    npmAuthToken: "c8c65cbb-9c06-4585-87c3-bb1b8d50c1f0"',
    ],
    falsePositives: [
      '//registry.npmjs.org/:_authToken=${NPM_TOKEN}',
      '//registry.npmjs.org/:_authToken=00000000-0000-0000-0000-000000000000',
      '//registry.npmjs.org/:_authToken=',
      'npmAuthToken: "${NPM_AUTH_TOKEN}"',
    ],
  },
  {
    // .npmrc basic auth: `_auth=` is base64 of user:password, `:_password=` is a base64 password.
    id: 'npm-registry-password',
    description: 'Registry username and password in an .npmrc file',
    provider: 'npm',
    keywords: ['_auth', ':_password'],
    // The key starts its line or follows the registry's `:` (`//registry/:_auth=`): not `self._auth = …`.
    pattern: re`(?<![^\s:])_(?:auth|password)\s{0,4}=\s{0,4}["']?(?<secret>[A-Za-z0-9+/]{12,512}={0,2})(?![A-Za-z0-9+/=(])`,
    entropy: 3,
    migrate: 'npm',
    truePositives: [
      '_auth=4HH8TUE/4233nu+qgKbeBHAAXTaJbCb+',
      '//npm.acme.io/:_password="/9tlliT8ZaFjPQBKNcpMML=="',
      '//registry.acme.io/:_auth = MHeP88g5mAYI2D7gajsb2mD4Ms3XFng1gSK7l2w9',
    ],
    falsePositives: [
      '_auth=${NPM_AUTH}',
      'db_password = R/rz7TWxgrH2dg+wRnsf5seC',
      '_authToken=${NPM_TOKEN}',
      '_auth=dXNlcg==',
      '        self._auth = BedrockAwsAuth(self._config)',
    ],
  },
  {
    // PyPI API tokens: pypi- + a base64url macaroon whose header encodes the location "pypi.org".
    id: 'pypi-upload-token',
    description: 'PyPI upload token',
    provider: 'pypi',
    keywords: ['pypi-ageichlwas5vcmc'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,1024})(?![A-Za-z0-9_-])`,
    entropy: 4,
    migrate: 'pypi',
    truePositives: [
      '[pypi]\n  username = __token__\n  password = pypi-AgEIcHlwaS5vcmc5XByFUctoQe-8GLB4bDx8V1N-IG9JlQSgafigvbt6wMOh2MIOAZRa_JfqpwFV7WSH5WoFic3DU_sPbM2caI72EOSScJhKwtal20rQ3hGYZmRa8puAM2Jp2mq4llsJOe4p62Jpe-VYZOgheHAMYWz9FcmdTSpycsQ54q_XkrVKBZY4f3-_8BT7sA8gbnv5WBR8pOScwoa',
      'TWINE_PASSWORD=pypi-AgEIcHlwaS5vcmcKmEE1UvM_5MbJc41-OdPJxib98ortwROj9VQN6DaPV31Pvt8uRmr5Sh0zJkIbec5AolWjsdNBVQXLPCj8eQUGJdLZCDsSuKxlMRAd4zqZQrGPdWYmMM6HYamBo_6EbWoXhluIXruYkpsOJfpkga-pubwZHVMLrMQ',
    ],
    falsePositives: [
      'TWINE_PASSWORD=pypi-AgEIcHlwaS5vcmc...',
      'pypi-AgEIcHlwaS5vcmc-8zwCvAKSAjrD4jMCT7p',
      'pypi-AgENdGVzdC5weXBpLm9yZwarlUTyTL-TCr10Hwh4vP8AJvcRgthzrD6gzeN1omimfRRYF4rj6yJMGQMDDqXN9pCMvOkpISnWX3u2Dn9zae8tLZed0hgzhK98RVU1FhzEKBI9WFDgQByTUGexarGc8I_zmaiFp38zm6rWgc7uFSzxA9KG3DCKq1',
    ],
  },
  {
    // TestPyPI tokens: the macaroon's location is "test.pypi.org".
    id: 'pypi-test-upload-token',
    description: 'TestPyPI upload token',
    provider: 'pypi',
    keywords: ['pypi-agendgvzdc5wexbplm9yzw'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>pypi-AgENdGVzdC5weXBpLm9yZw[A-Za-z0-9_-]{50,1024})(?![A-Za-z0-9_-])`,
    entropy: 4,
    migrate: 'pypi',
    truePositives: [
      '[testpypi]\nusername = __token__\npassword = pypi-AgENdGVzdC5weXBpLm9yZwSwGjdImOYhOXeo44HEWnDCaKofddEBWc65yN-FvA7AcbhIjB5Z4mGvk7qfZwVEmJTD0mKURZv2UMHHmiO_u5QcZQDszFhUIl7WSd3hKvy3Z-CnKcjMl1GMtnMV-1NIfHZAOzKTnHws_SoX1BQcwXabzUwrAjhe_qxUEFeGh4UDva1PNDrvII',
      'TEST_PYPI_TOKEN=pypi-AgENdGVzdC5weXBpLm9yZwOThvDYp_QJv3pfvp_3dlW7VFtGeRujf1bVG8w0sGOAdTIqXGPQ3kDRjGs2UfkZHsIm2whPXJpd5s4rRBHUJdvT7QtqxCWrH6ZFO268_Wf9y0n4IbpWnoP2tHmJ2fdIzwUnVk6ulGqi3smjwCjJplxvhf3PGip7qk',
    ],
    falsePositives: ['password = pypi-AgENdGVzdC5weXBpLm9yZw', 'pypi-AgENdGVzdC5weXBpLm9yZw8L0BLHJH-LuFObqma5wy7ItqnxBMQm'],
  },
  {
    // Docker Hub personal access tokens: dckr_pat_ + 27 base64url.
    id: 'docker-hub-pat',
    description: 'Docker Hub personal access token',
    provider: 'docker',
    keywords: ['dckr_pat_'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>dckr_pat_[A-Za-z0-9_-]{27})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'docker',
    truePositives: ['DOCKERHUB_TOKEN=dckr_pat_jj-rlvxchQ3bcwEiYPFzWpBLFDU', 'echo "dckr_pat_xmIgwrW9QTOCGNNbuiINqJoatyF" | docker login -u acme --password-stdin'],
    falsePositives: ['DOCKERHUB_TOKEN=dckr_pat_...', 'dckr_pat_an1KlLK54h3siGohtoDo', 'DOCKERHUB_TOKEN=dckr_pat_xxxxxxxxxxxxxxxxxxxxxxxxxxx'],
  },
  {
    // Docker Hub organization access tokens: dckr_oat_ + a base64url body (32 characters seen; width not published).
    id: 'docker-hub-org-token',
    description: 'Docker Hub organization access token',
    provider: 'docker',
    keywords: ['dckr_oat_'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>dckr_oat_[A-Za-z0-9_-]{24,64})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'docker',
    truePositives: ['DOCKER_USERNAME=acme\nDOCKER_TOKEN=dckr_oat_B8BnU5gBMI8lN-JGi6mSkOoaDs82ddTB', '"password": "dckr_oat_ol11VC27CnmuLEwGaF3k5bckg5fXnXtV"'],
    falsePositives: ['DOCKER_API_TOKEN=dckr_oat_...', 'dckr_oat_tfIWNffFkkdm'],
  },
  {
    // RubyGems API keys: rubygems_ + 48 hex.
    id: 'rubygems-api-key',
    description: 'RubyGems API key',
    provider: 'rubygems',
    keywords: ['rubygems_'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>rubygems_[a-f0-9]{48})(?![A-Za-z0-9_-])`,
    entropy: 3,
    migrate: 'rubygems',
    truePositives: [
      'GEM_HOST_API_KEY=rubygems_c65db52437caef3270026ddac48e0d5cea4193e711d1adab',
      '---\n:rubygems_api_key: rubygems_96d0ed614c92e2259639bd79338c5bc93a2c29e9ca8f84c2',
    ],
    falsePositives: ['GEM_HOST_API_KEY=rubygems_7477bffc3a35472a687935521d6a2b532e27af52', ':rubygems_api_key: rubygems_<key>'],
  },
  {
    // NuGet.org API keys: oy2 + 43 lower-case base32-ish characters.
    id: 'nuget-api-key',
    description: 'NuGet.org API key',
    provider: 'nuget',
    keywords: ['oy2'],
    pattern: re`(?<![A-Za-z0-9])(?<secret>oy2[a-z0-9]{43})(?![A-Za-z0-9])`,
    entropy: 3.5,
    migrate: 'nuget',
    truePositives: [
      'NUGET_API_KEY=oy2jglgduk28uidsuotng4cbio0dflqotwn3mao27dcl37',
      'dotnet nuget push pkg.nupkg --api-key oy2qi6ym1yjef9aakqea05lq04yndtu8zhdaarrsf47bfs --source https://api.nuget.org/v3/index.json',
    ],
    falsePositives: [
      'NUGET_API_KEY=oy2mka77mtabhorlho9bxsyp23jnp5vsw',
      'NUGET_API_KEY=oy2eR916wKGhuwhN3VEpgbHGP9RFwY5FbzZdU3noNOaiYQX',
      'xoy24pn8i3fs0ot8m5oghee2b9lcwyz23d61wvhrct7wq8f',
    ],
  },
  {
    // crates.io API tokens: cio + 32 base62, near a mention of Cargo, crates or a [registry] table.
    id: 'crates-io-api-token',
    description: 'crates.io API token',
    provider: 'crates-io',
    keywords: ['cargo', 'crates', '[registry'],
    window: { before: 256, after: 256 },
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>cio[A-Za-z0-9]{32})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'crates-io',
    truePositives: ['[registry]\ntoken = "cioRwYEsVZDB8sunXqdXAfvtzvr48FrrmuS"', 'CARGO_REGISTRY_TOKEN=ciovnlVznpvu2MI33qNurC4PGoZTurjjQp1'],
    falsePositives: ['CARGO_REGISTRY_TOKEN=cioimSacPnTs91RsLRd4Wiw', 'TOKEN=cioXF4jhpnWnOxiLsOfANcbWutHHQLnWtHV', 'CARGO_REGISTRY_TOKEN=${{ secrets.CRATES_TOKEN }}'],
  },
  {
    // JFrog Artifactory API keys (deprecated, still in use): AKCp + 69 base62.
    id: 'jfrog-api-key',
    description: 'JFrog Artifactory API key',
    provider: 'jfrog',
    keywords: ['akcp'],
    pattern: re`(?<![A-Za-z0-9])(?<secret>AKCp[A-Za-z0-9]{69})(?![A-Za-z0-9])`,
    entropy: 4,
    migrate: 'jfrog',
    truePositives: [
      'ARTIFACTORY_API_KEY=AKCp4BFFjmpFvxXjBGY51ixKAsCrxJ2B0VHZC0eiw349a99i8MiTSuDp0ZnukoDuN6NKzgZLM',
      "curl -H 'X-JFrog-Art-Api: AKCpL1RZNA6Kkoydw47FpiTEQCljkbAPMpPYnNQyabeevFqL8mw0mGJ0YBK6LcnyeX9hOwnv5' https://acme.jfrog.io/artifactory/api/repositories",
    ],
    falsePositives: ['ARTIFACTORY_API_KEY=AKCproCc76o07kPECJDf3jLXkgVMrhBjpzIKfw3DRVOQ', 'AKCp<your api key>'],
  },
  {
    // JFrog reference tokens: 64 base62 characters starting cmVmdGtu (base64 of "reftkn").
    id: 'jfrog-reference-token',
    description: 'JFrog reference token',
    provider: 'jfrog',
    keywords: ['cmvmdgtu'],
    pattern: re`(?<![A-Za-z0-9+/])(?<secret>cmVmdGtu[A-Za-z0-9]{56})(?![A-Za-z0-9+/=])`,
    entropy: 4,
    migrate: 'jfrog',
    truePositives: [
      'JFROG_ACCESS_TOKEN=cmVmdGtuOjAxOjn47pVfWMCXSM94gto0IpmoJn5hMR3883J2i4wnudDVIAk3q9Qh',
      'Authorization: Bearer cmVmdGtuOjAxOjPGe16JCv32zzeckj6TVnjy8aIvYiSNF87q0bWmr4HFXl34kWkl',
    ],
    falsePositives: ['JFROG_ACCESS_TOKEN=cmVmdGtu', 'cmVmdGtuOjAxOjszCOYyxc3xLTr2G8aQZ7'],
  },
  {
    // Clojars deploy tokens: CLOJARS_ + 60 hex.
    id: 'clojars-deploy-token',
    description: 'Clojars deploy token',
    provider: 'clojars',
    keywords: ['clojars_'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>CLOJARS_[a-f0-9]{60})(?![A-Za-z0-9_-])`,
    entropy: 3,
    migrate: 'clojars',
    truePositives: [
      'CLOJARS_PASSWORD=CLOJARS_68afce466c01db2b3a98b702a09c7cbfc0b594d8ab4110e1c3b2e326d929',
      '{:clojars {:username "acme" :password "CLOJARS_6c47ecf929a8f0561f79579d6c8952007eb2ec7347357b484ef4207e6c21"}}',
    ],
    falsePositives: ['CLOJARS_USERNAME=acme', 'CLOJARS_PASSWORD=CLOJARS_f4d01e2cd805ade8419e762b378cee63ccce2121'],
  },
  {
    // Private Packagist tokens: packagist_ + 3-letter kind (ort, out, uut, …) + _ + 60 hex random + 8 hex checksum.
    id: 'packagist-token',
    description: 'Private Packagist authentication token',
    provider: 'packagist',
    keywords: ['packagist_'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>packagist_[a-z]{3}_[a-f0-9]{68})(?![A-Za-z0-9_-])`,
    entropy: 3,
    migrate: 'packagist',
    truePositives: [
      'composer config --global --auth http-basic.repo.packagist.com token packagist_ort_fe5a8a69a51f54704c01aa0114b07471156266e13b3f4201440702276b2437137241',
      '"http-basic": {"repo.packagist.com": {"username": "token", "password": "packagist_uut_70edc04e2f6e4ebc4e35ba07f0be431f70bd9860ff3f58604f0b4d7a91559866c83e"}}',
    ],
    falsePositives: ['PACKAGIST_TOKEN=packagist_ort_4cb27202e3617e9872dcc1201ed646b8f19d0ce4', 'packagist_api_token = get_token()'],
  },
  {
    // Hex.pm API keys: 32 hex, named HEX_API_KEY (mix hex.publish) or similar.
    id: 'hex-api-key',
    description: 'Hex.pm API key',
    provider: 'hex',
    keywords: ['hex_api_key', 'hex-api-key', 'hexpm_api_key', 'hexpm-api-key'],
    pattern: re`(?<![A-Za-z0-9])hex(?:pm)?[_-]api[_-]key${ASSIGN}(?<secret>[a-f0-9]{32})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 3,
    migrate: 'hex',
    truePositives: ['HEX_API_KEY=500fea58d8283583d5d9685dd210dd9e', '      HEXPM_API_KEY: "2cf5a0014098269fbb1567015fe1465d"'],
    falsePositives: ['HEX_API_KEY=${{ secrets.HEX_API_KEY }}', 'HEX_API_KEY=b5c0d05e107378d14c9b', 'COLOR_HEX_KEY=d49b532869f365c80bc0c8876ebf7f17'],
  },
  {
    // pub.dev third-party repository tokens, stored by `dart pub token add` in pub-tokens.json:
    // {"version":1,"hosted":[{"url":"https://…","token":"…"}]}.
    id: 'pub-dev-repository-token',
    description: 'Dart pub hosted-repository token',
    provider: 'pub-dev',
    keywords: ['"hosted"'],
    window: { after: 1024 },
    // The token must sit next to its entry's "url" (before or after it).
    pattern: re`"token"(?:(?<="url"\s{0,4}:\s{0,4}"https?://[^"\s]{1,200}"\s{0,4},\s{0,16}"token")|(?=\s{0,4}:\s{0,4}"[^"\s]{16,512}"\s{0,4},\s{0,16}"url"\s{0,4}:\s{0,4}"https?://))\s{0,4}:\s{0,4}"(?<secret>[A-Za-z0-9._~+/=-]{16,512})"`,
    entropy: 3.5,
    migrate: 'pub-dev',
    truePositives: [
      '{\n  "version": 1,\n  "hosted": [\n    {\n      "url": "https://pub.acme.io",\n      "token": "VegMta_9lBVFDFQ_1d_H-7zYP3YteLZO8K8FQLKy3V5REhu-"\n    }\n  ]\n}',
      '{"version":1,"hosted":[{"url":"https://dart.cloudsmith.io/acme/packages/","token":"AjRd36k5ZsDIU99CCg6Gs5Il8hgLENEjzLVKBksi"}]}',
      '{"version":1,"hosted":[{"token":"5qzLya3rAvhKwMchjMuVKqLBKOU11AywFyWrim4k","url":"https://pub.acme.io"}]}',
    ],
    falsePositives: [
      '{"version":1,"hosted":[{"url":"https://pub.acme.io","env":"PUB_ACME_TOKEN"}]}',
      '{"hosted":[{"url":"https://pub.acme.io","token":"short"}]}',
      '{"token": "RwpcbAPCkEEtfHwyWkj2zdVeZvSbAbR1r0aziGXP"}',
      '{"hosted": true, "token": "tKJD4BsdnvRmI9nLshGf17WumvUrUMSciC2tWCdE", "name": "acme"}',
    ],
  },
];
