import type { Rule } from '../types.js';

/**
 * GitHub: https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/
 * Prefix + 30 base62 characters + a 6-character base62 CRC32 of those 30.
 * Fine-grained PATs: `github_pat_` + 22 + `_` + 59 base62 (no documented checksum).
 */
const githubChecksummed = (id: string, prefix: string, what: string, valid: string, invalid: string): Rule => ({
  id,
  description: `GitHub ${what}`,
  provider: 'github',
  keywords: [prefix],
  pattern: `\\b(?<secret>${prefix}[A-Za-z0-9]{36})(?![A-Za-z0-9])`,
  validate: 'crc32-base62',
  migrate: 'github',
  truePositives: [`GITHUB_TOKEN=${valid}`, `"token": "${valid}"`],
  falsePositives: [
    `token = ${invalid}`, // checksum does not match
    `${prefix}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx`,
    `${prefix}${valid.slice(4, 30)}`, // too short
  ],
});

export const codeHostRules: Rule[] = [
  githubChecksummed('github-classic-pat', 'ghp_', 'personal access token (classic)', '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', 'ghp_md9UrKaPiyG0WV6B1oHD7GXRbswIyA0gx66A'),
  githubChecksummed('github-oauth-token', 'gho_', 'OAuth access token', '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', 'gho_1YhVRgt63GC2G9UAC3vAkX4mBfbYXi0xZIgA'),
  githubChecksummed('github-app-user-token', 'ghu_', 'App user-to-server token', 'ghu_11pHWsmJw7vJQrY9uOWQ1CHfq2oJ1r1MD0TF', 'ghu_11pHWsmJw7vJQrY9uOWQ1CHfq2oJ1r1MD0TA'),
  githubChecksummed(
    'github-app-installation-token',
    'ghs_',
    'App installation (server-to-server) token',
    'ghs_0nY46XDJ6DvX5CETHVFqJnZa7y5Qzg1yHqT8',
    'ghs_0nY46XDJ6DvX5CETHVFqJnZa7y5Qzg1yHqTA',
  ),
  githubChecksummed('github-refresh-token', 'ghr_', 'App refresh token', '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', 'ghr_ePPpXmE6Zz9EBfKeM4L1KqJhENM8e91D9vAA'),
  {
    id: 'github-fine-grained-pat',
    description: 'GitHub fine-grained personal access token',
    provider: 'github',
    keywords: ['github_pat_'],
    pattern: '\\b(?<secret>github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})(?![A-Za-z0-9])',
    entropy: 4,
    migrate: 'github',
    truePositives: ['GH_TOKEN=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'],
    falsePositives: ['github_pat_XXXXXXXXXXXXXXXXXXXXXX_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX', 'github_pat_11Qq0Ld9TVRGGVrw9QJTqU_short'],
  },
];
