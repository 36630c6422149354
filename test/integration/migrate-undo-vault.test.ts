import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, removeDir, tempDir, writeTree } from '../helpers/cli.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { awsKeyId, githubToken, randomAlnum } from '../helpers/secrets.js';

/**
 * `keyward migrate undo` puts back the vault entries a migration replaced, not only the files:
 * the user's own `~/.aws/credentials` and `~/.netrc`, migrated once, then holding new keys and
 * migrated again (which replaces `aws-default` and `git-github.com`). The previous content is
 * sealed by the daemon before the entry is replaced, so a migration that stops half-way loses
 * nothing either. docs/migrate.md ("Undo") and docs/security-model.md point here.
 */
interface Entry {
  name: string;
  provider: string;
  source: string;
  attributes?: Record<string, string>;
}

describe('migrate undo restores the vault entries it replaced', () => {
  let d: TestDaemon;
  let work: string;
  let home: string;
  let gitconfig: string;
  const first = { aws: awsKeyId(), awsSecret: randomAlnum(40), git: githubToken() };
  const second = { aws: awsKeyId(), awsSecret: randomAlnum(40), git: githubToken() };
  const third = { git: githubToken(), gitlab: `glpat-${randomAlnum(20)}` };

  beforeAll(async () => {
    d = await startDaemon();
    work = tempDir();
    home = join(work, 'home');
    gitconfig = join(work, 'gitconfig');
    writeFileSync(gitconfig, '');
    d.env.GIT_CONFIG_GLOBAL = gitconfig;
    d.env.GIT_CONFIG_NOSYSTEM = '1';
    d.env.GIT_TERMINAL_PROMPT = '0';
  }, 60_000);
  afterAll(async () => {
    await d?.stop();
    removeDir(work);
  });

  const keyward = (args: string[], input?: string) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: work, env: { ...d.env, HOME: home }, encoding: 'utf8', input, timeout: 60_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const userFiles = (keys: { aws: string; awsSecret: string; git: string }) => {
    writeTree(home, {
      '.aws/credentials': `[default]\naws_access_key_id = ${keys.aws}\naws_secret_access_key = ${keys.awsSecret}\n`,
      '.netrc': `machine github.com\n  login ada\n  password ${keys.git}\n`,
    });
    chmodSync(join(home, '.aws/credentials'), 0o600);
  };
  const entries = () => new Map((JSON.parse(keyward(['vault', 'list', '--json']).stdout) as { entries: Entry[] }).entries.map((e) => [e.name, e]));
  const meta = (e: Entry | undefined) => e && { provider: e.provider, source: e.source, attributes: e.attributes };
  /** What the AWS SDK's credential_process and git's helper are handed now. */
  const awsKey = () => {
    const r = keyward(['aws-credentials', '--profile', 'default']);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { AccessKeyId: string }).AccessKeyId;
  };
  const gitPassword = (host: string) => {
    const r = spawnSync('git', ['credential', 'fill'], { cwd: work, env: { ...d.env, HOME: home }, input: `protocol=https\nhost=${host}\n\n`, encoding: 'utf8', timeout: 60_000 });
    return /^password=(.*)$/m.exec(r.stdout)?.[1];
  };
  const migrate = () => keyward(['migrate', '--home', home, '--yes', '--json']);
  /** Every byte keyward keeps for its migrations. */
  const journalBytes = () => {
    const dir = join(d.home, 'state', 'migrations');
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => readFileSync(join(e.parentPath, e.name), 'latin1'))
      .join('\n');
  };

  it('puts back value, provider and attributes of replaced entries; the tools get the original keys again', async () => {
    userFiles(first);
    // The user had git store passwords in ~/.git-credentials; after the migration it must no
    // longer be asked for (nor told to store) github.com's login.
    spawnSync('git', ['config', '--global', 'credential.helper', 'store'], { env: d.env });
    const one = migrate();
    expect(one.code, one.stderr).toBe(0);
    spawnSync('git', ['credential', 'approve'], { cwd: work, env: { ...d.env, HOME: home }, input: `protocol=https\nhost=github.com\nusername=ada\npassword=${first.git}\n\n` });
    expect(existsSync(join(home, '.git-credentials'))).toBe(false);
    const original = entries();
    expect([...original.keys()]).toEqual(expect.arrayContaining(['aws-default', 'git-github.com']));
    expect(awsKey()).toBe(first.aws);
    expect(gitPassword('github.com')).toBe(first.git);

    // The user's own files get new keys (aws configure, a new token) and are migrated again:
    // their entries are replaced, which the plan says.
    userFiles(second);
    const two = migrate();
    expect(two.code, two.stderr).toBe(0);
    const applied = JSON.parse(two.stdout) as { id: string; notes: string[] };
    expect(applied.notes.join('\n')).toMatch(/the vault entry aws-default exists already and is replaced .*keyward migrate undo puts it back/);
    expect(awsKey()).toBe(second.aws);
    expect(gitPassword('github.com')).toBe(second.git);
    // The previous values are kept sealed, never in the clear.
    const kept = journalBytes();
    for (const secret of [first.aws, first.awsSecret, first.git, second.aws, second.awsSecret, second.git]) expect(kept).not.toContain(secret);

    const undo = keyward(['migrate', 'undo', applied.id]);
    expect(undo.code, undo.stdout + undo.stderr).toBe(0);
    expect(undo.stdout).toContain('restored vault entry aws-default as it was before the migration');
    expect(undo.stdout).toContain('restored vault entry git-github.com as it was before the migration');
    for (const secret of [first.awsSecret, first.git, second.awsSecret, second.git]) expect(undo.stdout + undo.stderr).not.toContain(secret);
    const now = entries();
    for (const name of ['aws-default', 'git-github.com']) expect(meta(now.get(name)), name).toEqual(meta(original.get(name)));
    expect(awsKey()).toBe(first.aws);
    expect(gitPassword('github.com')).toBe(first.git);
    // The files are back as they were before that migration.
    expect(readFileSync(join(home, '.netrc'), 'utf8')).toContain(second.git);
    const audit = JSON.parse(keyward(['audit', '--event', 'vault.restore', '--json']).stdout) as { credential: string }[];
    expect(audit.map((a) => a.credential).sort()).toEqual(['aws-default', 'git-github.com']);
  }, 240_000);

  it('a migration that stops after replacing an entry loses nothing: undo puts the entry back', async () => {
    const before = entries().get('git-github.com');
    expect(gitPassword('github.com')).toBe(first.git);
    // A new host needs a new helper line; git cannot write its config (another git holds the
    // lock), so the migration fails after the vault entries were replaced and the file rewritten.
    writeTree(home, { '.netrc': `machine github.com\n  login ada\n  password ${third.git}\nmachine gitlab.com\n  login ada\n  password ${third.gitlab}\n` });
    writeFileSync(`${gitconfig}.lock`, '');
    const failed = migrate();
    rmSync(`${gitconfig}.lock`);
    expect(failed.code, failed.stdout).not.toBe(0);
    expect(failed.stderr).toMatch(/migration (m_\S+) stopped: git config failed/);
    const id = /migration (m_\S+) stopped/.exec(failed.stderr)![1];
    // Half-way: the entry holds the new token.
    const half = keyward(['git-credential', 'get', '--entry', 'git-github.com'], 'protocol=https\nhost=github.com\n\n');
    expect(half.stdout).toContain(`password=${third.git}`);

    const undo = keyward(['migrate', 'undo', id]);
    expect(undo.code, undo.stdout + undo.stderr).toBe(0);
    expect(undo.stdout).toContain('restored vault entry git-github.com as it was before the migration');
    expect(meta(entries().get('git-github.com'))).toEqual(meta(before));
    expect(gitPassword('github.com')).toBe(first.git);
    expect(readFileSync(join(home, '.netrc'), 'utf8')).toContain(third.git);
  }, 240_000);

  it('leaves an entry that changed again after the migration, unless --force', async () => {
    writeTree(home, { '.netrc': `machine github.com\n  login ada\n  password ${third.git}\n` });
    const applied = migrate();
    expect(applied.code, applied.stderr).toBe(0);
    const id = (JSON.parse(applied.stdout) as { id: string }).id;
    // The user sets the entry by hand afterwards: undo must not overwrite that unasked.
    const mine = githubToken();
    const add = keyward(['vault', 'add', 'git-github.com', '--provider', 'github', '--replace'], mine);
    expect(add.code, add.stderr).toBe(0);
    const undo = keyward(['migrate', 'undo', id]);
    expect(undo.code).toBe(1);
    expect(undo.stdout).toContain('NOT restored vault entry git-github.com: it changed after the migration (use --force to restore it anyway)');
    const kept = keyward(['git-credential', 'get', '--entry', 'git-github.com'], 'protocol=https\nhost=github.com\n\n');
    expect(kept.stdout).toContain(`password=${mine}`);
    const forced = keyward(['migrate', 'undo', id, '--force']);
    expect(forced.code, forced.stdout + forced.stderr).toBe(0);
    expect(gitPassword('github.com')).toBe(first.git);
  }, 240_000);
});

