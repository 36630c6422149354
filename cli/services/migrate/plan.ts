import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { getLocation } from 'jsonc-parser';
import { redact } from '../../../scanners/ruleset.js';
import type { Finding } from '../../../scanners/types.js';
import { KeywardError } from '../../../kernel/errors.js';
import { locateMcp, rewrite, RewriteError, type FileKind, type Rewrite, type SecretRef } from './rewrite.js';
import { mintingNote } from './minting.js';

/**
 * From findings (with raw secrets) to a migration plan: which file becomes what, which vault
 * entries hold what, which policy rules let the file's users keep working, and what cannot be
 * rewritten (history, images: rotate those). Pure apart from reading the files.
 */
export interface RawFinding extends Finding {
  /** The secret itself (the scan ran with showSecrets). */
  secret: string;
  /** Provider profile for the vault entry (the rule's `migrate`), when the rule names one. */
  profile?: string;
}

export interface PlannedFile {
  path: string;
  kind: FileKind;
  before: string;
  after: string;
  rewrite: Rewrite;
  findings: RawFinding[];
}

export interface PolicyRuleText {
  agent: string;
  credential: string;
  permission: string;
  decision: 'allow' | 'ask';
  maxTtl?: string;
}

export interface Exposure {
  file: string;
  ruleId: string;
  provider: string;
  where: string;
  rotate?: string;
}

export interface MigrationPlan {
  files: PlannedFile[];
  /** Vault entries to create: name → value and provider. */
  entries: Map<string, { value: string; provider: string; source: string; attributes?: Record<string, string> }>;
  rules: PolicyRuleText[];
  notes: string[];
  exposed: Exposure[];
  /** Findings keyward cannot move, with why. */
  skipped: { file: string; line: number; ruleId: string; reason: string }[];
  /** Findings the user accepted (for the baseline). */
  accepted: RawFinding[];
  /** The vault entry each moved finding goes to, by `occurrence(finding)`. */
  names: Map<string, string>;
  /** Occurrences whose entry name is set by how a tool looks it up (AWS profile, git or Docker host). */
  fixedNames: Set<string>;
}

/** One finding's place: its fingerprint in one file. Choices are made per occurrence or per fingerprint. */
export const occurrence = (f: { fingerprint: string; file: string }) => `${f.fingerprint}@${resolve(f.file)}`;

/** What the user chose for one secret in the wizard. */
export type Choice = { action: 'move'; name: string; provider?: string } | { action: 'skip' } | { action: 'accept' };

export const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** What kind of file this is, for the rewriters; undefined when keyward cannot rewrite it. */
export function fileKind(path: string, format: string | undefined, keyPath: string | undefined): FileKind | undefined {
  const name = basename(path);
  const parent = basename(dirname(path));
  if (format === 'env' || /^\.env(\..+)?$/.test(name) || name.endsWith('.env')) return 'env';
  if (format === 'npmrc' || name === '.npmrc') return 'npmrc';
  if (name === '.pypirc') return 'pypirc';
  if (format === 'netrc' || name === '.netrc' || name === '_netrc') return 'netrc';
  if (format === 'git-credentials' || name === '.git-credentials' || (name === 'credentials' && parent === 'git')) return 'git-credentials';
  if ((name === 'credentials' && parent === '.aws') || (format === 'ini' && keyPath && /aws_(secret_access_key|access_key_id|session_token)$/.test(keyPath))) return 'aws';
  if ((name === 'config.json' && parent === '.docker') || (name === 'auth.json' && parent === 'containers')) return 'docker';
  if (keyPath && locateMcp(keyPath)) {
    const ext = extname(name);
    if (ext === '.toml' || format === 'toml') return 'mcp-toml';
    if (ext === '.yaml' || ext === '.yml' || format === 'yaml') return 'mcp-yaml';
    return 'mcp-json';
  }
  return undefined;
}

