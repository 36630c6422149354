import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../../kernel/atomic-file.js';
import { keywardPaths } from '../../../kernel/paths.js';

/**
 * The migration journal: one directory per migration under the state directory, holding
 * `journal.json` (rewritten atomically at every step), one sealed backup per file and one per
 * vault entry it replaced. With it, `keyward migrate undo` can put every file and every replaced
 * entry back, whatever step a crash stopped at.
 */
export interface JournalFile {
  path: string;
  kind: string;
  /** sha256 of the content before and after the rewrite. */
  beforeSha: string;
  afterSha: string;
  mode: number;
  uid: number;
  gid: number;
  /** File name of the sealed backup in the migration directory. */
  backup: string;
  state: 'planned' | 'backed-up' | 'written' | 'restored';
}

export interface JournalEntry {
  name: string;
  provider: string;
  /**
   * For an entry the vault held before (a replacement): file names, in the migration directory,
   * of its previous content and of what the migration stored, both sealed by the daemon. The
   * previous one is written before the entry is replaced.
   */
  previous?: string;
  stored?: string;
  /** `backed-up`: the previous content is safe, the entry may or may not be replaced yet. */
  state: 'planned' | 'backed-up' | 'stored' | 'restored';
}

export interface JournalGitHelper {
  url: string;
  value: string;
  /** `existing`: the same helper line was there already, so this migration neither added nor removes it. */
  state: 'planned' | 'configured' | 'existing' | 'removed';
}

export interface Journal {
  id: string;
  created: string;
  status: 'started' | 'applied' | 'undone' | 'failed';
  files: JournalFile[];
  entries: JournalEntry[];
  policyRules: string[];
  gitHelpers: JournalGitHelper[];
  error?: string;
}

export function migrationsDir(): string {
  return join(keywardPaths().state, 'migrations');
}

export function newMigrationId(now = new Date()): string {
  return `m_${now.toISOString().replace(/[-:]/g, '').replace(/\..+/, '')}_${randomBytes(3).toString('hex')}`;
}

export class JournalStore {
  readonly dir: string;

  constructor(readonly journal: Journal) {
    this.dir = join(migrationsDir(), journal.id);
  }

  static create(journal: Journal): JournalStore {
    const store = new JournalStore(journal);
    mkdirSync(store.dir, { recursive: true, mode: 0o700 });
    store.save();
    return store;
  }

  static load(id: string): JournalStore {
    const journal = JSON.parse(readFileSync(join(migrationsDir(), id, 'journal.json'), 'utf8')) as Journal;
    return new JournalStore(journal);
  }

  /** Every migration, newest first. */
  static list(): Journal[] {
    let ids: string[];
    try {
      ids = readdirSync(migrationsDir());
    } catch {
      return [];
    }
    const out: Journal[] = [];
    for (const id of ids) {
      try {
        out.push(JSON.parse(readFileSync(join(migrationsDir(), id, 'journal.json'), 'utf8')) as Journal);
      } catch {
        /* a directory left without a journal: nothing was changed yet */
      }
    }
    return out.sort((a, b) => (a.created < b.created ? 1 : -1));
  }

  save(): void {
    writeFileAtomic(join(this.dir, 'journal.json'), JSON.stringify(this.journal, null, 2) + '\n', { mode: 0o600 });
  }

  backupPath(file: JournalFile | { backup: string }): string {
    return join(this.dir, file.backup);
  }
}
