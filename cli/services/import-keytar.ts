import { keychainError } from '../../daemon/vault/keychain.js';
import { ENTRY_NAME } from '../../daemon/vault/vault.js';
import { KeywardError, isKeywardError } from '../../kernel/errors.js';

/**
 * `keyward import keytar`: moves the entries that keytar-based tools (VS Code extensions, GitHub
 * Desktop, Atom, many Electron apps) stored in the OS keychain into keyward's vault.
 *
 * keytar files its entries under the attributes `{service, account}` and keyward's keychain
 * library under `{service, username}`, so neither reads the other's: the values are read with
 * keytar itself (an optional dependency, loaded only here), written through the daemon (which
 * stores, reads back and compares before it records an entry), and only then, if asked, deleted
 * from keytar's service.
 */

/** The part of keytar's API this uses. */
export interface KeytarApi {
  findCredentials(service: string): Promise<Array<{ account: string; password: string }>>;
  getPassword(service: string, account: string): Promise<string | null>;
  deletePassword(service: string, account: string): Promise<boolean>;
}

/** What keytar needs, per platform, to install and load. */
export function keytarInstallHint(platform: NodeJS.Platform = process.platform): string {
  const where = 'in the directory keyward is installed in (keytar is an optional dependency of keyward)';
  if (platform === 'linux') {
    return `Install it ${where}: npm install keytar. On Linux it needs libsecret at run time (Debian/Ubuntu: apt-get install libsecret-1-0; Fedora: dnf install libsecret) and, where no prebuilt binary can be downloaded, libsecret-1-dev, build-essential and python3 to compile.`;
  }
  return `Install it ${where}: npm install keytar (where no prebuilt binary can be downloaded it compiles, which needs python3 and a C++ compiler).`;
}