/** Key path of the JSON value at a line and column (for findings from a plain file scan). */
export function jsonKeyPath(text: string, line: number, column: number): string | undefined {
  let offset = 0;
  for (let i = 1; i < line; i++) offset = text.indexOf('\n', offset) + 1;
  const loc = getLocation(text, offset + column - 1);
  if (!loc.path.length) return undefined;
  let out = '';
  for (const part of loc.path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (/^[A-Za-z0-9_$-]+$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48) || 'secret';

/** A vault entry name for a secret: the provider's name where that is unambiguous, else where it came from. */
function suggestName(f: RawFinding, kind: FileKind): string {
  const variable = f.keyPath
    ?.split(/[.[\]"]+/)
    .filter(Boolean)
    .pop();
  if (kind === 'env' || kind === 'npmrc' || kind === 'pypirc' || kind.startsWith('mcp-')) {
    if (f.provider && !['generic', 'custom', 'url', 'database', 'jwt', 'private-key'].includes(f.provider)) return slug(f.provider);
    if (variable) return slug(variable);
  }
  return slug(`${f.provider}-${basename(f.file)}`);
}

/** Formats whose vault entries are named for how the tool looks them up (AWS profile, git or Docker host). */
const NAMED_BY_TOOL = new Set<FileKind>(['aws', 'netrc', 'git-credentials', 'docker']);

const HEADER_FIELDS = new Set(['headers', 'http_headers', 'requestOptions']);

const PERMANENT_SOURCES = new Set(['history', 'image', 'archive', 'staged']);

export interface PlanOptions {
  /** How rewritten configs start keyward: [node, bin/run.js] by default. */
  launcher: string[];
  /** The daemon's proxy on its fixed port and the /_mcp/ routes in use, for HTTP MCP servers. */
  proxy?: { url?: string; used: Map<string, string>; unavailable?: string; runArgs?: string[] };
  /** Entry names already in the vault (not to be reused). */
  existing: Set<string>;
  /** Provider profiles' key-management pages, for "rotate it" advice. */
  keysUrl: (provider: string) => string | undefined;
  /** What the user chose (the wizard), by occurrence or by fingerprint; the rest is moved under suggested names. */
  choices?: Map<string, Choice>;
  /**
   * Whether a file is one of the user's own credential files (~/.aws/credentials, ~/.netrc…).
   * Only those may replace a vault entry named for a tool's lookup; absent: none may.
   */
  userFile?: (path: string) => boolean;
}

export function planMigration(findings: RawFinding[], options: PlanOptions): MigrationPlan {
  const plan: MigrationPlan = { files: [], entries: new Map(), rules: [], notes: [], exposed: [], skipped: [], accepted: [], names: new Map(), fixedNames: new Set() };
  const taken = new Set(options.existing);
  for (const c of options.choices?.values() ?? []) if (c.action === 'move') taken.add(c.name);
  const byFingerprint = new Map<string, string>();
  const choiceFor = (f: RawFinding) => options.choices?.get(occurrence(f)) ?? options.choices?.get(f.fingerprint);
  const nameFor = (f: RawFinding, kind: FileKind) => {
    const chosen = choiceFor(f);
    if (chosen?.action === 'move' && chosen.name) return chosen.name;
    // A key an HTTP MCP server sends in a header gets an entry of its own per server: the
    // entry carries that server's route (upstream, header), which no other use may share.
    const loc = kind.startsWith('mcp-') && f.keyPath ? locateMcp(f.keyPath) : undefined;
    const sharing = loc && HEADER_FIELDS.has(loc.field) ? `${f.fingerprint}|mcp-http|${String(loc.name)}` : f.fingerprint;
    const known = byFingerprint.get(sharing);
    if (known) return known;
    let name = suggestName(f, kind);
    for (let n = 2; taken.has(name); n++) name = `${suggestName(f, kind)}-${n}`;
    taken.add(name);
    byFingerprint.set(sharing, name);
    return name;
  };

  // Each plan starts from the routes the vault already serves (the wizard plans many times).
  const proxyRoutes = { ...options.proxy, used: new Map(options.proxy?.used) };
  const byFile = new Map<string, { kind: FileKind; findings: RawFinding[] }>();
  for (const f of findings) {
    const choice = choiceFor(f);
    if (choice?.action === 'skip') {
      plan.skipped.push({ file: f.file, line: f.line, ruleId: f.ruleId, reason: 'skipped' });
      continue;
    }
    if (choice?.action === 'accept') {
      plan.accepted.push(f);
      continue;
    }
    if (PERMANENT_SOURCES.has(f.source) || f.commit || f.image) {
      const where = f.commit ? `commit ${f.commit.slice(0, 12)}` : f.image ? `image ${f.image}${f.layerIndex !== undefined ? ` layer ${f.layerIndex}` : ''}` : f.source;
      plan.exposed.push({ file: f.file, ruleId: f.ruleId, provider: f.provider, where, rotate: options.keysUrl(f.provider) });
      continue;
    }
    const abs = resolve(f.file);
    let text: string | undefined;
    let keyPath = f.keyPath;
    if (!keyPath && /\.json$/i.test(abs)) {
      text ??= readFileSync(abs, 'utf8');
      keyPath = jsonKeyPath(text, f.line, f.column);
    }
    const kind = fileKind(abs, f.format, keyPath);
    if (!kind) {
      plan.skipped.push({
        file: f.file,
        line: f.line,
        ruleId: f.ruleId,
        reason: 'keyward cannot rewrite this kind of file; move the key with keyward vault add and remove it by hand',
      });
      continue;
    }
    const group = byFile.get(abs) ?? { kind, findings: [] };
    group.findings.push({ ...f, keyPath });
    byFile.set(abs, group);
  }

  for (const [path, group] of byFile) {
    const before = readFileSync(path, 'utf8');
    // One finding per secret and place (two rules may see the same bytes).
    const seen = new Set<string>();
    const refs: SecretRef[] = [];
    for (const f of group.findings) {
      const key = `${f.line}:${f.secret}`;
      if (seen.has(key)) continue;
      seen.add(key);
      refs.push({ value: f.secret, line: f.line, column: f.column, keyPath: f.keyPath, entry: NAMED_BY_TOOL.has(group.kind) ? '' : nameFor(f, group.kind) });
    }
    // An entry holds one value: a secret that would go into an entry another file fills with a
    // different value (or route) stays where it is, and the rest of the file is rewritten without it.
    let result: Rewrite | undefined;
    let active = refs;
    while (active.length) {
      try {
        result = rewrite(group.kind, before, active, options.launcher, proxyRoutes);
      } catch (error) {
        if (!(error instanceof RewriteError)) throw error;
        // A problem on one line skips that line's secrets; the rest of the file still moves.
        const online = error.line !== undefined ? active.filter((r) => r.line === error.line) : [];
        const bad = online.length ? online : active;
        for (const f of group.findings.filter((x) => bad.some((r) => r.line === x.line && r.value === x.secret)))
          plan.skipped.push({ file: f.file, line: f.line, ruleId: f.ruleId, reason: error.message });
        active = active.filter((r) => !bad.includes(r));
        result = undefined;
        if (bad.length && active.length) continue;
        break;
      }
      const clashes = Object.entries(result.values).filter(([entry, v]) => {
        const have = plan.entries.get(entry);
        return have && (have.value !== v.value || JSON.stringify(have.attributes ?? {}) !== JSON.stringify(v.attributes ?? {}));
      });
      if (!clashes.length) break;
      const dropped = active.filter((r) => clashes.some(([entry, v]) => r.entry === entry || v.value === r.value || v.value.includes(JSON.stringify(r.value).slice(1, -1))));
      for (const r of dropped) {
        const [entry] = clashes.find(([e, v]) => r.entry === e || v.value.includes(JSON.stringify(r.value).slice(1, -1)))!;
        for (const f of group.findings.filter((x) => x.secret === r.value)) {
          plan.skipped.push({
            file: f.file,
            line: f.line,
            ruleId: f.ruleId,
            reason: `vault entry ${entry} already takes a different secret from ${plan.entries.get(entry)!.source.replace(/^migrate:/, '')}; migrate this one on its own afterwards`,
          });
        }
      }
      active = active.filter((r) => !dropped.includes(r));
      result = undefined;
    }
    if (!result) continue;
    // A credential file inside a project (a cloned repository's .aws/credentials or .netrc) gets
    // entries named for how the user's tools look them up (aws-default, git-github.com). It never
    // replaces one the vault holds already: that is the user's own credential, and replacing it
    // would hand the user's tools the repository's key. Refused here, --yes included.
    if (NAMED_BY_TOOL.has(group.kind) && !options.userFile?.(path)) {
      const held = Object.keys(result.values).filter((entry) => options.existing.has(entry));
      if (held.length) {
        for (const f of group.findings) {
          plan.skipped.push({
            file: f.file,
            line: f.line,
            ruleId: f.ruleId,
            reason: `the vault entry ${held.join(', ')} already holds a credential your tools use; ${path} is not one of your own credential files, so keyward does not replace it (remove the entry first with keyward vault remove if this file's key should win)`,
          });
        }
        continue;
      }
    }
    group.findings = group.findings.filter((f) => active.some((r) => r.value === f.secret));
    for (const ref of active) if (result.text.includes(ref.value)) throw new KeywardError(`bug: the rewrite of ${path} still holds a secret`, { code: 'bug' });
    const provider = (entry: string) => {
      const f = group.findings.find((x) => active.find((r) => r.entry === entry)?.value === x.secret);
      const chosen = f && choiceFor(f);
      return (chosen?.action === 'move' ? chosen.provider : undefined) ?? f?.profile ?? 'generic';
    };
    for (const [entry, v] of Object.entries(result.values)) {
      if (!plan.entries.has(entry)) {
        plan.entries.set(entry, { value: v.value, provider: v.provider ?? provider(entry), source: `migrate:${path}`, attributes: v.attributes });
        const note = mintingNote(entry, v, v.provider ?? provider(entry));
        if (note) plan.notes.push(`${path}: ${note}`);
      }
      if (options.existing.has(entry) && !taken.has(`replaced:${entry}`)) {
        taken.add(`replaced:${entry}`);
        plan.notes.push(
          `${path}: the vault entry ${entry} exists already and is replaced (its name is how the tool finds it); its current value is kept sealed, and keyward migrate undo puts it back`,
        );
      }
    }
    // Where each finding went: usually the entry it was given; helper formats name their own
    // (aws-<profile>, git-<host>, docker-<registry>), and may hold several secrets in one entry.
    for (const f of group.findings) {
      const given = active.find((r) => r.value === f.secret)?.entry;
      const inside = JSON.stringify(f.secret).slice(1, -1);
      const actual = given && result.values[given] ? given : Object.entries(result.values).find(([, v]) => v.value === f.secret || v.value.includes(inside))?.[0];
      if (!actual) continue;
      plan.names.set(occurrence(f), actual);
      if (actual !== given) plan.fixedNames.add(occurrence(f));
    }
    for (const c of result.consumers) {
      if (c.agent.startsWith('mcp:') && /[*?]/.test(c.agent.slice(4))) {
        // Policy agents are globs: an MCP server named `*` would yield `mcp:*`, a rule for every server.
        plan.notes.push(`${path}: no policy rule for ${c.agent}: its name holds * or ?, which policy.yaml reads as a pattern; policy.yaml's default decides for it`);
        continue;
      }
      if (c.agent === '*') {
        // Whoever reads the file (keyward run --env-file) is not known here: the policy's default
        // decides (ask, unless changed), and a rule is one line away.
        plan.notes.push(
          `${path}: ${c.entry} is released to whoever runs with this file, as policy.yaml decides (by default a person is asked); to allow one agent: - { agent: "<name>", credential: ${c.entry}, permission: release, decision: allow }`,
        );
        continue;
      }
      if (c.permission === 'write') {
        // Calls through the proxy (an HTTP MCP server's) are left to the policy's default (ask,
        // unless changed): no rule is written, so that an allow rule ("always" in keyward
        // approve, or one added by hand) takes effect; an ask rule here would outrank it.
        plan.notes.push(
          `${path}: ${c.agent} reaches its server through keyward's proxy as policy.yaml decides (by default a person is asked, once per client session); to allow it: - { agent: "${c.agent}", credential: ${c.entry}, permission: write, decision: allow }`,
        );
        continue;
      }
      // The tools and servers a file was written for read their key on their own, briefly.
      const rule: PolicyRuleText = {
        agent: c.agent,
        credential: c.entry,
        permission: c.permission,
        decision: 'allow',
        maxTtl: c.agent.startsWith('mcp:') ? '1h' : c.agent.startsWith('aws:') ? '15m' : '1m',
      };
      if (!plan.rules.some((r) => r.agent === rule.agent && r.credential === rule.credential && r.permission === rule.permission)) plan.rules.push(rule);
    }
    plan.notes.push(...result.notes.map((n) => `${path}: ${n}`));
    plan.files.push({ path, kind: group.kind, before, after: result.text, rewrite: result, findings: group.findings });
  }
  return plan;
}

/** The rule as it appears in policy.yaml. */
export function ruleText(r: PolicyRuleText): string {
  return `- { agent: ${JSON.stringify(r.agent)}, credential: ${r.credential}, permission: ${r.permission}, decision: ${r.decision}${r.maxTtl ? `, maxTtl: ${r.maxTtl}` : ''} }`;
}

/** A unified diff of a file's change with every secret of the plan masked. */
export function redactedDiff(file: PlannedFile, secrets: string[]): string {
  const mask = (s: string) => secrets.reduce((acc, secret) => (secret && acc.includes(secret) ? acc.split(secret).join(redact(secret)) : acc), s);
  const a = file.before.split('\n');
  const b = file.after.split('\n');
  // Longest common subsequence on lines: config files are small.
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const ops: { op: ' ' | '-' | '+'; text: string; ai: number; bi: number }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) ops.push({ op: ' ', text: a[i], ai: i++, bi: j++ });
    else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) ops.push({ op: '-', text: a[i], ai: i++, bi: j });
    else ops.push({ op: '+', text: b[j], ai: i, bi: j++ });
  }
  const out = [`--- ${file.path}`, `+++ ${file.path} (after keyward migrate)`];
  const context = 2;
  for (let k = 0; k < ops.length; k++) {
    if (ops[k].op === ' ') continue;
    let start = Math.max(0, k - context);
    let end = k;
    while (end < ops.length && (ops[end].op !== ' ' || ops.slice(end, end + context * 2 + 1).some((o) => o.op !== ' '))) end++;
    end = Math.min(ops.length, end + context);
    const hunk = ops.slice(start, end);
    out.push(`@@ -${hunk[0].ai + 1},${hunk.filter((o) => o.op !== '+').length} +${hunk[0].bi + 1},${hunk.filter((o) => o.op !== '-').length} @@`);
    for (const o of hunk) out.push(`${o.op}${mask(o.text)}`);
    k = end - 1;
    start = end;
  }
  return out.join('\n') + '\n';
}
