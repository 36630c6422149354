import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectFindings } from '../../../cli/services/migrate/index.js';
import { fingerprint } from '../../../scanners/ruleset.js';
import { removeDir, tempDir, writeTree } from '../../helpers/cli.js';
import { githubToken } from '../../helpers/secrets.js';

describe('migrate --from-report of a verified scan', () => {
  let dir: string;
  const revoked = githubToken();
  const live = githubToken();
  beforeAll(() => {
    dir = tempDir();
    writeTree(dir, { 'a.env': `GITHUB_TOKEN=${revoked}\n`, 'b.env': `GH_TOKEN=${live}\n` });
    const finding = (file: string, secret: string, verification: string) => ({
      ruleId: 'github-classic-pat',
      file,
      fingerprint: fingerprint('github-classic-pat', secret),
      verification,
    });
    writeFileSync(join(dir, 'report.json'), JSON.stringify({ scan: { mode: 'tree' }, findings: [finding('a.env', revoked, 'revoked'), finding('b.env', live, 'live')] }));
  });
  afterAll(() => removeDir(dir));

  it('moves live keys first and keeps what the provider said', async () => {
    const findings = await collectFindings({ paths: [], fromReport: 'report.json', cwd: dir });
    expect(findings.map((f) => [f.file, f.verification])).toEqual([
      ['b.env', 'live'],
      ['a.env', 'revoked'],
    ]);
  });
});