/** Turns a failure to load keytar into what the user can do about it. */
export function keytarLoadError(error: unknown, platform: NodeJS.Platform = process.platform): KeywardError {
  const e = error as NodeJS.ErrnoException;
  const message = String(e?.message ?? error);
  const code = e?.code ?? '';
  if (code === 'ERR_MODULE_NOT_FOUND' && /['"]keytar['"]/.test(message)) {
    return new KeywardError('keytar is not installed, so keyward cannot read the entries keytar-based tools stored', { code: 'keytar_missing', hint: keytarInstallHint(platform) });
  }
  if (/keytar\.node/.test(message) && (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND')) {
    return new KeywardError('keytar is installed but its native part was never built', {
      code: 'keytar_not_built',
      hint: `Build it: npm rebuild keytar.${platform === 'linux' ? ' That needs libsecret-1-dev, build-essential and python3 (Debian/Ubuntu: apt-get install libsecret-1-dev build-essential python3).' : ''}`,
    });
  }
  if (/libsecret/i.test(message)) {
    const detail = /libsecret[^:]*: ([^\n]+)/.exec(message)?.[1];
    return new KeywardError(`keytar cannot load libsecret${detail ? ` (${detail.trim()})` : ''}`, {
      code: 'libsecret_missing',
      hint: 'Install libsecret: apt-get install libsecret-1-0 (Debian/Ubuntu), dnf install libsecret (Fedora), pacman -S libsecret (Arch); to build keytar, libsecret-1-dev as well.',
    });
  }
  if (/NODE_MODULE_VERSION|compiled against a different Node\.js/i.test(message)) {
    return new KeywardError(`keytar was built for another version of Node.js than this one (${process.version})`, {
      code: 'keytar_not_built',
      hint: 'Rebuild it: npm rebuild keytar',
    });
  }
  return new KeywardError(`cannot load keytar: ${message.split('\n')[0]}`, { code: 'keytar_unavailable', hint: keytarInstallHint(platform) });
}

/** Loads keytar; only `keyward import keytar` ever does. */
export async function loadKeytar(): Promise<KeytarApi> {
  // A variable specifier: keyward builds and runs without the optional dependency installed.
  const specifier = 'keytar';
  try {
    const mod = (await import(specifier)) as KeytarApi & { default?: KeytarApi };
    return mod.default ?? mod;
  } catch (error) {
    throw keytarLoadError(error);
  }
}

/**
 * The vault entry name for a keytar entry: `prefix + account` when a prefix is given, else
 * `service-account`, with characters a vault name cannot hold replaced by `-`.
 */
export function entryName(service: string, account: string, prefix?: string): string {
  const raw = prefix !== undefined ? `${prefix}${account}` : `${service}-${account}`;
  let name = raw
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64)
    .replace(/[-.]+$/, '');
  if (!name) name = 'keytar-entry';
  return name;
}

/**
 * Parses a choice typed at the prompt: `1,3`, `2-4`, `a`/`all`; empty is none. Numbers are
 * 1-based; anything out of range is an error naming it.
 */
export function parseSelection(answer: string, count: number): number[] {
  const text = answer.trim().toLowerCase();
  if (text === '') return [];
  if (text === 'a' || text === 'all') return Array.from({ length: count }, (_, i) => i);
  const chosen = new Set<number>();
  for (const part of text.split(/[\s,]+/).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new KeywardError(`"${part}" is not an entry number`, { hint: 'Answer with numbers (1,3 or 2-4), or a for all.' });
    const from = Number(m[1]);
    const to = m[2] !== undefined ? Number(m[2]) : from;
    if (from < 1 || to > count || from > to) throw new KeywardError(`${part}: there are entries 1 to ${count}`, { hint: 'Answer with numbers from the list.' });
    for (let i = from; i <= to; i++) chosen.add(i - 1);
  }
  return [...chosen].sort((a, b) => a - b);
}

let rules: import('../../scanners/ruleset.js').RuleSet | undefined;

/** The provider profile a value belongs to, when a scanner rule recognises the whole value. */
export async function guessProvider(value: string): Promise<string | undefined> {
  const { buildRuleSet } = await import('../../scanners/ruleset.js');
  rules ??= buildRuleSet();
  const trimmed = value.trim();
  for (const match of rules.detector.detect({ path: '(keytar)', data: Buffer.from(trimmed, 'utf8') })) {
    const rule = rules.byId.get(match.ruleId);
    if (rule?.migrate && match.secret === trimmed) return rule.migrate;
  }
  return undefined;
}

export interface ImportKeytarOptions {
  service: string;
  /** Import these accounts (without asking). */
  accounts?: string[];
  /** Import every entry of the service (without asking). */
  all?: boolean;
  /** Delete each original from keytar's service once its copy is verified in the vault. */
  delete?: boolean;
  /** Answer yes to the confirmation (needed for --delete without a terminal). */
  yes?: boolean;
  /** Provider profile for every imported entry; otherwise guessed from the value, else generic. */
  provider?: string;
  /** Entry names are prefix + account; otherwise service-account. */
  prefix?: string;
  /** Replace vault entries of the same name. */
  replace?: boolean;
}

export interface ImportedEntry {
  account: string;
  name: string;
  provider: string;
  status: 'imported' | 'exists' | 'failed' | 'not-chosen';
  /** Whether the original was deleted from keytar's service (only with --delete). */
  deleted?: boolean;
  error?: string;
  hint?: string;
}

export interface ImportKeytarResult {
  service: string;
  found: number;
  entries: ImportedEntry[];
}

export interface ImportKeytarDeps {
  keytar: () => Promise<KeytarApi>;
  /** Stores an entry through the daemon; rejects with the daemon's error. */
  addToVault: (entry: { name: string; provider: string; value: string; source: string; replace?: boolean }) => Promise<void>;
  /** The vault's entry names and sources, to verify an import before deleting its original. */
  listVault: () => Promise<Array<{ name: string; source: string }>>;
  /** Asks a question on the terminal; undefined when there is none. */
  ask?: (question: string) => Promise<string>;
  /** Progress and listings for people (stderr). */
  say: (line: string) => void;
}

const keytarCall = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
  try {
    return await call();
  } catch (error) {
    if (isKeywardError(error)) throw error;
    throw keychainError(error, what);
  }
};

