import { timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { KeywardError } from '../../kernel/errors.js';
import { writeFileAtomic } from '../../kernel/atomic-file.js';
import type { SecretStore } from './store.js';

/** What `keyward vault list` shows: never a value. */
export interface VaultEntry {
  name: string;
  provider: string;
  created: string;
  /** Where the value came from: prompt, stdin, env:VAR, file:PATH, migrate:<file>… */
  source: string;
  lastUsed?: string;
  /** Lookup keys for credential helpers (git, docker, aws): never secret. */
  attributes?: Record<string, string>;
}

interface Index {
  version: 1;
  entries: Record<string, Omit<VaultEntry, 'name'>>;
}

export const ENTRY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * The vault: values in a SecretStore (the OS keychain, or the encrypted file vault), metadata in
 * an index file beside the config. A value is recorded in the index only after the store has
 * returned it unchanged on a read-back.
 */
export class Vault {
  private lastUsedTimer?: NodeJS.Timeout;

  constructor(
    readonly store: SecretStore,
    private readonly indexFile: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The index as last read, and the file's mtime then: grant requests read it on every call. */
  private cached?: { index: Index; mtimeMs: number };

  /** For changes: a copy the caller may modify and write back. */
  private readIndex(): Index {
    return structuredClone(this.peekIndex());
  }

  /** For reads: the cached index itself, not to be modified. */
  private peekIndex(): Index {
    let mtimeMs: number;
    try {
      mtimeMs = statSync(this.indexFile).mtimeMs;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, entries: {} };
      throw error;
    }
    if (this.cached && this.cached.mtimeMs === mtimeMs) return this.cached.index;
    try {
      const index = JSON.parse(readFileSync(this.indexFile, 'utf8')) as Index;
      this.cached = { index, mtimeMs };
      return index;
    } catch (error) {
      throw new KeywardError(`the vault index ${this.indexFile} is damaged: ${(error as Error).message}`, { code: 'vault_damaged' });
    }
  }

  private writeIndex(index: Index): void {
    writeFileAtomic(this.indexFile, JSON.stringify(index, null, 2) + '\n', { mode: 0o600 });
    this.cached = undefined;
  }

  list(): VaultEntry[] {
    return Object.entries(this.peekIndex().entries)
      .map(([name, meta]) => ({ name, ...meta }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  has(name: string): boolean {
    return name in this.peekIndex().entries;
  }

  describe(name: string): VaultEntry | undefined {
    const meta = this.peekIndex().entries[name];
    return meta ? { name, ...meta } : undefined;
  }

  /** Entries whose attributes include all of `match`. */
  find(match: Record<string, string>): VaultEntry[] {
    return this.list().filter((e) => Object.entries(match).every(([k, v]) => e.attributes?.[k] === v));
  }

  async add(name: string, provider: string, value: string, source: string, options: { replace?: boolean; attributes?: Record<string, string> } = {}): Promise<VaultEntry> {
    if (!ENTRY_NAME.test(name)) {
      throw new KeywardError(`"${name}" is not a valid entry name`, {
        code: 'bad_request',
        hint: 'Use letters, digits, ".", "_" and "-" (up to 64), starting with a letter or digit.',
      });
    }
    if (value.length === 0) throw new KeywardError('the value is empty', { code: 'bad_request' });
    if (value.length > 64 * 1024) throw new KeywardError('the value is larger than 64 KiB', { code: 'bad_request' });
    const index = this.readIndex();
    if (index.entries[name] && !options.replace) {
      throw new KeywardError(`the vault already has an entry named ${name}`, { code: 'conflict', hint: `Remove it first (keyward vault remove ${name}) or pick another name.` });
    }
    await this.store.set(name, value);
    const back = await this.store.get(name);
    if (back === null || back.length !== value.length || !timingSafeEqual(Buffer.from(back), Buffer.from(value))) {
      throw new KeywardError(`the ${this.store.kind} stored ${name} but did not return it unchanged; nothing was recorded`, { code: 'vault_error' });
    }
    const entry = { provider, created: this.now().toISOString(), source, ...(options.attributes ? { attributes: options.attributes } : {}) };
    index.entries[name] = entry;
    this.writeIndex(index);
    return { name, ...entry };
  }

  /** The value, or a clear error; records the use (written at most every few seconds). */
  async get(name: string): Promise<string> {
    if (!this.has(name)) throw new KeywardError(`no vault entry named ${name}`, { code: 'not_found', hint: `Add it with: keyward vault add ${name} --provider <provider>` });
    const value = await this.store.get(name);
    if (value === null) {
      throw new KeywardError(`vault entry ${name} is listed but its value is missing from the ${this.store.kind}`, {
        code: 'vault_damaged',
        hint: `Add it again: keyward vault remove ${name}; keyward vault add ${name}`,
      });
    }
    this.touch(name);
    return value;
  }

  /** Uses waiting to be written to the index: at most one index write every two seconds. */
  private pendingUse = new Map<string, string>();

  private touch(name: string): void {
    this.pendingUse.set(name, this.now().toISOString());
    this.lastUsedTimer ??= setTimeout(() => this.flushUse(), 2000).unref();
  }

  flushUse(): void {
    if (this.lastUsedTimer) clearTimeout(this.lastUsedTimer);
    this.lastUsedTimer = undefined;
    if (this.pendingUse.size === 0) return;
    const index = this.readIndex();
    for (const [name, when] of this.pendingUse) if (index.entries[name]) index.entries[name].lastUsed = when;
    this.pendingUse.clear();
    this.writeIndex(index);
  }

  /** Changes an entry's provider and attributes (never its value); returns the entry as it is now. */
  update(name: string, change: { provider?: string; attributes?: Record<string, string> }): VaultEntry {
    const index = this.readIndex();
    const meta = index.entries[name];
    if (!meta) throw new KeywardError(`no vault entry named ${name}`, { code: 'not_found', hint: 'See the entries with: keyward vault list' });
    if (change.provider) meta.provider = change.provider;
    if (change.attributes) meta.attributes = { ...meta.attributes, ...change.attributes };
    this.writeIndex(index);
    return { name, ...meta };
  }

  async remove(name: string): Promise<boolean> {
    const index = this.readIndex();
    if (!index.entries[name]) return false;
    await this.store.delete(name);
    delete index.entries[name];
    this.writeIndex(index);
    return true;
  }
}