describe('sealed vault entry backups', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startDaemon();
  }, 60_000);
  afterAll(async () => {
    await d?.stop();
  });

  it('never come back as plaintext, and restore only the entry they were taken of', async () => {
    const secret = githubToken();
    const other = githubToken();
    for (const [name, value] of [
      ['one', secret],
      ['two', other],
    ])
      expect((await d.api('admin', 'POST', '/v1/vault', { name, provider: 'github', value })).status).toBe(201);
    const taken = await d.api('admin', 'POST', '/v1/vault/one/backup', { context: 'migration m1\0previous' });
    expect(taken.status).toBe(200);
    const backup = taken.body.backup as string;
    expect(Buffer.from(backup, 'base64').toString('latin1')).not.toContain(secret);
    // The unseal route, which opens file backups, does not open an entry's, whatever context is claimed.
    for (const context of ['migration m1\0previous', 'one\0migration m1\0previous']) {
      const opened = await d.api('admin', 'POST', '/v1/unseal', { data: backup, context });
      expect(opened.status, context).toBe(400);
      expect(JSON.stringify(opened.body)).not.toContain(secret);
    }
    // Put in another entry's place, or under another migration, it is refused; nothing changes.
    const before = ((await d.api('admin', 'GET', '/v1/vault')).body.entries as { name: string; created: string }[]).find((e) => e.name === 'two');
    for (const [name, context] of [
      ['two', 'migration m1\0previous'],
      ['one', 'migration m2\0previous'],
    ]) {
      const r = await d.api('admin', 'POST', `/v1/vault/${name}/restore`, { backup, context });
      expect(r.status, `${name} ${context}`).toBe(400);
    }
    const listed = async () => ((await d.api('admin', 'GET', '/v1/vault')).body.entries as { name: string; created: string }[]).find((e) => e.name === 'two');
    expect(await listed()).toEqual(before);
    expect((await d.api('admin', 'POST', '/v1/vault/none/backup', { context: 'x' })).status).toBe(404);
    // The right entry and migration: restored.
    expect((await d.api('admin', 'POST', '/v1/vault/one/restore', { backup, context: 'migration m1\0previous' })).status).toBe(200);
  }, 120_000);
});
