import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import AjvModule from 'ajv-draft-04';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAll, initRepo, removeDir, runCli, tempDir, writeTree } from '../helpers/cli.js';
import { githubToken, randomAlnum } from '../helpers/secrets.js';

// A CommonJS module: its class is the default export under some loaders and `.default` under others.
const Ajv = ((AjvModule as unknown as { default?: typeof AjvModule.default }).default ?? AjvModule) as typeof AjvModule.default;

const findings = (stdout: string) => (JSON.parse(stdout) as { findings: { ruleId: string; file: string; line: number }[] }).findings;
const scanOf = (stdout: string) => (JSON.parse(stdout) as { scan: { stats: { suppressed: Record<string, number> } } }).scan;

describe('suppression: .keyward.yaml, baseline, keyward:allow', () => {
  let repo: string;
  const acme = `acme_${randomAlnum(32).toLowerCase()}`;
  beforeAll(() => {
    repo = initRepo(tempDir());
    writeTree(repo, {
      'src/a.ts': `const a = "${githubToken()}";\n`,
      'src/b.ts': `const b = "${githubToken()}"; // keyward:allow (test token for the CI sandbox)\n`,
      'fixtures/c.env': `C=${githubToken()}\n`,
      'src/acme.ts': `client.login("${acme}")\n`,
    });
    commitAll(repo, 'init', '2024-01-01T00:00:00Z');
  });
  afterAll(() => removeDir(repo));

  it('honours keyward:allow on the line, and counts it', async () => {
    const r = await runCli(['scan', '.', '--json'], { cwd: repo });
    expect(
      findings(r.stdout)
        .map((f) => f.file)
        .sort(),
    ).toEqual(['fixtures/c.env', 'src/a.ts']);
    expect(scanOf(r.stdout).stats.suppressed.inline).toBe(1);
  });

  it('applies custom rules, disabled rules and allowlists from .keyward.yaml', async () => {
    writeFileSync(
      join(repo, '.keyward.yaml'),
      `rules:
  - id: acme-token
    description: Acme API token
    keywords: [acme_]
    pattern: '\\bacme_(?<secret>[a-z0-9]{32})\\b'
    truePositives: ['token: acme_k3j9x8m2p4q7r5t1v6w0y8z2a4c6e8g0']
    falsePositives: ['acme_short']
allowlist:
  paths: ["fixtures/**"]
`,
    );
    const r = await runCli(['scan', '.', '--json'], { cwd: repo });
    expect(
      findings(r.stdout)
        .map((f) => `${f.ruleId}@${f.file}`)
        .sort(),
    ).toEqual(['acme-token@src/acme.ts', 'github-classic-pat@src/a.ts']);
    writeFileSync(join(repo, '.keyward.yaml'), 'disable: [github-classic-pat]\nallowlist:\n  rules:\n    github-classic-pat: { paths: ["x/**"] }\n');
    const disabled = await runCli(['scan', '.', '--json'], { cwd: repo });
    expect(findings(disabled.stdout)).toEqual([]);
  });

  it('rejects a malformed config with the line of each problem and exit 2', async () => {
    writeFileSync(
      join(repo, '.keyward.yaml'),
      'allowlist:\n  paths: ["a/**"]\n  regexs: ["x"]\nrules:\n  - id: Bad_Id\n    description: x\n    keywords: [ab]\n    pattern: "(unclosed"\n',
    );
    const r = await runCli(['scan', '.'], { cwd: repo });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('invalid config');
    expect(r.stderr).toMatch(/\.keyward\.yaml:3:\d+ allowlist\.regexs: /);
    expect(r.stderr).toMatch(/\.keyward\.yaml:5:\d+ rules\.0\.id: must be kebab-case/);
    expect(r.stderr).toMatch(/\.keyward\.yaml:8:\d+ rules\.0\.pattern: is not a valid regular expression/);
    writeFileSync(join(repo, '.keyward.yaml'), 'allowlist: [unclosed\n');
    const yamlError = await runCli(['scan', '.'], { cwd: repo });
    expect(yamlError.code).toBe(2);
    expect(yamlError.stderr).toMatch(/\.keyward\.yaml:\d+:\d+ /);
    removeDir(join(repo, '.keyward.yaml'));
  });

  it("rules check runs custom rules' examples and points at the failing one", async () => {
    const config = join(repo, 'custom.yaml');
    writeFileSync(
      config,
      `rules:
  - id: acme-token
    description: Acme API token
    keywords: [acme_]
    pattern: '\\bacme_(?<secret>[a-z0-9]{32})\\b'
    truePositives:
      - 'token: acme_k3j9x8m2p4q7r5t1v6w0y8z2a4c6e8g0'
      - 'token: acme_TOO_SHORT'
    falsePositives: ['acme_short']
`,
    );
    const r = await runCli(['rules', 'check', '--config', config], { cwd: repo });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/custom\.yaml:8:\d+: acme-token: truePositives\[1\] is not found by the rule/);
    removeDir(config);
    const ok = await runCli(['rules', 'check'], { cwd: repo });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^OK: \d+ built-in and 0 custom rules/m);
  });

  it('writes a baseline without secrets, then ignores what it holds', async () => {
    const written = await runCli(['scan', '.', '--write-baseline', 'baseline.json'], { cwd: repo });
    expect(written.code).toBe(0);
    const baseline = readFileSync(join(repo, 'baseline.json'), 'utf8');
    expect(baseline).not.toMatch(/ghp_/);
    const again = await runCli(['scan', '.', '--baseline', 'baseline.json', '--json'], { cwd: repo });
    expect(again.code).toBe(0);
    expect(scanOf(again.stdout).stats.suppressed.baseline).toBe(2);
    // A new secret on an old line is not hidden by the baseline.
    writeFileSync(join(repo, 'src/a.ts'), `const a = "${githubToken()}";\n`);
    const changed = await runCli(['scan', '.', '--baseline', 'baseline.json', '--json'], { cwd: repo });
    expect(changed.code).toBe(1);
    expect(findings(changed.stdout).map((f) => f.file)).toEqual(['src/a.ts']);
    writeFileSync(join(repo, 'broken.json'), '{"findings": [{"fingerprint": "nope"}]}');
    const broken = await runCli(['scan', '.', '--baseline', 'broken.json'], { cwd: repo });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('findings[0] has no valid "fingerprint"');
  });
});

