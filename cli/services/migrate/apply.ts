import { spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { chmodSync, chownSync, existsSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { writeFileAtomic } from '../../../kernel/atomic-file.js';
import { daemonFiles } from '../../../daemon/files.js';
import { appendPolicyRule } from '../../../daemon/policy/append.js';
import { parseDuration } from '../../../kernel/units.js';
import { call, ensureDaemon } from '../../daemon-client.js';
import { KeywardError } from '../../../kernel/errors.js';
import { GIT_HARDENING, gitEnv } from '../../../scanners/sources/git.js';
import { JournalStore, newMigrationId, type Journal, type JournalFile } from './journal.js';
import { ruleText, sha256, type MigrationPlan } from './plan.js';

/**
 * Carries out a migration plan so that nothing is lost, whatever step a crash stops at:
 *
 *   1. the journal is written, listing every file with the hashes of its old and new content;
 *   2. each file's current bytes are sealed (encrypted with a key held in the vault) beside it;
 *   3. each secret is stored in the vault, which reads it back and compares before answering;
 *   4. only then is each file rewritten, atomically (temp file, fsync, rename), mode and owner kept;
 *   5. policy rules and git credential helpers are added; the journal is marked applied.
 *
 * A file is therefore always either its old or its new self, and `undo` restores the sealed
 * bytes wherever the new content is on disk.
 */
export interface ApplyResult {
  id: string;
  files: { path: string; kind: string }[];
  entries: string[];
  rules: string[];
  gitHelpers: string[];
}

/** What a backup is bound to: the migration and the file it was taken of. */
const backupContext = (migration: string, path: string) => `migration ${migration}\0${path}`;
/** What an entry's backup is bound to (the daemon adds the entry's name): the migration, and which of the two it is. */
const entryContext = (migration: string, which: 'previous' | 'stored') => `migration ${migration}\0${which}`;

/** Has the daemon seal the entry as it is now; the value does not leave the daemon in the clear. */
async function backupEntry(name: string, context: string): Promise<Buffer> {
  const r = await call<{ backup: string }>('admin', 'POST', `/v1/vault/${encodeURIComponent(name)}/backup`, { context });
  return Buffer.from(r.backup, 'base64');
}

async function seal(data: Buffer, context: string): Promise<Buffer> {
  const r = await call<{ data: string }>('admin', 'POST', '/v1/seal', { data: data.toString('base64'), context });
  return Buffer.from(r.data, 'base64');
}

async function unseal(data: Buffer, context: string): Promise<Buffer> {
  const r = await call<{ data: string }>('admin', 'POST', '/v1/unseal', { data: data.toString('base64'), context });
  return Buffer.from(r.data, 'base64');
}

const shellQuote = (p: string) => `'${p.replace(/'/g, `'\\''`)}'`;

/** The helper line git runs through the shell: every part quoted, the entry name included. */
export function gitHelperValue(launcher: string[], entry: string): string {
  return `!${launcher.map(shellQuote).join(' ')} git-credential --entry ${shellQuote(entry)}`;
}

/** git for the user's global config, from the home directory, with a repository's programs off. */
function git(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('git', [...GIT_HARDENING, ...args], { encoding: 'utf8', cwd: homedir(), env: gitEnv() });
  if (r.error) throw new KeywardError('git is not installed: cannot configure its credential helper', { hint: 'Install git, or remove the credential from the plan.' });
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

export async function applyPlan(plan: MigrationPlan, launcher: string[]): Promise<ApplyResult> {
  if (plan.files.length === 0) throw new KeywardError('nothing to migrate', { hint: 'keyward scan home --project . shows what keyward found, and why it could not move it.' });
  await ensureDaemon();
  // The policy rules are confirmed by reloading policy.yaml: that must not also confirm a change
  // someone else made on disk and nobody has looked at.
  if (plan.rules.length > 0 && (await call<{ pending: { id: string } | null }>('admin', 'GET', '/v1/config/pending')).pending) {
    throw new KeywardError("keyward's configuration has changes on disk that nobody has confirmed; nothing was migrated", {
      hint: 'Review them with keyward policy apply, then run keyward migrate again.',
    });
  }
  const journal: Journal = {
    id: newMigrationId(),
    created: new Date().toISOString(),
    status: 'started',
    files: plan.files.map((f, i) => {
      const st = statSync(f.path);
      return {
        path: f.path,
        kind: f.kind,
        beforeSha: sha256(f.before),
        afterSha: sha256(f.after),
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        backup: `file-${i}.sealed`,
        state: 'planned',
      };
    }),
    entries: [...plan.entries.entries()].map(([name, e]) => ({ name, provider: e.provider, state: 'planned' })),
    policyRules: plan.rules.map(ruleText),
    // Two files may hand git the same host (.netrc and .git-credentials): one helper each. An
    // empty helper first resets git's list for that host, so that a `credential.helper = store`
    // (or any other) is no longer asked, nor told to store the key again after a fetch.
    gitHelpers: [...new Map(plan.files.flatMap((f) => f.rewrite.actions).map((a) => [`${a.url} ${a.entry}`, a])).values()].flatMap((a) => [
      { url: a.url, value: '', state: 'planned' as const },
      { url: a.url, value: gitHelperValue(launcher, a.entry), state: 'planned' as const },
    ]),
  };
  const store = JournalStore.create(journal);
  try {
    // 2. Backups, sealed, before anything changes.
    for (const file of journal.files) {
      const current = readFileSync(file.path);
      if (sha256(current) !== file.beforeSha) throw new KeywardError(`${file.path} changed since it was scanned; nothing was migrated`, { hint: 'Run keyward migrate again.' });
      writeFileSync(store.backupPath(file), await seal(current, backupContext(journal.id, file.path)), { mode: 0o600, flag: 'wx' });
      file.state = 'backed-up';
      store.save();
    }
    // 2b. An entry the vault holds already is replaced only once its current content (value,
    // provider, attributes) is sealed beside the journal: undo puts it back, and a migration that
    // stops half-way loses nothing.
    const held = new Set((await call<{ entries: { name: string }[] }>('admin', 'GET', '/v1/vault')).entries.map((e) => e.name));
    for (const [i, entry] of journal.entries.entries()) {
      if (!held.has(entry.name)) continue;
      const previous = `entry-${i}.sealed`;
      writeFileSync(store.backupPath({ backup: previous }), await backupEntry(entry.name, entryContext(journal.id, 'previous')), { mode: 0o600, flag: 'wx' });
      entry.previous = previous;
      entry.state = 'backed-up';
      store.save();
    }
    // 3. The vault, confirmed, before a secret leaves any file.
    for (const [i, entry] of journal.entries.entries()) {
      const e = plan.entries.get(entry.name)!;
      await call('admin', 'POST', '/v1/vault', {
        name: entry.name,
        provider: entry.provider,
        value: e.value,
        source: e.source.slice(0, 300),
        replace: true,
        ...(e.attributes ? { attributes: e.attributes } : {}),
      });
      if (entry.previous) {
        // What undo expects to find: an entry changed again since is not overwritten unasked.
        const stored = `entry-${i}.stored.sealed`;
        writeFileSync(store.backupPath({ backup: stored }), await backupEntry(entry.name, entryContext(journal.id, 'stored')), { mode: 0o600, flag: 'wx' });
        entry.stored = stored;
      }
      entry.state = 'stored';
      store.save();
    }
    // 4. The files, each atomically.
    for (const file of journal.files) {
      const planned = plan.files.find((f) => f.path === file.path)!;
      writeFileAtomic(linkTarget(file.path), planned.after, { mode: file.mode });
      keepOwner(file);
      file.state = 'written';
      store.save();
    }
    // 5. What lets the files' users keep working: the rules go into policy.yaml, which the person
    // running the migration confirms over admin.sock (a change on disk alone is only a proposal).
    if (plan.rules.length > 0) {
      const policy = daemonFiles().policy;
      let text = existsSync(policy) ? readFileSync(policy, 'utf8') : undefined;
      for (const r of plan.rules)
        text = appendPolicyRule(text, {
          agent: r.agent,
          credential: r.credential,
          permission: r.permission,
          decision: r.decision,
          maxTtl: r.maxTtl ? parseDuration(r.maxTtl) : undefined,
        }).text;
      writeFileAtomic(policy, text!, { mode: 0o600 });
      await call('admin', 'POST', '/v1/policy/reload');
    }
    for (const h of journal.gitHelpers) {
      // The same helper for the same host once: a second migration of a file must not stack them.
      // One value per line; no value at all is no line (not one empty line: the empty helper
      // that resets git's list must still be added when the host has none).
      if (
        git(['config', '--global', '--get-all', `credential.${h.url}.helper`])
          .stdout.split('\n')
          .slice(0, -1)
          .includes(h.value)
      ) {
        h.state = 'existing';
        store.save();
        continue;
      }
      const set = git(['config', '--global', '--add', `credential.${h.url}.helper`, h.value]);
      if (set.status !== 0) throw new KeywardError(`git config failed: ${set.stderr.trim()}`);
      h.state = 'configured';
      store.save();
    }
    journal.status = 'applied';
    store.save();
    await call('admin', 'POST', '/v1/events/migration', {
      event: 'migrate.apply',
      reason: `migration ${journal.id}`,
      detail: { id: journal.id, files: journal.files.map((f) => f.path), entries: journal.entries.map((e) => e.name) },
    }).catch(() => undefined);
  } catch (error) {
    journal.status = 'failed';
    journal.error = error instanceof Error ? error.message : String(error);
    store.save();
    throw new KeywardError(`migration ${journal.id} stopped: ${journal.error}`, {
      hint: `Every file is either unchanged or fully migrated. Put everything back with: keyward migrate undo ${journal.id}`,
    });
  }
  return {
    id: journal.id,
    files: journal.files.map((f) => ({ path: f.path, kind: f.kind })),
    entries: journal.entries.map((e) => e.name),
    rules: journal.policyRules,
    gitHelpers: [...new Set(journal.gitHelpers.map((h) => h.url))],
  };
}

/**
 * The file a path names, through symlinks: a config kept by a dotfile manager (stow, chezmoi,
 * yadm) is rewritten where it lives, and the link stays a link.
 */
function linkTarget(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function keepOwner(file: JournalFile): void {
  try {
    const target = linkTarget(file.path);
    const st = statSync(target);
    if (st.uid !== file.uid || st.gid !== file.gid) chownSync(target, file.uid, file.gid);
    if ((st.mode & 0o7777) !== file.mode) chmodSync(target, file.mode);
  } catch {
    /* not ours to change: the content is what matters */
  }
}

export interface UndoResult {
  id: string;
  restored: string[];
  unchanged: string[];
  conflicts: string[];
  /** Vault entries the migration replaced, put back as they were. */
  entries: string[];
  /** Replaced entries that changed again after the migration, left alone (without `force`). */
  entryConflicts: string[];
  gitHelpers: string[];
  /** Helpers that could not be removed, with why. */
  helperErrors: string[];
}

/**
 * Puts every file of a migration back exactly as it was (byte for byte, mode and owner), and every
 * vault entry it replaced (value, provider, attributes), from the sealed backups. A file or entry
 * that changed again after the migration is left alone unless `force`.
 */
export async function undoMigration(id: string | undefined, options: { force?: boolean } = {}): Promise<UndoResult> {
  const journals = JournalStore.list();
  const target = id ? journals.find((j) => j.id === id) : journals.find((j) => j.status !== 'undone');
  if (!target) throw new KeywardError(id ? `no migration ${id}` : 'no migration to undo', { hint: 'See them with: keyward migrate list' });
  await ensureDaemon();
  const store = JournalStore.load(target.id);
  const journal = store.journal;
  const result: UndoResult = { id: journal.id, restored: [], unchanged: [], conflicts: [], entries: [], entryConflicts: [], gitHelpers: [], helperErrors: [] };
  for (const file of journal.files) {
    let current: Buffer | undefined;
    try {
      current = readFileSync(file.path);
    } catch {
      current = undefined;
    }
    const sha = current ? sha256(current) : undefined;
    if (sha === file.beforeSha) {
      result.unchanged.push(file.path);
      continue;
    }
    if (file.state === 'planned') {
      result.unchanged.push(file.path); // no backup was made, so nothing was written either
      continue;
    }
    if (sha !== file.afterSha && !options.force) {
      result.conflicts.push(file.path);
      continue;
    }
    const original = await unseal(readFileSync(store.backupPath(file)), backupContext(journal.id, file.path));
    if (sha256(original) !== file.beforeSha) throw new KeywardError(`the backup of ${file.path} does not match what was recorded; the file is left as it is`);
    writeFileAtomic(linkTarget(file.path), original, { mode: file.mode });
    keepOwner(file);
    file.state = 'restored';
    store.save();
    result.restored.push(file.path);
  }
  for (const entry of journal.entries) {
    if (!entry.previous || entry.state === 'restored') continue;
    const backup = readFileSync(store.backupPath({ backup: entry.previous })).toString('base64');
    // Without the stored copy (a migration stopped between replacing the entry and sealing it)
    // the entry holds either its previous content or the migration's: putting back the previous
    // one is right in both cases.
    const expected = entry.stored ? readFileSync(store.backupPath({ backup: entry.stored })).toString('base64') : undefined;
    try {
      await call('admin', 'POST', `/v1/vault/${encodeURIComponent(entry.name)}/restore`, {
        backup,
        context: entryContext(journal.id, 'previous'),
        ...(expected ? { expect: expected, expectContext: entryContext(journal.id, 'stored') } : {}),
        ...(options.force ? { force: true } : {}),
      });
    } catch (error) {
      if (error instanceof KeywardError && error.code === 'conflict') {
        result.entryConflicts.push(entry.name);
        continue;
      }
      throw error;
    }
    entry.state = 'restored';
    store.save();
    result.entries.push(entry.name);
  }
  for (const h of journal.gitHelpers) {
    if (h.state !== 'configured') continue;
    const values = git(['config', '--global', '--get-all', `credential.${h.url}.helper`])
      .stdout.split('\n')
      .slice(0, -1);
    if (values.includes(h.value)) {
      const pattern = `^${h.value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
      // --unset-all: the same line may be there more than once (plain --unset refuses then).
      const unset = git(['config', '--global', '--unset-all', `credential.${h.url}.helper`, pattern]);
      if (unset.status !== 0) {
        result.helperErrors.push(`${h.url}: git config --unset-all failed (${unset.stderr.trim() || `exit ${unset.status}`}); remove the line credential.${h.url}.helper by hand`);
        continue;
      }
    }
    h.state = 'removed';
    if (!result.gitHelpers.includes(h.url)) result.gitHelpers.push(h.url);
  }
  if (result.conflicts.length === 0 && result.entryConflicts.length === 0 && result.helperErrors.length === 0) {
    journal.status = 'undone';
    store.save();
  }
  await call('admin', 'POST', '/v1/events/migration', {
    event: 'migrate.undo',
    reason: `migration ${journal.id}`,
    detail: { id: journal.id, restored: result.restored, conflicts: result.conflicts, entries: result.entries, entryConflicts: result.entryConflicts },
  }).catch(() => undefined);
  return result;
}
