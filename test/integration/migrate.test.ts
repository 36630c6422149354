import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, removeDir, tempDir, writeTree } from '../helpers/cli.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { anthropicKey, awsKeyId, checksummedToken, githubToken, randomAlnum } from '../helpers/secrets.js';

/** A small MCP "server" that reports the variable it was started with (and its arguments). */
const FAKE_SERVER = `console.log(JSON.stringify({ token: process.env.GITHUB_PERSONAL_ACCESS_TOKEN ?? null, args: process.argv.slice(2) }))`;

/** Kills `keyward migrate` right after its journal records a chosen step (see the file). */
const CRASH_AT = join(ROOT, 'test', 'helpers', 'crash-at.cjs');

/** What the crash test reads of a migration journal (cli/services/migrate/journal.ts). */
interface Journal {
  id: string;
  status: string;
  files: { path: string; state: string; beforeSha: string; afterSha: string }[];
  entries: { name: string; state: string }[];
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Fixture {
  dir: string;
  secrets: Record<string, string>;
  files: Record<string, string>;
}

/** A project and a home with secrets in every format migrate rewrites without the home scanner. */
function makeFixture(): Fixture {
  const dir = tempDir('keyward-migrate-');
  const s = {
    openai: `sk-proj-${randomAlnum(40)}T3BlbkFJ${randomAlnum(40)}`,
    anthropic: anthropicKey(),
    github: githubToken(),
    awsId: awsKeyId(),
    awsSecret: randomAlnum(20) + '/' + randomAlnum(19),
    npm: checksummedToken('npm_'),
    pypi: `pypi-AgEIcHlwaS5vcmc${randomAlnum(60)}`,
    gitCred: githubToken(),
  };
  writeFileSync(join(dir, 'server.js'), FAKE_SERVER);
  const files: Record<string, string> = {
    'project/.env': `# local settings\nexport OPENAI_API_KEY="${s.openai}"  # do not commit\nANTHROPIC_API_KEY=${s.anthropic}\nDEBUG=1\n`,
    'project/.mcp.json': `{\n  "mcpServers": {\n    "github": {\n      "command": "${process.execPath}",\n      "args": ["${join(dir, 'server.js')}", "--verbose"],\n      "env": { "GITHUB_PERSONAL_ACCESS_TOKEN": "${s.github}", "LOG_LEVEL": "info" }\n    },\n    "fs": { "command": "npx", "args": ["-y", "server-fs"] }\n  }\n}\n`,
    'home/.aws/credentials': `[default]\naws_access_key_id = ${s.awsId}\naws_secret_access_key = ${s.awsSecret}\nregion = eu-west-1\n`,
    'home/.npmrc': `//registry.npmjs.org/:_authToken=${s.npm}\nfund=false\n`,
    'home/.pypirc': `[pypi]\nusername = __token__\npassword = ${s.pypi}\n`,
    'home/.git-credentials': `https://ada:${s.gitCred}@example.test\n`,
  };
  writeTree(dir, files);
  chmodSync(join(dir, 'home/.aws/credentials'), 0o600);
  chmodSync(join(dir, 'project/.env'), 0o640);
  return { dir, secrets: s, files };
}

const paths = (f: Fixture) => Object.keys(f.files).map((p) => join(f.dir, p));

describe('keyward migrate', () => {
  let d: TestDaemon;
  let gitconfig: string;

  beforeAll(async () => {
    d = await startDaemon();
    gitconfig = join(d.home, 'gitconfig');
    writeFileSync(gitconfig, '');
    d.env.GIT_CONFIG_GLOBAL = gitconfig;
    d.env.GIT_CONFIG_NOSYSTEM = '1';
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('--dry-run shows the exact change of every file, with secrets masked, and changes nothing', async () => {
    const f = makeFixture();
    const before = paths(f).map((p) => readFileSync(p, 'utf8'));
    const r = await d.cli(['migrate', ...paths(f), '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`-export OPENAI_API_KEY="sk-p********"  # do not commit`);
    expect(r.stdout).toContain(`+export OPENAI_API_KEY="keyward://openai"  # do not commit`);
    expect(r.stdout).toContain('+credential_process = ');
    expect(r.stdout).toContain('Dry run: 6 files would change; nothing was changed.');
    for (const secret of Object.values(f.secrets)) expect(r.stdout).not.toContain(secret);
    expect(paths(f).map((p) => readFileSync(p, 'utf8'))).toEqual(before);
    removeDir(f.dir);
  });

  it('moves every key into the vault and leaves none on disk; the tools keep working; undo restores byte for byte', async () => {
    const f = makeFixture();
    const before = new Map(paths(f).map((p) => [p, { bytes: readFileSync(p), mode: statSync(p).mode & 0o777 }]));
    const r = await d.cli(['migrate', ...paths(f), '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.files.map((x: { kind: string }) => x.kind).sort()).toEqual(['aws', 'env', 'git-credentials', 'mcp-json', 'npmrc', 'pypirc']);
    // No secret left on disk, modes kept.
    for (const [p, b] of before) {
      const text = readFileSync(p, 'utf8');
      for (const secret of Object.values(f.secrets)) expect(text, p).not.toContain(secret);
      expect(statSync(p).mode & 0o777, p).toBe(b.mode);
    }
    const scan = await d.cli(['scan', f.dir, '--json']);
    expect(JSON.parse(scan.stdout).findings).toEqual([]);
    // The vault holds them.
    const vault = JSON.parse((await d.cli(['vault', 'list', '--json'])).stdout).entries.map((e: { name: string }) => e.name);
    expect(vault).toEqual(expect.arrayContaining(['openai', 'anthropic', 'github', 'aws-default', 'git-example.test']));
    // .env works through keyward run --env-file (the policy rule asks; allow it for this test).
    writeFileSync(
      join(d.home, 'config', 'policy.yaml'),
      readFileSync(join(d.home, 'config', 'policy.yaml'), 'utf8') +
        '  - { agent: "app", credential: openai, permission: release, decision: allow }\n  - { agent: "app", credential: anthropic, permission: release, decision: allow }\n',
    );
    await d.api('admin', 'POST', '/v1/policy/reload');
    const env = await d.cli(
      [
        'run',
        '--agent',
        'app',
        '--env-file',
        join(f.dir, 'project/.env'),
        '--',
        process.execPath,
        '-e',
        'console.log(JSON.stringify([process.env.OPENAI_API_KEY, process.env.DEBUG]))',
      ],
      { timeout: 20_000 },
    );
    expect(env.code, env.stderr).toBe(0);
    expect(JSON.parse(env.stdout)).toEqual([f.secrets.openai, '1']);
    // The MCP server, started exactly as its client would from the rewritten config.
    const mcp = JSON.parse(readFileSync(join(f.dir, 'project/.mcp.json'), 'utf8')).mcpServers;
    expect(mcp.fs).toEqual({ command: 'npx', args: ['-y', 'server-fs'] });
    expect(mcp.github.env).toEqual({ LOG_LEVEL: 'info' });
    const started = spawnSync(mcp.github.command, mcp.github.args, { env: d.env, encoding: 'utf8', timeout: 20_000 });
    expect(started.status, started.stderr).toBe(0);
    expect(JSON.parse(started.stdout)).toEqual({ token: f.secrets.github, args: ['--verbose'] });
    // AWS credential_process, as the CLI would run it.
    const awsLine = /credential_process = (.+)$/m.exec(readFileSync(join(f.dir, 'home/.aws/credentials'), 'utf8'))![1];
    const aws = spawnSync('sh', ['-c', awsLine], { env: d.env, encoding: 'utf8', timeout: 20_000 });
    expect(aws.status, aws.stderr).toBe(0);
    expect(JSON.parse(aws.stdout)).toMatchObject({ Version: 1, AccessKeyId: f.secrets.awsId, SecretAccessKey: f.secrets.awsSecret, Expiration: expect.any(String) });
    // git asks keyward through the helper migrate configured.
    const fill = spawnSync('git', ['credential', 'fill'], {
      input: 'protocol=https\nhost=example.test\n\n',
      encoding: 'utf8',
      env: { ...d.env, GIT_TERMINAL_PROMPT: '0' },
      timeout: 20_000,
    });
    expect(fill.status, fill.stderr).toBe(0);
    expect(fill.stdout).toContain(`password=${f.secrets.gitCred}`);
    // npm reads the variable migrate put in .npmrc.
    expect(readFileSync(join(f.dir, 'home/.npmrc'), 'utf8')).toBe('//registry.npmjs.org/:_authToken=${NPM_TOKEN?}\nfund=false\n');

    const undo = await d.cli(['migrate', 'undo', result.id, '--json']);
    expect(undo.code, undo.stderr).toBe(0);
    for (const [p, b] of before) {
      expect(readFileSync(p).equals(b.bytes), p).toBe(true);
      expect(statSync(p).mode & 0o777).toBe(b.mode);
    }
    expect(readFileSync(gitconfig, 'utf8')).not.toContain('git-credential');
    // Backups are sealed: the secrets are not readable in the state directory.
    const stateDir = join(d.home, 'state', 'migrations', result.id);
    for (const file of readdirSync(stateDir)) {
      const text = readFileSync(join(stateDir, file), 'latin1');
      for (const secret of Object.values(f.secrets)) expect(text).not.toContain(secret);
    }
    removeDir(f.dir);
  }, 120_000);

  it('reports keys found only in history as exposed, with where to rotate them', async () => {
    const f = makeFixture();
    const report = join(f.dir, 'report.json');
    writeFileSync(
      report,
      JSON.stringify({
        findings: [
          {
            ruleId: 'github-classic-pat',
            provider: 'github',
            description: 'x',
            file: 'old.env',
            line: 1,
            column: 1,
            secret: 'ghp_********',
            fingerprint: 'a'.repeat(64),
            confidence: 'validated',
            migratable: false,
            source: 'history',
            commit: 'abc123def456',
            author: 'a',
            email: 'a@x',
            date: '2024-01-01',
          },
        ],
      }),
    );
    const r = await d.cli(['migrate', '--from-report', report, '--yes']);
    expect(r.stdout).toContain(
      'EXPOSED old.env (github-classic-pat) in commit abc123def456: cannot be rewritten; rotate the key at the provider: https://github.com/settings/tokens',
    );
    expect(r.code).toBe(1);
    const audit = JSON.parse((await d.cli(['audit', '--event', 'migrate.exposed', '--json'])).stdout);
    expect(audit.at(-1)).toMatchObject({
      event: 'migrate.exposed',
      detail: { file: 'old.env', where: 'commit abc123def456', provider: 'github', rotate: 'https://github.com/settings/tokens' },
    });
    removeDir(f.dir);
  });

  it('survives SIGKILL at every step the journal records: each file is untouched or migrated, the vault holds what the journal says, and undo restores every byte', async () => {
    const template = makeFixture();
    const migrations = join(d.home, 'state', 'migrations');
    // Each run starts from a vault without the entries migrate makes: the credential files' own
    // (aws-default, git-example.test) are never replaced from a file outside the home directory.
    const clearVault = async () => {
      for (const e of (await d.api('admin', 'GET', '/v1/vault')).body.entries as { name: string }[])
        expect((await d.api('admin', 'DELETE', `/v1/vault/${encodeURIComponent(e.name)}`)).status, e.name).toBe(200);
    };
    await clearVault();
    const helperLines = () =>
      readFileSync(gitconfig, 'utf8')
        .split('\n')
        .filter((l) => l.includes('helper'));
    const helpersBefore = helperLines();
    /** Runs migrate on fresh copies of the fixture and kills it right after the journal records `point`. */
    const crashAt = async (run: string, point: string) => {
      const dir = join(template.dir, run);
      mkdirSync(dir);
      const files = Object.keys(template.files).map((rel) => {
        const target = join(dir, rel);
        mkdirSync(dirname(target), { recursive: true });
        copyFileSync(join(template.dir, rel), target);
        return target;
      });
      const originals = files.map((p) => ({ bytes: readFileSync(p), mode: statSync(p).mode & 0o777 }));
      const child = spawn(process.execPath, ['--require', CRASH_AT, BIN, 'migrate', ...files, '--yes'], { env: { ...d.env, KEYWARD_CRASH_AT: point }, stdio: 'ignore' });
      const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.on('exit', (c, s) => r([c, s])));
      expect({ point, code, signal }).toEqual({ point, code: null, signal: 'SIGKILL' });
      const ids = readdirSync(migrations).filter((id) => existsSync(join(migrations, id, 'journal.json')));
      const journals = ids.map((id) => JSON.parse(readFileSync(join(migrations, id, 'journal.json'), 'utf8')) as Journal);
      const mine = journals.filter((j) => j.files.every((f) => f.path.startsWith(dir + '/')));
      expect(mine.length, point).toBe(1);
      return { dir, files, originals, journal: mine[0] };
    };
    const count = <T extends { state: string }>(list: T[], state: string) => list.filter((x) => x.state === state).length;

    // The first point, right after the journal is first written, also tells how many files and
    // entries this migration has, and so every other point.
    const first = await crashAt('run-planned', 'files.backed-up=0');
    const nFiles = first.journal.files.length;
    const nEntries = first.journal.entries.length;
    expect(nFiles).toBe(Object.keys(template.files).length);
    expect(nEntries).toBeGreaterThan(1);
    const points = [
      'files.backed-up=1', // between two backups
      `files.backed-up=${nFiles}`, // before the vault write
      'entries.stored=1', // between two vault writes
      `entries.stored=${nEntries}`, // before the first rename
      ...Array.from({ length: nFiles - 1 }, (_, i) => `files.written=${i + 1}`), // between files
      `files.written=${nFiles}`, // after the last rename
      'status=applied',
    ];

    for (const [i, point] of ['files.backed-up=0', ...points].entries()) {
      const { dir, files, originals, journal } = i === 0 ? first : await crashAt(`run-${i}`, point);
      // The journal stopped exactly where it was killed.
      const [what, want] = point.split('=');
      const reached = {
        'files.backed-up': count(journal.files, 'backed-up'),
        'entries.stored': count(journal.entries, 'stored'),
        'files.written': count(journal.files, 'written'),
        status: journal.status,
      }[what];
      expect(String(reached), point).toBe(want);
      expect(journal.status, point).toBe(what === 'status' ? 'applied' : 'started');

      // Each file is its old self, or its new self exactly when the journal says it is written.
      expect(journal.files.map((f) => f.path).sort()).toEqual([...files].sort());
      for (const f of journal.files) {
        const now = readFileSync(f.path);
        const expected = f.state === 'written' ? f.afterSha : f.beforeSha;
        expect(sha256(now), `${point}: ${f.path} (${f.state})`).toBe(expected);
      }
      // The vault holds exactly the entries the journal says are stored: no file points at a
      // key the vault does not have.
      const vault = (await d.api('admin', 'GET', '/v1/vault')).body.entries as { name: string; source: string }[];
      const stored = journal.entries.filter((e) => e.state === 'stored').map((e) => e.name);
      expect(vault.map((e) => e.name).sort(), point).toEqual(stored.sort());
      expect(
        vault.filter((e) => !e.source.startsWith(`migrate:${dir}/`)),
        point,
      ).toEqual([]);
      expect(count(journal.files, 'written') === 0 || stored.length === nEntries, `${point}: a file rewritten before every entry was stored`).toBe(true);

      // Undo, always, and every byte and mode is back; the git credential helpers are gone.
      const undo = await d.cli(['migrate', 'undo', journal.id, '--json']);
      expect(undo.code, `${point}: ${undo.stdout}${undo.stderr}`).toBe(0);
      const undone = JSON.parse(undo.stdout);
      expect(undone.conflicts, point).toEqual([]);
      expect(undone.restored.sort(), point).toEqual(
        journal.files
          .filter((f) => f.state === 'written')
          .map((f) => f.path)
          .sort(),
      );
      for (const [k, p] of files.entries()) {
        expect(readFileSync(p).equals(originals[k].bytes), `${point}: ${p}`).toBe(true);
        expect(statSync(p).mode & 0o777, `${point}: ${p}`).toBe(originals[k].mode);
      }
      expect(helperLines(), `${point}: git credential helpers`).toEqual(helpersBefore);
      const after = JSON.parse(readFileSync(join(migrations, journal.id, 'journal.json'), 'utf8')) as Journal;
      expect(after.status, point).toBe('undone');
      await clearVault();
    }
    removeDir(template.dir);
  }, 600_000);
});