describe('SARIF output', () => {
  it('validates against the SARIF 2.1.0 schema and carries locations and fingerprints', async () => {
    const repo = initRepo(tempDir());
    writeTree(repo, { 'dir with space/app.env': `GITHUB_TOKEN=${githubToken()}\n`, 'other.env': `X=${githubToken()}\n` });
    commitAll(repo, 'init', '2024-01-01T00:00:00Z');
    const r = await runCli(['scan', '.', '--format', 'sarif', '--output', 'out.sarif'], { cwd: repo });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('sarif report written to out.sarif');
    const sarif = JSON.parse(readFileSync(join(repo, 'out.sarif'), 'utf8'));
    const require = createRequire(import.meta.url);
    const schema = JSON.parse(readFileSync(require.resolve('@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json'), 'utf8'));
    const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
    const validate = ajv.compile(schema);
    expect(validate(sarif), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    const results = sarif.runs[0].results;
    expect(results).toHaveLength(2);
    expect(results[0].locations[0].physicalLocation.artifactLocation).toEqual({ uri: 'dir%20with%20space/app.env', uriBaseId: 'SRCROOT' });
    expect(results[0].partialFingerprints['keyward/v1']).toMatch(/^[0-9a-f]{64}$/);
    expect(sarif.runs[0].tool.driver.rules.map((rule: { id: string }) => rule.id)).toEqual(['github-classic-pat']);
    // From a subdirectory, URIs stay relative to the repository root.
    const sub = await runCli(['scan', '.', '--format', 'sarif'], { cwd: join(repo, 'dir with space') });
    expect(JSON.parse(sub.stdout).runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri).toBe('dir%20with%20space/app.env');
    removeDir(repo);
  });
});

describe('keyward rules list', () => {
  it('lists at least 150 rules with id, provider and keywords, as JSON too', async () => {
    const r = await runCli(['rules', 'list', '--json']);
    expect(r.code).toBe(0);
    const rules = JSON.parse(r.stdout) as { id: string; provider: string; keywords: string[] }[];
    expect(rules.length).toBeGreaterThanOrEqual(150);
    const providers = new Set(rules.map((rule) => rule.provider));
    for (const p of [
      'aws',
      'google',
      'azure',
      'github',
      'gitlab',
      'openai',
      'anthropic',
      'google',
      'huggingface',
      'mistral',
      'groq',
      'cohere',
      'replicate',
      'perplexity',
      'xai',
      'stripe',
      'slack',
      'npm',
      'pypi',
      'docker',
      'datadog',
      'private-key',
      'jwt',
      'database',
      'keyward',
    ]) {
      expect(providers, p).toContain(p);
    }
    const text = await runCli(['rules', 'list']);
    expect(text.stdout).toMatch(/^github-classic-pat +github +ghp_$/m);
  });
});