export async function importKeytar(options: ImportKeytarOptions, deps: ImportKeytarDeps): Promise<ImportKeytarResult> {
  if (!options.service)
    throw new KeywardError('--service is required', { hint: 'Name the keytar service, e.g. keyward import keytar --service "GitHub - https://api.github.com"' });
  if (options.prefix !== undefined && options.prefix !== '' && !/^[A-Za-z0-9]/.test(options.prefix)) {
    throw new KeywardError(`--prefix ${options.prefix} must start with a letter or digit`);
  }
  const keytar = await deps.keytar();
  const found = await keytarCall(`read keytar's entries for ${options.service}`, () => keytar.findCredentials(options.service));
  found.sort((a, b) => a.account.localeCompare(b.account));
  if (found.length === 0) {
    throw new KeywardError(`keytar has no entries for the service "${options.service}"`, {
      code: 'not_found',
      hint: 'Service names are exact and case-sensitive. On Linux, `secret-tool search --all service "<name>"` shows what is stored under a service.',
    });
  }
  const planned = await Promise.all(
    found.map(async (c) => ({
      account: c.account,
      value: c.password,
      name: entryName(options.service, c.account, options.prefix),
      provider: options.provider ?? (await guessProvider(c.password)) ?? 'generic',
    })),
  );
  const byName = new Map<string, string>();
  for (const p of planned) {
    const other = byName.get(p.name);
    if (other !== undefined) {
      throw new KeywardError(`the accounts "${other}" and "${p.account}" would both become the vault entry ${p.name}`, {
        hint: 'Import them separately with --account and different --prefix values.',
      });
    }
    byName.set(p.name, p.account);
  }

  // Which entries: named on the command line, all, or chosen at the prompt.
  let chosen: number[];
  if (options.accounts?.length) {
    const missing = options.accounts.filter((a) => !planned.some((p) => p.account === a));
    if (missing.length) {
      throw new KeywardError(`keytar has no account ${missing.map((m) => `"${m}"`).join(', ')} under "${options.service}"`, {
        hint: `Its accounts: ${planned.map((p) => p.account).join(', ')}`,
      });
    }
    chosen = planned.flatMap((p, i) => (options.accounts!.includes(p.account) ? [i] : []));
  } else if (options.all) {
    chosen = planned.map((_, i) => i);
  } else if (deps.ask) {
    deps.say(`keytar's service "${options.service}" holds ${planned.length} entr${planned.length === 1 ? 'y' : 'ies'}:`);
    planned.forEach((p, i) => deps.say(`  ${String(i + 1).padStart(3)}  ${p.account}  →  vault entry ${p.name} (${p.provider})`));
    chosen = parseSelection(await deps.ask('Import which? Numbers (1,3 or 2-4), a for all, Enter for none: '), planned.length);
    if (chosen.length === 0) deps.say('Nothing chosen; nothing imported.');
  } else {
    throw new KeywardError('choose the entries to import: there is no terminal to ask on', { hint: 'Add --all, or --account NAME for each one.' });
  }

  let deleteOriginals = Boolean(options.delete) && chosen.length > 0;
  if (deleteOriginals && !options.yes) {
    if (!deps.ask) throw new KeywardError('--delete removes the originals from the keychain: confirm with --yes when there is no terminal');
    const answer = await deps.ask(
      `Delete the ${chosen.length} original${chosen.length === 1 ? '' : 's'} from keytar's service once ${chosen.length === 1 ? 'its copy is' : 'their copies are'} verified in keyward's vault? [y/N] `,
    );
    deleteOriginals = /^y(es)?$/i.test(answer);
    if (!deleteOriginals) deps.say('The originals stay where they are.');
  }

  const entries: ImportedEntry[] = [];
  const chosenSet = new Set(chosen);
  for (const [i, p] of planned.entries()) {
    const entry: ImportedEntry = { account: p.account, name: p.name, provider: p.provider, status: 'not-chosen' };
    entries.push(entry);
    if (!chosenSet.has(i)) continue;
    if (!ENTRY_NAME.test(p.name)) {
      Object.assign(entry, { status: 'failed', error: `"${p.name}" is not a valid vault entry name`, hint: 'Pick a name with --prefix.' });
      continue;
    }
    const source = `keytar:${options.service}/${p.account}`.slice(0, 300);
    try {
      await deps.addToVault({ name: p.name, provider: p.provider, value: p.value, source, replace: options.replace });
    } catch (error) {
      const e = error as KeywardError;
      if (e.code === 'conflict')
        Object.assign(entry, {
          status: 'exists',
          error: `the vault already has an entry named ${p.name}`,
          hint: 'Add --replace to overwrite it, or --prefix to import under other names.',
        });
      else Object.assign(entry, { status: 'failed', error: e.message, hint: e.hint });
      continue;
    }
    entry.status = 'imported';
    if (!deleteOriginals) continue;
    // The daemon read the value back before answering; check the index names it too before
    // the only other copy goes.
    const listed = (await deps.listVault()).some((v) => v.name === p.name && v.source === source);
    if (!listed) {
      Object.assign(entry, { deleted: false, error: `the vault does not list ${p.name} after storing it; the original was kept` });
      continue;
    }
    try {
      const removed = await keytarCall(`delete ${p.account} from keytar's service`, () => keytar.deletePassword(options.service, p.account));
      const left = await keytarCall(`check ${p.account} in keytar's service`, () => keytar.getPassword(options.service, p.account));
      entry.deleted = removed && left === null;
      if (!entry.deleted) entry.error = 'keytar did not delete the original';
    } catch (error) {
      Object.assign(entry, { deleted: false, error: (error as Error).message, hint: (error as KeywardError).hint });
    }
  }
  return { service: options.service, found: planned.length, entries };
}
