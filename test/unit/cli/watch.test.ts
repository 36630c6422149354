import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultWatchPaths, formatFinding } from '../../../cli/services/watch.js';
import { removeDir, tempDir, writeTree } from '../../helpers/cli.js';

describe('keyward watch without paths', () => {
  const home = tempDir('keyward-fake-home-');
  const keywardHome = tempDir('keyward-home-');
  afterAll(() => [home, keywardHome].forEach(removeDir));
  writeTree(home, { '.npmrc': '', '.claude.json': '{}' });
  mkdirSync(join(keywardHome, 'config'), { recursive: true });
  writeFileSync(join(keywardHome, 'config', 'config.yaml'), 'watch:\n  - ~/code\n  - /srv/app\n');
  const env = { HOME: home, KEYWARD_HOME: keywardHome };

  it("watches the current directory, the home credential and agent-config locations, and config.yaml's watch: list", async () => {
    const project = join(home, 'code', 'app');
    const { paths, description } = await defaultWatchPaths(project, env, 'linux');
    expect(paths.slice(0, 3)).toEqual([project, join(home, 'code'), '/srv/app']);
    for (const p of ['.npmrc', '.aws/credentials', '.claude.json', '.cursor/mcp.json', '.config/gh/hosts.yml', '.ssh']) expect(paths).toContain(join(home, p));
    expect(description).toMatch(
      /^the current directory, \d+ credential and agent-config locations \(2 there now; the others are waited for\), the 2 paths under watch: in config\.yaml$/,
    );
  });

  it('in the home directory itself, watches its known locations rather than every file in it', async () => {
    const { paths, description } = await defaultWatchPaths(home, env, 'linux');
    expect(paths).not.toContain(home);
    expect(paths).toContain(join(home, '.npmrc'));
    expect(description).toContain(`the known locations in your home directory (not all of ${home})`);
  });

  it('prints a finding on one line, redacted', () => {
    const line = formatFinding({
      status: 'new',
      absolute: '/p/.env',
      finding: {
        ruleId: 'github-classic-pat',
        provider: 'github',
        description: 'GitHub token',
        file: '.env',
        line: 2,
        column: 14,
        secret: 'ghp_********',
        fingerprint: 'f'.repeat(64),
        confidence: 'validated',
        migratable: true,
        source: 'file',
      },
    });
    expect(line).toBe('NEW      github-classic-pat  .env:2:14  ghp_********  (GitHub token)');
  });

  it('escapes control characters in a watched file name and a custom rule description', () => {
    const line = formatFinding({
      status: 'new',
      absolute: '/p/x',
      finding: {
        ruleId: 'acme',
        provider: 'custom',
        description: 'Acme \u001b[2J',
        file: 'evil\u001b]0;pwned\u0007.env',
        line: 1,
        column: 1,
        secret: 'acme********',
        fingerprint: 'f'.repeat(64),
        confidence: 'pattern',
        migratable: false,
        source: 'file',
      },
    });
    expect(line).not.toMatch(/[\u0000-\u001f]/);
    expect(line).toContain('evil\\e]0;pwned\\x07.env:1:1');
    expect(line).toContain('(Acme \\e[2J)');
  });
});
