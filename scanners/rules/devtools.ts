import type { Rule } from '../types.js';

/** Quote, assignment operator (`=`, `:`, `=>`, `:=`), quote: what sits between a name and its value. */
const ASSIGN = '["\'`]?\\s{0,4}(?:[:=]|=>|:=)\\s{0,4}["\'`]?';
/** After the provider name, a word that says the value is a secret (UUIDs and hex need this: ids and hashes look the same). */
const KEYISH = '[\\w.-]{0,20}?(?:key|token|secret|pat|auth|password)\\w{0,12}';
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** `<name><assignment><value>` with the value as group `secret`, ending where the value's characters end. */
const assigned = (name: string, value: string) => `(?:${name})${ASSIGN}(?<secret>${value})(?![A-Za-z0-9_-])`;

/**
 * GitLab: https://docs.gitlab.com/security/tokens/#token-prefixes
 * Most tokens are a prefix + `Devise.friendly_token` (20 base64url characters). Routable tokens
 * (GitLab 17.x+, rolling out per token type) are prefix + base64url payload (27–300) + "." +
 * optional 2-character version + "." + 2-character payload length (base36) + 7-character CRC32 (base36).
 */
const GITLAB_ROUTABLE = '[A-Za-z0-9_-]{27,300}\\.(?:[0-9a-z]{2}\\.)?[0-9a-z]{9}';
const gitlab = (id: string, what: string, prefixes: string[], body: string, truePositives: string[], falsePositives: string[]): Rule => ({
  id,
  description: `GitLab ${what}`,
  provider: 'gitlab',
  keywords: prefixes.map((p) => p.toLowerCase()),
  pattern: `(?<![A-Za-z0-9_])(?<secret>(?:${prefixes.join('|')})(?:${body}))(?![A-Za-z0-9_-])`,
  entropy: 3,
  migrate: 'gitlab',
  truePositives,
  falsePositives,
});

