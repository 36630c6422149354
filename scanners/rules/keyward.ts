import type { Rule } from '../types.js';

/** keyward's own tokens: prefix + 43 base62 characters (32 random bytes) + 6-character base62 CRC32. */
const keywardToken = (id: string, prefix: 'kwg_' | 'kws_', what: string, valid: string): Rule => ({
  id,
  description: `keyward ${what}`,
  provider: 'keyward',
  keywords: [prefix],
  pattern: `(?<![A-Za-z0-9_])(?<secret>${prefix}[A-Za-z0-9]{49})(?![A-Za-z0-9])`,
  validate: 'crc32-base62',
  truePositives: [`KEYWARD_SESSION=${valid}`, `Authorization: Bearer ${valid}`],
  falsePositives: [`${valid.slice(0, -1)}${valid.endsWith('A') ? 'B' : 'A'}`, `${prefix}<grant token>`, valid.slice(0, 40)],
});

export const keywardRules: Rule[] = [
  keywardToken('keyward-grant-token', 'kwg_', 'grant token', 'kwg_ctROBlSr6J7DjbPojv1UHwTpDOBDuTZ0GHpHIMW66DC0bvW2B'),
  keywardToken('keyward-session-token', 'kws_', 'session token', 'kws_VnRds27lZ0kaSpyC4lqy0JSJP2dq72JoN7x5VqFfAvo2hMx8e'),
];