export const devtoolRules: Rule[] = [
  // ── GitLab ──────────────────────────────────────────────────────────────────────────────────
  gitlab(
    'gitlab-pat',
    'personal, project, group or impersonation access token',
    ['glpat-'],
    `${GITLAB_ROUTABLE}|[A-Za-z0-9_-]{20}`,
    [
      'GITLAB_TOKEN=glpat-KldI-QD5oWAOGYmWpMfq',
      'git clone https://oauth2:glpat-HWuDkHW0te9OG8nt-vUjHfuOHmSbY1GC_md7.01.0riia7whl@gitlab.com/acme/app.git',
      'curl --header "PRIVATE-TOKEN: glpat-XDpTW8iWf7HV83dpOMzKE5XvUT_LpQB.0pm1023oj" https://gitlab.acme.io/api/v4/projects',
    ],
    ['GITLAB_TOKEN=glpat-Mc7DUQAXorsNH1aerlT', 'GITLAB_TOKEN=glpat-xxxxxxxxxxxxxxxxxxxx', 'GITLAB_TOKEN=glpat-sUL7L8tXvqtqLhJ7UTEgWjr8'],
  ),
  gitlab(
    'gitlab-deploy-token',
    'deploy token',
    ['gldt-'],
    `${GITLAB_ROUTABLE}|[A-Za-z0-9_-]{20}`,
    ['CI_DEPLOY_PASSWORD=gldt-Sqo_14XMhBDMfKA5g2Me', 'docker login registry.gitlab.com -u deploy -p gldt-UsVywAXF2IBLEAz6_6ER'],
    ['CI_DEPLOY_PASSWORD=gldt-6vhuEaR6ZyDv', 'gldt-<token>'],
  ),
  gitlab(
    'gitlab-runner-token',
    'runner authentication token',
    ['glrt-', 'glrtr-'],
    // New runners: "glrt-t<type>_" + routable body; older ones: 20 characters.
    `${GITLAB_ROUTABLE}|[A-Za-z0-9_-]{20}`,
    ['[[runners]]\n  url = "https://gitlab.com"\n  token = "glrt-t1_bVMCfTFE4rQPCBZk3M8m4Ahrdvr.01.128fs0rdo"', 'gitlab-runner register --token glrt-Jokcz_oOqYSWyMB4gw9A'],
    ['token = "glrt-BsMkbaKOlRjKXhk"', 'token = "glrt-xxxxxxxxxxxxxxxxxxxx"'],
  ),
  gitlab(
    'gitlab-runner-registration-token',
    'runner registration token (deprecated)',
    ['GR1348941'],
    '[A-Za-z0-9_-]{20}',
    ['gitlab-runner register --registration-token GR1348941GO6I1e_tPsVybwwOGECu', 'REGISTRATION_TOKEN: "GR1348941hj3Lu8_HqdSYg1IaTRxT"'],
    ['REGISTRATION_TOKEN: "GR1348941TlXkp-w9lT"', 'GR1348942sIRgGGHj-P1S9pReUvJU'],
  ),
  gitlab(
    'gitlab-pipeline-trigger-token',
    'pipeline trigger token',
    ['glptt-'],
    // "glptt-" + SecureRandom.hex(20)
    '[a-f0-9]{40}',
    [
      'curl -X POST -F token=glptt-db336c9aecd7bb8d19f2ca6fb2cd422f604bc1e5 -F ref=main https://gitlab.com/api/v4/projects/42/trigger/pipeline',
      'TRIGGER_TOKEN=glptt-96dd03aa7e7e9c131438d3f5fdbfccc216f541bc',
    ],
    ['TRIGGER_TOKEN=glptt-0da1e91aea45b2ef6a6e3a6c5f46b466dc2c45c', 'TRIGGER_TOKEN=glptt-T4X8ax7mlUDuooYO2rLBuC2GeBtGYmdMjTIZPWwn'],
  ),
  gitlab(
    'gitlab-ci-job-token',
    'CI/CD job token',
    ['glcbt-'],
    // "glcbt-" + partition id (hex) + "_" + 20 characters, or (17.x+) a JWT after the prefix.
    '[0-9a-fA-F]{1,5}_[A-Za-z0-9_-]{20}|eyJ[A-Za-z0-9_-]{10,2000}\\.eyJ[A-Za-z0-9_-]{10,4000}\\.[A-Za-z0-9_-]{16,1000}',
    ['https://gitlab-ci-token:glcbt-64_UP79n-myYI6_auOb8oX8@gitlab.acme.io/acme/app.git', 'CI_JOB_TOKEN=glcbt-1f_p5EjdCSpypr_m6Kl599L'],
    ['CI_JOB_TOKEN=glcbt-64_2C-xA_DvFE', 'CI_JOB_TOKEN=glcbt-dm26AiFz7lLY1Q1-GK-Y'],
  ),
  gitlab(
    'gitlab-incoming-mail-token',
    'incoming mail token',
    ['glimt-'],
    // "glimt-" + a 128-bit random number in base36 (up to 25 characters)
    '[0-9a-z]{20,25}',
    ['INCOMING_EMAIL_TOKEN=glimt-l61lw2frzlnajfz0wohvb87xs', 'incoming_email_token: "glimt-bifx10jloupj406uebpw31bf"'],
    ['INCOMING_EMAIL_TOKEN=glimt-tbwp5zcn8zt5', 'INCOMING_EMAIL_TOKEN=glimt-urfysfn61d5cbtnjz9mneigz9avx1r'],
  ),
  gitlab(
    'gitlab-oauth-app-secret',
    'OAuth application secret',
    ['gloas-'],
    // "gloas-" + SecureRandom.hex(32)
    '[a-f0-9]{64}',
    [
      'GITLAB_OAUTH_CLIENT_SECRET=gloas-1005b32aae1e7ffca2660dc281eacc8a76352aba812b9491c5f957e80869c169',
      '"client_secret": "gloas-f545af18f6ca8dd6265e87ec798c97df8a82542b4979b317f7b4c1e1bf61cefd"',
    ],
    ['GITLAB_OAUTH_CLIENT_SECRET=gloas-94f0349e0b97099b16336f4540c71d4ffc14aa1d', 'gloas-SxyCKUvQxybpq6Aq4KCraMdQIkYOQnCd8ZodsmHHVoXI6Cm5ryLhgtBOrtyasc9v'],
  ),
  gitlab(
    'gitlab-scim-token',
    'SCIM token',
    ['glsoat-'],
    `${GITLAB_ROUTABLE}|[A-Za-z0-9_-]{20}`,
    ['SCIM_TOKEN=glsoat-c99dfhg_mt_0FLyKIOP6', 'Authorization: Bearer glsoat-A11B-jTvXFX_G52M236K'],
    ['SCIM_TOKEN=glsoat-b6AYIJsPZqLw00eq', 'glsoat-...'],
  ),
  gitlab(
    'gitlab-feed-token',
    'feed token',
    ['glft-'],
    `${GITLAB_ROUTABLE}|[A-Za-z0-9_-]{20}`,
    ['https://gitlab.com/dashboard/projects.atom?feed_token=glft-LMCD1AGVJyITuMEaaPgL', 'FEED_TOKEN=glft-HtiLpMp2zhO6KDA7K294'],
    ['FEED_TOKEN=glft-bfkk1dYu', 'glft-xxxxxxxxxxxxxxxxxxxx'],
  ),
  gitlab(
    'gitlab-agent-token',
    'agent for Kubernetes token',
    ['glagent-'],
    // "glagent-" + Devise.friendly_token(50)
    `${GITLAB_ROUTABLE}|[A-Za-z0-9_-]{50}`,
    [
      'helm upgrade --install gitlab-agent gitlab/gitlab-agent --set config.token=glagent-yJ2g20udEbZ69ylScarqLud9s1Mr7XNKNPswMRst2IGg-0J5Ri',
      'token: glagent-zBojmPppAar2kmF5v3EMzSpX4lJtoS-xkTbMW-HE5c6PcUAzlp',
    ],
    ['token: glagent-bx0pvE8nmW0E4aHM7UA2', 'token: glagent-<agent token>'],
  ),
  gitlab(
    'gitlab-feature-flags-client-token',
    'feature flags client token',
    ['glffct-'],
    `${GITLAB_ROUTABLE}|[A-Za-z0-9_-]{20}`,
    ['UNLEASH_INSTANCE_ID=glffct-Bn9t68vwt0Zv2_jK13In', 'instanceId: "glffct-X7His_U2u8eBhUp3Qfl6"'],
    ['UNLEASH_INSTANCE_ID=glffct-f_QJknkT0r'],
  ),

  // ── Atlassian / Bitbucket ───────────────────────────────────────────────────────────────────
  {
    // Bitbucket Cloud app passwords: "ATBB" + 32 base62 characters (the last 8 a checksum).
    id: 'bitbucket-app-password',
    description: 'Bitbucket Cloud app password',
    provider: 'bitbucket',
    keywords: ['atbb'],
    pattern: '(?<![A-Za-z0-9_])(?<secret>ATBB[A-Za-z0-9]{32})(?![A-Za-z0-9_])',
    entropy: 3.5,
    migrate: 'bitbucket',
    truePositives: ['BITBUCKET_APP_PASSWORD=ATBB9ivlYPrpoZw9SJ5c6tHrE59NDB514D95', 'git clone https://jdoe:ATBBwwvS7KKt7wOz2UcHC18x6O3LD0766398@bitbucket.org/acme/app.git'],
    falsePositives: [
      'BITBUCKET_APP_PASSWORD=ATBBzWbsNDg8gVUFYqFNgy9M',
      'ATBBYzzRzRF7v07tZGdN3M823qWOn93OmW1UcbjzOwej',
      'BITBUCKET_APP_PASSWORD=ATBBxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
    ],
  },
  {
    // Atlassian (Jira, Confluence, Bitbucket) API tokens: "ATATT3" + base64url characters + "=" + an
    // 8-character hex checksum; 192 characters in all.
    id: 'atlassian-api-token',
    description: 'Atlassian API token',
    provider: 'atlassian',
    keywords: ['atatt3'],
    pattern: '(?<![A-Za-z0-9_-])(?<secret>ATATT3[A-Za-z0-9_-]{100,250}=[A-Fa-f0-9]{8})(?![A-Za-z0-9_=-])',
    entropy: 4,
    migrate: 'atlassian',
    truePositives: [
      'JIRA_API_TOKEN=ATATT3hDN8HlMBJ--sI2rTxhq1u1dSZNW5EspTWv2sIdHoJrh1iXpOXnFidJlYaaNzdgDuTso0krwpCZeYMph1rIbXwPjnqj2PUsqfoq2zHEHLHlmplWNUPRwfxLRWQyP4o9w4V4M1GPfKvJN-fLoTDC0-4AB_3plKWdCUbAPfGKilSTYD6o3F4=98BB86A6',
      'confluence:\n  token: "ATATT3piVeAbrSjwiwPF0m6naDHbflYF-mF5lupSbE8sLoYMmFrt1PSoQaPmy3KInjN9BNlV-khAAs2wzya_ZlHyGk5WcsTAi_Np0V4Bf-aRa2s01vITRhivDjQH4W0qVaIDJho_pO1nUQZTErkUCdVFE9hK1uA852Ip3h45-hmig0x_33Zc7B3=2818531A"',
    ],
    falsePositives: [
      'JIRA_API_TOKEN=ATATT3ACOVoecHF4iIWtH8VL1r4rZSeECNvdZPazMiA3ogB3UIcmWXrIoQr9vrFceGv0mqfRUwtEDwp-7kjQ_fXm5F7SRCeEDzO3LLeHss7NmWdmdy1T5m_8elebqZDU--iBMGpcxqjp1Nobvbb2GyUoRVru_o9tqZho0iv56zniSwNzV5r6Zwn',
      'JIRA_API_TOKEN=ATATT3Y3P_fE3XFw9uvlCYFxxrKhoxeIPutkMca8UdFlVA=105179E2',
      'JIRA_API_TOKEN=ATATT3xFfGF0...',
    ],
  },

  // ── CI services ─────────────────────────────────────────────────────────────────────────────
  {
    // CircleCI personal ("CCIPAT_") and project ("CCIPRJ_") API tokens: prefix + 22 base62 + "_" + 40 hex.
    id: 'circleci-api-token',
    description: 'CircleCI personal or project API token',
    provider: 'circleci',
    keywords: ['ccipat_', 'cciprj_'],
    pattern: '(?<![A-Za-z0-9_])(?<secret>CCIP(?:AT|RJ)_[A-Za-z0-9]{22}_[a-f0-9]{40})(?![A-Za-z0-9_])',
    entropy: 3.5,
    migrate: 'circleci',
    truePositives: [
      'CIRCLECI_TOKEN=CCIPAT_vuY2BATE66czqRPqp5ugA4_360b66ecb0c624b158577698e6c501063b0e8d74',
      'curl -H "Circle-Token: CCIPRJ_jYsF9NYvS7ZYMS9opWkvcH_dce60b2584f59b5261f8d8dafeb257ed074d1d54" https://circleci.com/api/v2/me',
    ],
    falsePositives: ['CIRCLECI_TOKEN=CCIPAT_4DGZnQKk3gfyuzPa2EBrqu', 'CIRCLECI_TOKEN=CCIPAT_Hs9TyLqefT5yR7DLlvDcXa_a1ac46fd43dd66a030abe8c1247f08'],
  },
  {
    // Buildkite API access tokens: "bkua_" + 40 hex.
    id: 'buildkite-api-token',
    description: 'Buildkite API access token',
    provider: 'buildkite',
    keywords: ['bkua_'],
    pattern: '(?<![A-Za-z0-9_])(?<secret>bkua_[a-f0-9]{40})(?![A-Za-z0-9_])',
    entropy: 3,
    migrate: 'buildkite',
    truePositives: ['BUILDKITE_API_TOKEN=bkua_5016a2c7fb674cc05da4118e4f646d5103e6ca4f', 'Authorization: Bearer bkua_f98976fe97dedc87ae09896f4747aaf8a0409a04'],
    falsePositives: ['BUILDKITE_API_TOKEN=bkua_89bb9db9b07493c016bdb2feb2136b945585818', 'bkua_rGAZPvAxkJXxDAiT88UTsTPhchFNXatVwuVmuxjJ'],
  },
  {
    // Travis CI API tokens: 22 base64url characters, recognizable only by their name.
    id: 'travis-ci-token',
    description: 'Travis CI API token',
    provider: 'travis',
    keywords: ['travis'],
    pattern: assigned('travis' + KEYISH, '[A-Za-z0-9_-]{22}'),
    flags: 'i',
    entropy: 3.5,
    migrate: 'travis',
    truePositives: ['TRAVIS_API_TOKEN=k_UfNs3BHiRk00RmmAKxtU', '"travis_token": "XdjYzSc-ms0zPOcF-xIPf8"'],
    falsePositives: ['TRAVIS_BUILD_ID=3321642833965366757507', 'TRAVIS_API_TOKEN=6yKZxrzy7gjq8xUerwrc2', 'TRAVIS_TOKEN=$TRAVIS_TOKEN'],
  },

  // ── Sentry ──────────────────────────────────────────────────────────────────────────────────
  {
    // Organization auth tokens: "sntrys_" + base64 JSON payload (org, URLs, issue time) + "_" + 43 base64.
    // https://docs.sentry.io/security-legal-pii/security/token-formats/
    id: 'sentry-org-token',
    description: 'Sentry organization auth token',
    provider: 'sentry',
    keywords: ['sntrys_'],
    pattern: '(?<![A-Za-z0-9_])(?<secret>sntrys_eyJ[A-Za-z0-9+/]{20,600}={0,2}_[A-Za-z0-9+/]{43})(?![A-Za-z0-9+/_=])',
    entropy: 4,
    migrate: 'sentry',
    truePositives: [
      'SENTRY_AUTH_TOKEN=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',
      'sentry-cli --auth-token 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 releases new 1.4.2',
    ],
    falsePositives: ['SENTRY_AUTH_TOKEN=sntrys_eyJ...', 'SENTRY_AUTH_TOKEN=sntrys_5B384kxXMNICi5K0Y2TqfPbAbzCOKgckeJofQ5wY'],
  },
  {
    // Personal auth tokens: "sntryu_" + 64 hex; "sntrya_" and "sntryi_" are reserved for the same shape.
    id: 'sentry-user-token',
    description: 'Sentry personal auth token',
    provider: 'sentry',
    keywords: ['sntryu_', 'sntrya_', 'sntryi_'],
    pattern: '(?<![A-Za-z0-9_])(?<secret>sntry[uai]_[a-f0-9]{64})(?![A-Za-z0-9_])',
    entropy: 3,
    migrate: 'sentry',
    truePositives: [
      'SENTRY_AUTH_TOKEN=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',
      'defaults.auth.token: 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',
    ],
    falsePositives: ['SENTRY_AUTH_TOKEN=sntryu_0c7b29d6dd49efc42b4edd2d9613ea54e9e921c8', 'sntryx_00aa349f095d1356e7fc532012d816a912bdc695c37ff7bcba12044b23decf09'],
  },
  {
    // Legacy and internal-integration tokens: 64 hex, recognizable only by their name.
    id: 'sentry-auth-token-legacy',
    description: 'Sentry auth token (unprefixed format)',
    provider: 'sentry',
    keywords: ['sentry'],
    pattern: assigned('sentry' + KEYISH, '[a-f0-9]{64}'),
    flags: 'i',
    entropy: 3,
    migrate: 'sentry',
    truePositives: [
      'SENTRY_AUTH_TOKEN=ac5c65c569031bc419a7952ebbe8af35ee2c5a7cd2bfea378d6503008e86b1b7',
      '[auth]\nsentry_token = cffb087c54b4821c38ccce5094359de3066692704ad7745ccb63720ff09d4ce7',
    ],
    falsePositives: [
      'SENTRY_RELEASE=b3477cf0b671aaf6bcc46223d5ae2a275fd6b2e4',
      'SENTRY_AUTH_TOKEN=a015268eb10cb83426923149021338b0488b0c1ad64224f1e3b77007b2d05a1',
      'SENTRY_DSN=https://4ac0ca559fe391513a8530b858a6287f@o42.ingest.sentry.io/7',
    ],
  },

  // ── Code hosting and quality ────────────────────────────────────────────────────────────────
  {
    // Gitea / Forgejo (and Codeberg) access tokens: 40 hex, recognizable only by their name.
    id: 'gitea-token',
    description: 'Gitea or Forgejo access token',
    provider: 'gitea',
    keywords: ['gitea', 'forgejo', 'codeberg'],
    pattern: assigned('(?:gitea|forgejo|codeberg)' + KEYISH, '[a-f0-9]{40}'),
    flags: 'i',
    entropy: 3,
    migrate: 'gitea',
    truePositives: ['GITEA_TOKEN=8152378105df6f94fbc8a285d64defaaf7f8ebdc', 'forgejo_access_token: "1068376f53b722207ff417dffe329b5eed8b5eae"'],
    falsePositives: ['GITEA_COMMIT=3d6b0f059de5b654d77d77c7fc6a70a227c327bc', 'GITEA_TOKEN=37338bd2ad9dfe7b696af8d36e277563fbfadb7', 'GITEA_TOKEN=${{ secrets.GITEA_TOKEN }}'],
  },
  {
    // Codecov upload and API tokens are UUIDs, recognizable only by their name.
    id: 'codecov-token',
    description: 'Codecov upload or API token',
    provider: 'codecov',
    keywords: ['codecov'],
    pattern: assigned('codecov' + KEYISH, UUID),
    flags: 'i',
    entropy: 3,
    migrate: 'codecov',
    truePositives: ['CODECOV_TOKEN=d8ec3766-dcaa-423f-b54b-d6ce502470ca', '- uses: codecov/codecov-action@v4\n  with:\n    codecov_token: b7622256-1338-4002-a877-c02aff05aaac'],
    falsePositives: ['CODECOV_TOKEN=${{ secrets.CODECOV_TOKEN }}', 'CODECOV_REPO_ID=6bb0660a-d691-4689-9044-2d2ce433083b'],
  },
  {
    // Snyk API tokens are UUIDs, recognizable only by their name.
    id: 'snyk-token',
    description: 'Snyk API token',
    provider: 'snyk',
    keywords: ['snyk'],
    pattern: assigned('snyk' + KEYISH, UUID),
    flags: 'i',
    entropy: 3,
    migrate: 'snyk',
    truePositives: ['SNYK_TOKEN=8a494db9-88bb-43a8-aa7f-106e483d7652', '"snyk_api_token": "ea6a1413-64d0-47fc-beb2-db34331dc4b9"'],
    falsePositives: ['SNYK_ORG_ID=d8687344-fc8c-43fb-a194-da71a601ba9e', 'SNYK_TOKEN=$SNYK_TOKEN'],
  },
  {
    // SonarQube tokens: "squ_" (user), "sqp_" (project analysis), "sqa_" (global analysis) + 40 hex.
    id: 'sonarqube-token',
    description: 'SonarQube / SonarQube Cloud token',
    provider: 'sonarqube',
    keywords: ['squ_', 'sqp_', 'sqa_'],
    pattern: '(?<![A-Za-z0-9_])(?<secret>sq[upa]_[a-f0-9]{40})(?![A-Za-z0-9_])',
    entropy: 3,
    migrate: 'sonarqube',
    truePositives: ['SONAR_TOKEN=squ_f679034c058c4bba91dfc5880b280db9d871df8c', 'mvn sonar:sonar -Dsonar.token=sqp_949dce1dcbf5e14801e1f1c8402c47fb5381d11c'],
    falsePositives: ['SONAR_TOKEN=squ_e90b20f4dcf29c59ef983e729a9d88a03cf9c25', 'sqx_ba8a8df9aa216644699c9327af565fc85cb9d4dd'],
  },
  {
    // SonarQube Cloud (SonarCloud) and older SonarQube tokens: 40 hex, recognizable only by their name.
    id: 'sonarqube-token-legacy',
    description: 'SonarQube / SonarCloud token (unprefixed format)',
    provider: 'sonarqube',
    keywords: ['sonar'],
    pattern: assigned('sonar' + KEYISH, '[a-f0-9]{40}'),
    flags: 'i',
    entropy: 3,
    migrate: 'sonarqube',
    truePositives: ['SONAR_TOKEN=a26dc72a39a77944607345a36b8aa7674d90a58c', 'sonar.token=b7c82dc74f864d835a0938b16818f2b9073ee796'],
    falsePositives: ['SONAR_SCM_REVISION=cc9b2ca4fe303b62873a3a948307341e6b7cb861', 'SONAR_TOKEN=${{ secrets.SONAR_TOKEN }}'],
  },

  // ── API tooling ─────────────────────────────────────────────────────────────────────────────
  {
    // Postman API keys: "PMAK-" + 24 hex + "-" + 34 hex.
    id: 'postman-api-key',
    description: 'Postman API key',
    provider: 'postman',
    keywords: ['pmak-'],
    pattern: '(?<![A-Za-z0-9_-])(?<secret>PMAK-[a-f0-9]{24}-[a-f0-9]{34})(?![A-Za-z0-9_-])',
    entropy: 3,
    migrate: 'postman',
    truePositives: [
      'POSTMAN_API_KEY=PMAK-bfce649b45dc0dd39a7223dc-6d3450e3948d43bd1d74c9aaea8ccf48b8',
      'curl -H "X-Api-Key: PMAK-ed9f2441cfc57fbc24e71d7f-c227764e68b766ca5f7da9edad8f3d7dd3" https://api.getpostman.com/me',
    ],
    falsePositives: ['POSTMAN_API_KEY=PMAK-e415a3f81351b08b108e1954', 'POSTMAN_API_KEY=PMAK-292621c0b95fe6bbc7ecad6e-231db4b8c20b559206622aed9674b1'],
  },
  {
    // JetBrains YouTrack / Hub permanent tokens: "perm:" (or "perm-") + base64 login + "." +
    // base64 token name + "." + 30 random base62 characters.
    id: 'jetbrains-permanent-token',
    description: 'JetBrains YouTrack / Hub permanent token',
    provider: 'jetbrains',
    keywords: ['perm:', 'perm-'],
    pattern: '(?<![A-Za-z0-9_])(?<secret>perm[:-][A-Za-z0-9+/=_-]{4,128}\\.[A-Za-z0-9+/=_-]{4,128}\\.[A-Za-z0-9]{30})(?![A-Za-z0-9_])',
    entropy: 3.5,
    migrate: 'jetbrains',
    truePositives: [
      'YOUTRACK_TOKEN=perm:am9lLmJsb2dncw==.Q0ktdG9rZW4=.yFU5VRk2tJIDCJcpJ8MUJ5JkVakyUL',
      'Authorization: Bearer perm-c3ZjLWJ1aWxk.WW91VHJhY2sgQ0k=.Ia0eG3zng9sN3si4SHGnhzLZgCy4Bj',
    ],
    falsePositives: ['Authorization: Bearer perm:cm9vdA==.dG9rZW4=.HPkmW5kD7dHez6wQTe1O', 'perm:read.write.admin'],
  },
];
