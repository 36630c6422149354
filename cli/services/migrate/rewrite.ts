import { applyEdits, findNodeAtLocation, modify, parse as parseJsonc, parseTree } from 'jsonc-parser';
import { isMap, isScalar, isSeq, parseDocument, type YAMLMap, type YAMLSeq } from 'yaml';
import { parse as parseToml } from 'smol-toml';
import { dockerEntry } from './names.js';

/**
 * The file rewriters of `keyward migrate`: pure functions from a file's text and the secrets to
 * take out of it to the new text, plus what else has to happen for the tool that reads the file
 * to keep working (a git helper to configure, a hint to print). Each keeps every other byte of
 * the file: comments, order, indentation, quoting.
 */

export type FileKind = 'env' | 'mcp-json' | 'mcp-toml' | 'mcp-yaml' | 'aws' | 'npmrc' | 'pypirc' | 'netrc' | 'docker' | 'git-credentials';

export interface SecretRef {
  /** The raw secret. */
  value: string;
  /** Where the scanner found it. */
  line: number;
  column: number;
  keyPath?: string;
  /** Vault entry it goes to. */
  entry: string;
}

export interface ExtraAction {
  kind: 'git-helper';
  /** `https://host` */
  url: string;
  entry: string;
}

export interface Rewrite {
  text: string;
  /** What the user should know or do, one line each (no secrets). */
  notes: string[];
  actions: ExtraAction[];
  /** Vault values to store: entry → value (may differ from the secret: JSON with a username). */
  values: Record<string, { value: string; provider?: string; attributes?: Record<string, string> }>;
  /** Agents that will use each entry, for policy rules: entry → agent (and how). */
  consumers: { entry: string; agent: string; mode: 'release' | 'proxy'; permission: string }[];
}

export class RewriteError extends Error {
  /** The 1-based line the problem is on, when it is one line's: the rest of the file can still move. */
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

const lines = (text: string) => text.split(/(?<=\n)/);

// ── .env ────────────────────────────────────────────────────────────────────────────────────

const ENV_LINE = /^(\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*)(["']?)(.*?)\3(\s*(?:#.*)?)(\r?\n?)$/;

/**
 * An AWS key pair in a dotenv file (`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, with the same
 * prefix) is one vault entry, as in ~/.aws/credentials: the lines name its fields (`keyward://aws#AccessKeyId`).
 */
function envAwsPair(out: string[], secrets: SecretRef[]): { entry: string; lines: Map<number, string>; value: string } | undefined {
  const vars = out.map((l) => ENV_LINE.exec(l));
  for (const [i, m] of vars.entries()) {
    const prefix = m?.[2].match(/^(.*)AWS_SECRET_ACCESS_KEY$/)?.[1];
    if (prefix === undefined || !m) continue;
    const secretRef = secrets.find((s) => s.line === i + 1 && m[4] === s.value);
    const idAt = vars.findIndex((x) => x?.[2] === `${prefix}AWS_ACCESS_KEY_ID`);
    const tokenAt = vars.findIndex((x) => x?.[2] === `${prefix}AWS_SESSION_TOKEN`);
    if (!secretRef || idAt === -1 || !/^[A-Z0-9]{16,128}$/.test(vars[idAt]![4])) continue;
    const idRef = secrets.find((s) => s.line === idAt + 1);
    const entry = idRef?.entry || secretRef.entry;
    const pair = { AccessKeyId: vars[idAt]![4], SecretAccessKey: m[4], ...(tokenAt !== -1 && vars[tokenAt]![4] ? { SessionToken: vars[tokenAt]![4] } : {}) };
    const fields = new Map<number, string>([[idAt, 'AccessKeyId'], [i, 'SecretAccessKey'], ...(pair.SessionToken ? ([[tokenAt, 'SessionToken']] as [number, string][]) : [])]);
    return { entry, lines: fields, value: JSON.stringify(pair) };
  }
  return undefined;
}

/** `KEY=value` → `KEY=keyward://entry`, keeping `export`, quotes and trailing comments. */
export function rewriteEnv(text: string, secrets: SecretRef[]): Rewrite {
  const out = lines(text);
  const values: Rewrite['values'] = {};
  const pair = envAwsPair(out, secrets);
  if (pair) {
    for (const [i, field] of pair.lines) {
      const m = ENV_LINE.exec(out[i])!;
      out[i] = `${m[1]}${m[3]}keyward://${pair.entry}#${field}${m[3]}${m[5]}${m[6]}`;
    }
    values[pair.entry] = { value: pair.value };
  }
  for (const s of secrets) {
    if (pair?.lines.has(s.line - 1)) continue;
    const i = s.line - 1;
    const line = out[i];
    if (line === undefined || !line.includes(s.value)) throw new RewriteError(`line ${s.line} no longer holds the secret`, s.line);
    const m = /^(\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*\s*=\s*)(["']?)(.*?)\2(\s*(?:#.*)?)(\r?\n?)$/.exec(line);
    if (m && m[3] === s.value) out[i] = `${m[1]}${m[2]}keyward://${s.entry}${m[2]}${m[4]}${m[5]}`;
    else if (m && m[3].includes(s.value)) {
      // The secret is part of a value (a URL with a password): the whole value moves.
      values[s.entry] = { value: m[3] };
      out[i] = `${m[1]}${m[2]}keyward://${s.entry}${m[2]}${m[4]}${m[5]}`;
      continue;
    } else throw new RewriteError(`line ${s.line} is not a KEY=value assignment`, s.line);
    values[s.entry] = { value: s.value };
  }
  return {
    text: out.join(''),
    notes: ['start what reads this file with: keyward run --agent <name> --env-file <file> -- <command>'],
    actions: [],
    values,
    consumers: secrets.map((s) => ({ entry: s.entry, agent: '*', mode: 'release', permission: 'release' })),
  };
}

// ── MCP client configs ──────────────────────────────────────────────────────────────────────

/** `mcpServers.github.env.TOKEN` → ['mcpServers', 'github', 'env', 'TOKEN']; `args[2]` → …, 'args', 2. */
export function parseKeyPath(path: string): (string | number)[] {
  const parts: (string | number)[] = [];
  const re = /([A-Za-z0-9_$-]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(path))) parts.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : (JSON.parse(m[3]) as string)));
  return parts;
}

/** Where a secret sits in an MCP server entry. */
export interface McpLocation {
  /** Path to the server object. */
  server: (string | number)[];
  /** The server's key, or its position in a list (the rewriter then uses its `name` field). */
  name: string | number;
  /** env | headers | args | url */
  field: string;
  /** The env/header name, or the args index. */
  key: string | number;
}

const SERVER_CONTAINERS = new Set(['mcpServers', 'servers', 'context_servers', 'mcp_servers', 'mcp']);

export function locateMcp(keyPath: string): McpLocation | undefined {
  const parts = parseKeyPath(keyPath);
  for (let i = parts.length - 3; i >= 0; i--) {
    const container = parts[i];
    if (typeof container === 'string' && SERVER_CONTAINERS.has(container)) {
      const name = parts[i + 1];
      const field = parts[i + 2];
      if (typeof field !== 'string') continue;
      // Zed nests the command under `command: { path, args, env }`.
      const rest = parts.slice(i + 3);
      if (field === 'command' && typeof rest[0] === 'string' && ['env', 'args'].includes(rest[0])) {
        return { server: parts.slice(0, i + 2), name, field: `command.${rest[0]}`, key: rest[1] ?? '' };
      }
      return { server: parts.slice(0, i + 2), name, field, key: rest[0] ?? '' };
    }
  }
  return undefined;
}

/** The `keyward run` prefix a rewritten server starts with. */
function runPrefix(name: string, envRefs: { variable: string; entry: string }[], proxy: ProxyRoutes | undefined, inArgv = false): string[] {
  return [
    'run',
    ...(proxy?.runArgs ?? []),
    '--agent',
    `mcp:${name}`,
    ...envRefs.flatMap((r) => ['--env', `${r.variable}=keyward://${r.entry}`]),
    ...(inArgv ? ['--secret-in-argv'] : []),
    '--',
  ];
}

/** What the user must know when a server keeps taking its key as an argument. */
function argvNotes(plans: Map<string, ServerPlan>): string[] {
  return [...plans.values()]
    .filter((p) => p.argFixes.length > 0)
    .map(
      (p) =>
        `MCP server ${p.name} takes its key as a command-line argument: keyward run passes it there (--secret-in-argv), where every user of this machine can read it (ps) while the server runs. If the server can read the key from an environment variable, use that instead.`,
    );
}

/** An `--api-key=VALUE` style argument: the flag name becomes an environment variable. */
function argVariable(arg: string, secret: string): { variable: string; rest: string } | undefined {
  const m = /^--?([A-Za-z][A-Za-z0-9-]*)=(.*)$/.exec(arg);
  if (!m || !m[2].includes(secret)) return undefined;
  return { variable: `KEYWARD_ARG_${m[1].toUpperCase().replace(/-/g, '_')}`, rest: `--${m[1]}` };
}

interface ServerPlan {
  name: string;
  serverPath: (string | number)[];
  removeEnv: string[];
  envRefs: { variable: string; entry: string }[];
  argFixes: { index: number; value: string }[];
  /** Secrets in the headers of an HTTP server. */
  headers: { name: string; entry: string; value: string }[];
  /** The server's name on the proxy's /_mcp/ route (HTTP servers). */
  route?: string;
}

/** Where HTTP MCP servers are pointed: the daemon's proxy, and the route names in use. */
export interface ProxyRoutes {
  /** `http://127.0.0.1:<port>` on the configured port; undefined when the port is not fixed. */
  url?: string;
  /** Route name → the vault entry serving it (existing entries, and this migration's so far). */
  used: Map<string, string>;
  /** Why `url` is undefined, for the error. */
  unavailable?: string;
  /**
   * Arguments every rewritten server's `keyward run` gets before `--agent`: where the daemon and
   * vault are (`--daemon-env KEYWARD_HOME=…`), since clients may start servers with a filtered environment.
   */
  runArgs?: string[];
}

const ROUTE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$/;

/** A route name for a server: its own name where the proxy accepts it, unique per entry. */
function routeName(name: string, entry: string, used: Map<string, string>): string {
  const base = ROUTE_NAME.test(name)
    ? name
    : name
        .replace(/[^A-Za-z0-9._-]+/g, '-')
        .replace(/^[^A-Za-z0-9]+/, '')
        .slice(0, 52) || 'mcp';
  let candidate = base;
  for (let n = 2; used.has(candidate) && used.get(candidate) !== entry; n++) candidate = `${base}-${n}`;
  used.set(candidate, entry);
  return candidate;
}

function planServers(secrets: SecretRef[]): Map<string, ServerPlan> {
  const plans = new Map<string, ServerPlan>();
  for (const s of secrets) {
    const loc = s.keyPath ? locateMcp(s.keyPath) : undefined;
    if (!loc) throw new RewriteError(`no MCP server holds ${s.keyPath ?? `line ${s.line}`}`);
    const key = JSON.stringify(loc.server);
    const plan = plans.get(key) ?? { name: String(loc.name), serverPath: loc.server, removeEnv: [], envRefs: [], argFixes: [], headers: [] };
    plans.set(key, plan);
    if (loc.field === 'env' || loc.field === 'command.env') {
      plan.removeEnv.push(String(loc.key));
      plan.envRefs.push({ variable: String(loc.key), entry: s.entry });
    } else if (loc.field === 'args' || loc.field === 'command.args') {
      plan.argFixes.push({ index: Number(loc.key), value: s.value });
      plan.envRefs.push({ variable: '', entry: s.entry });
    } else if (loc.field === 'headers' || loc.field === 'http_headers' || loc.field === 'requestOptions') {
      plan.headers.push({ name: String(loc.field === 'requestOptions' ? '' : loc.key), entry: s.entry, value: s.value });
    } else {
      throw new RewriteError(`the secret sits in ${loc.field} of MCP server ${loc.name}: move it by hand (see docs/integrations/mcp-clients.md)`);
    }
  }
  return plans;
}

/** Fills the variable of an argument secret and returns the new args list. */
function fixArgs(args: string[], plan: ServerPlan): string[] {
  const out = [...args];
  let refIndex = 0;
  for (const fix of plan.argFixes) {
    while (plan.envRefs[refIndex]?.variable) refIndex++;
    const arg = out[fix.index];
    const v = arg === undefined ? undefined : argVariable(arg, fix.value);
    if (!v) throw new RewriteError(`argument ${fix.index} of MCP server ${plan.name} is not --name=value: move it by hand`);
    plan.envRefs[refIndex].variable = v.variable;
    // keyward run fills `${VAR}` in the command's arguments from the variables it released.
    out[fix.index] = `${v.rest}=\${${v.variable}}`;
  }
  return out;
}

function consumersFor(plans: Map<string, ServerPlan>): Rewrite['consumers'] {
  return [...plans.values()].flatMap((p) => [
    ...p.envRefs.map((r) => ({ entry: r.entry, agent: `mcp:${p.name}`, mode: 'release' as const, permission: 'release' })),
    // Through the proxy an MCP server's calls are POST, GET and DELETE: the `write` permission.
    ...p.headers.map((h) => ({ entry: h.entry, agent: `mcp:${p.route ?? p.name}`, mode: 'proxy' as const, permission: 'write' })),
  ]);
}

/** Fields MCP clients keep a remote server's address in. */
const URL_FIELDS = ['url', 'serverUrl', 'httpUrl'];

/**
 * An HTTP MCP server with a key in a header is pointed at keyward's proxy: the client sends no
 * key, and the daemon puts it back in on the way to the server (docs/proxy.md, HTTP MCP servers).
 */
function proxiedServer(
  plan: ServerPlan,
  server: Record<string, unknown>,
  proxy: ProxyRoutes | undefined,
): { field: string; url: string; header: string; value: { value: string; provider: string; attributes: Record<string, string> } } {
  if (plan.envRefs.length) throw new RewriteError(`MCP server ${plan.name} has no command but keys in env or args: move them by hand`);
  if (plan.headers.length !== 1) throw new RewriteError(`MCP server ${plan.name} sends ${plan.headers.length} secret headers; keyward's proxy injects one: move them by hand`);
  const field = URL_FIELDS.find((f) => typeof server[f] === 'string');
  if (!field) throw new RewriteError(`MCP server ${plan.name} has neither a command nor a url`);
  const proxyUrl = proxy?.url;
  if (proxy?.unavailable) throw new RewriteError(`MCP server ${plan.name} cannot be pointed at keyward's proxy: ${proxy.unavailable}`);
  if (!proxy || !proxyUrl)
    throw new RewriteError(
      `the daemon's proxy has no fixed port, so MCP server ${plan.name} cannot be pointed at it: set proxy.port in config.yaml, restart the daemon (keyward daemon stop; keyward daemon start) and migrate again`,
    );
  const h = plan.headers[0];
  const headers = (server.headers ?? server.http_headers) as Record<string, unknown> | undefined;
  const sent = h.name && headers ? headers[h.name] : undefined;
  if (typeof sent !== 'string') throw new RewriteError(`MCP server ${plan.name}: the secret is not a plain header value: move it by hand`);
  const at = sent.indexOf(h.value);
  if (at === -1 || at + h.value.length !== sent.length) throw new RewriteError(`MCP server ${plan.name}: header ${h.name} has text after the secret: move it by hand`);
  let upstream: URL;
  try {
    upstream = new URL(String(server[field]));
  } catch {
    throw new RewriteError(`MCP server ${plan.name}: ${field} is not a URL`);
  }
  if (upstream.protocol !== 'https:' && upstream.protocol !== 'http:') throw new RewriteError(`MCP server ${plan.name}: ${field} is not an http(s) URL`);
  if (upstream.username || upstream.password) throw new RewriteError(`MCP server ${plan.name}: ${field} carries credentials: move them by hand`);
  const prefix = sent.slice(0, at);
  if (!/^[\x20-\x7e]{0,100}$/.test(prefix)) throw new RewriteError(`MCP server ${plan.name}: header ${h.name} has unusual text before the secret: move it by hand`);
  plan.route = routeName(plan.name, h.entry, proxy.used);
  return {
    field,
    url: `${proxyUrl.replace(/\/+$/, '')}/_mcp/${plan.route}${upstream.pathname}${upstream.search}`,
    header: h.name,
    value: { value: h.value, provider: 'generic', attributes: { helper: 'mcp-http', server: plan.route, upstream: upstream.origin, header: h.name.toLowerCase(), prefix } },
  };
}

/** JSON and JSON-with-comments MCP configs: minimal edits through jsonc-parser. */
export function rewriteMcpJson(text: string, secrets: SecretRef[], launcher: string[], proxy?: ProxyRoutes): Rewrite {
  const plans = planServers(secrets);
  const options = { formattingOptions: detectFormatting(text) };
  const proxied: Rewrite['values'] = {};
  let out = text;
  for (const plan of plans.values()) {
    const tree = parseTree(out, [], { allowTrailingComma: true });
    const serverNode = tree && findNodeAtLocation(tree, plan.serverPath);
    if (!serverNode || serverNode.type !== 'object') throw new RewriteError(`MCP server ${plan.name} not found`);
    const server = parseJsonc(out.slice(serverNode.offset, serverNode.offset + serverNode.length), [], { allowTrailingComma: true }) as Record<string, unknown>;
    const zedCommand = server.command && typeof server.command === 'object' ? (server.command as { path?: string; args?: string[]; env?: Record<string, string> }) : undefined;
    const command = zedCommand ? zedCommand.path : (server.command as string | undefined);
    if (!command || plan.headers.length) {
      if (command) throw new RewriteError(`MCP server ${plan.name} has a command and secret headers: move them by hand`);
      const p = proxiedServer(plan, server, proxy);
      const headersKey = server.headers !== undefined ? 'headers' : 'http_headers';
      out = applyEdits(out, modify(out, [...plan.serverPath, headersKey, p.header], undefined, options));
      out = applyEdits(out, modify(out, [...plan.serverPath, p.field], p.url, options));
      const left = findNodeAtLocation(parseTree(out, [], { allowTrailingComma: true })!, [...plan.serverPath, headersKey]);
      if (left && left.type === 'object' && (left.children ?? []).length === 0) out = applyEdits(out, modify(out, [...plan.serverPath, headersKey], undefined, options));
      proxied[plan.headers[0].entry] = p.value;
      continue;
    }
    const args = fixArgs((zedCommand ? zedCommand.args : (server.args as string[] | undefined)) ?? [], plan);
    const newArgs = [...launcher.slice(1), ...runPrefix(plan.name, plan.envRefs, proxy, plan.argFixes.length > 0), command, ...args];
    const base = zedCommand ? [...plan.serverPath, 'command'] : plan.serverPath;
    for (const variable of plan.removeEnv) out = applyEdits(out, modify(out, [...base, 'env', variable], undefined, options));
    out = applyEdits(out, modify(out, [...base, zedCommand ? 'path' : 'command'], launcher[0], options));
    out = applyEdits(out, modify(out, [...base, 'args'], newArgs, options));
    const envNode = findNodeAtLocation(parseTree(out, [], { allowTrailingComma: true })!, [...base, 'env']);
    if (envNode && envNode.type === 'object' && (envNode.children ?? []).length === 0) out = applyEdits(out, modify(out, [...base, 'env'], undefined, options));
  }
  const values = { ...Object.fromEntries(secrets.map((s) => [s.entry, { value: s.value }])), ...proxied };
  return { text: out, notes: [...proxyNotes(proxied), ...argvNotes(plans)], actions: [], values, consumers: consumersFor(plans) };
}

function proxyNotes(proxied: Rewrite['values']): string[] {
  return Object.values(proxied).map(
    (v) => `MCP server ${v.attributes!.server} now goes through keyward's proxy (the daemon must be running: keyward daemon install starts it at login)`,
  );
}

function detectFormatting(text: string): { tabSize: number; insertSpaces: boolean; eol: string } {
  const indent = /\n([ \t]+)"/.exec(text)?.[1] ?? '  ';
  return { tabSize: indent.startsWith('\t') ? 1 : indent.length, insertSpaces: !indent.startsWith('\t'), eol: text.includes('\r\n') ? '\r\n' : '\n' };
}

/** YAML MCP configs (Continue): the yaml Document API keeps comments and layout. */
export function rewriteMcpYaml(text: string, secrets: SecretRef[], launcher: string[], proxy?: ProxyRoutes): Rewrite {
  const plans = planServers(secrets);
  const doc = parseDocument(text);
  const proxied: Rewrite['values'] = {};
  for (const plan of plans.values()) {
    const server = doc.getIn(plan.serverPath, true) as YAMLMap | undefined;
    if (!server || !isMap(server)) throw new RewriteError(`MCP server ${plan.name} not found`);
    // Continue lists its servers: the agent name is the entry's `name`.
    if (/^\d+$/.test(plan.name) && typeof server.get('name') === 'string') plan.name = String(server.get('name'));
    const command = server.get('command');
    if (typeof command !== 'string' || plan.headers.length) {
      if (typeof command === 'string') throw new RewriteError(`MCP server ${plan.name} has a command and secret headers: move them by hand`);
      const plain = server.toJSON() as Record<string, unknown>;
      // Continue keeps headers under requestOptions.headers.
      const nested = plain.requestOptions && typeof plain.requestOptions === 'object' ? (plain.requestOptions as Record<string, unknown>) : undefined;
      if (plan.headers[0] && !plan.headers[0].name && nested?.headers) {
        const hs = nested.headers as Record<string, unknown>;
        plan.headers[0].name = Object.keys(hs).find((k) => typeof hs[k] === 'string' && (hs[k] as string).includes(plan.headers[0].value)) ?? '';
      }
      const p = proxiedServer(plan, nested?.headers ? { ...plain, headers: nested.headers } : plain, proxy);
      const headersPath = nested?.headers ? ['requestOptions', 'headers'] : [plain.headers !== undefined ? 'headers' : 'http_headers'];
      server.deleteIn([...headersPath, p.header]);
      const left = server.getIn(headersPath, true);
      if (isMap(left) && left.items.length === 0) server.deleteIn(headersPath);
      const options = server.get('requestOptions', true);
      if (nested && isMap(options) && options.items.length === 0) server.delete('requestOptions');
      server.set(p.field, p.url);
      proxied[plan.headers[0].entry] = p.value;
      continue;
    }
    const argsNode = server.get('args', true) as YAMLSeq | undefined;
    const args = argsNode && isSeq(argsNode) ? argsNode.items.map((i) => String(isScalar(i) ? i.value : i)) : [];
    const fixed = fixArgs(args, plan);
    const env = server.get('env', true) as YAMLMap | undefined;
    for (const variable of plan.removeEnv) env?.delete(variable);
    if (env && isMap(env) && env.items.length === 0) server.delete('env');
    server.set('command', launcher[0]);
    server.set(
      'args',
      doc.createNode([...launcher.slice(1), ...runPrefix(plan.name, plan.envRefs, proxy, plan.argFixes.length > 0), command, ...fixed], { flow: argsNode ? argsNode.flow : true }),
    );
  }
  const values = { ...Object.fromEntries(secrets.map((s) => [s.entry, { value: s.value }])), ...proxied };
  // The YAML printer writes \n: a file written with \r\n keeps them.
  const printed = doc.toString();
  return {
    text: text.includes('\r\n') ? printed.replace(/\r?\n/g, '\r\n') : printed,
    notes: [...proxyNotes(proxied), ...argvNotes(plans)],
    actions: [],
    values,
    consumers: consumersFor(plans),
  };
}

/** TOML MCP configs (Codex `[mcp_servers.<name>]`): line edits, then a parse to prove the result. */
export function rewriteMcpToml(text: string, secrets: SecretRef[], launcher: string[], proxy?: ProxyRoutes): Rewrite {
  const plans = planServers(secrets);
  const parsed = parseToml(text) as Record<string, unknown>;
  let out = lines(text);
  for (const plan of plans.values()) {
    const server = plan.serverPath.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)?.[k], parsed) as { command?: string; args?: string[] } | undefined;
    if (!server?.command || plan.headers.length)
      throw new RewriteError(`MCP server ${plan.name} is reached over HTTP: its header secret moves by hand (see docs/integrations/mcp-clients.md)`);
    const fixed = fixArgs(server.args ?? [], plan);
    const header = new RegExp(`^\\s*\\[${plan.serverPath.map((p) => String(p).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('\\.')}\\]\\s*$`);
    const start = out.findIndex((l) => header.test(l.trimEnd()));
    if (start === -1) throw new RewriteError(`table for MCP server ${plan.name} not found`);
    let end = out.findIndex((l, i) => i > start && /^\s*\[/.test(l));
    if (end === -1) end = out.length;
    const eol = text.includes('\r\n') ? '\r\n' : '\n';
    const argsLine = `args = ${JSON.stringify([...launcher.slice(1), ...runPrefix(plan.name, plan.envRefs, proxy, plan.argFixes.length > 0), server.command, ...fixed])}${eol}`;
    const section = out.slice(start, end).map((l) => {
      if (/^\s*command\s*=/.test(l)) return `command = ${JSON.stringify(launcher[0])}${eol}`;
      if (/^\s*args\s*=/.test(l)) return argsLine;
      return l;
    });
    if (!section.some((l) => l === argsLine)) section.splice(section.findIndex((l) => /^\s*command\s*=/.test(l)) + 1, 0, argsLine);
    // env as an inline table or a [<server>.env] sub-table: drop the moved keys.
    const cleaned = section.map((l) => {
      if (!/^\s*env\s*=\s*\{/.test(l)) return l;
      let line = l;
      for (const v of plan.removeEnv) line = line.replace(new RegExp(`\\s*"?${v}"?\\s*=\\s*"(?:[^"\\\\]|\\\\.)*"\\s*,?`), '');
      return line.replace(/,\s*\}/, ' }').replace(/\{\s*\}/, '{}');
    });
    out = [...out.slice(0, start), ...cleaned, ...out.slice(end)];
    out = out.filter((l, i) => {
      const inEnvTable = out
        .slice(0, i)
        .reverse()
        .find((x) => /^\s*\[/.test(x));
      if (!inEnvTable || !new RegExp(`\\.env\\]\\s*$`).test(inEnvTable.trim()) || !inEnvTable.includes(plan.name)) return true;
      return !plan.removeEnv.some((v) => new RegExp(`^\\s*"?${v}"?\\s*=`).test(l));
    });
  }
  const result = out.join('');
  parseToml(result);
  const values = Object.fromEntries(secrets.map((s) => [s.entry, { value: s.value }]));
  return { text: result, notes: argvNotes(plans), actions: [], values, consumers: consumersFor(plans) };
}

// ── credential files ────────────────────────────────────────────────────────────────────────

/** INI sections: name and line range. */
function iniSections(all: string[]): { name: string; start: number; end: number }[] {
  const sections: { name: string; start: number; end: number }[] = [];
  all.forEach((l, i) => {
    const m = /^\s*\[([^\]]+)\]\s*$/.exec(l.trimEnd());
    if (m) {
      if (sections.length) sections[sections.length - 1].end = i;
      sections.push({ name: m[1].trim(), start: i, end: all.length });
    }
  });
  return sections;
}

/** ~/.aws/credentials: static keys leave; the profile gets a credential_process. */
export function rewriteAws(text: string, secrets: SecretRef[], launcher: string[]): Rewrite {
  const all = lines(text);
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const values: Rewrite['values'] = {};
  const consumers: Rewrite['consumers'] = [];
  const notes: string[] = [];
  const touched = new Set<string>();
  for (const s of secrets) {
    const section = iniSections(all).find((sec) => sec.start < s.line - 1 && s.line - 1 < sec.end);
    if (!section) throw new RewriteError(`line ${s.line} is outside any profile`);
    touched.add(section.name);
  }
  for (const profile of touched) {
    const sec = iniSections(all).find((x) => x.name === profile)!;
    const body = all.slice(sec.start + 1, sec.end);
    const get = (k: string) => body.map((l) => new RegExp(`^\\s*${k}\\s*=\\s*(.*?)\\s*$`).exec(l.trimEnd())?.[1]).find(Boolean);
    const id = get('aws_access_key_id');
    const secret = get('aws_secret_access_key');
    if (!id || !secret) throw new RewriteError(`profile ${profile} has no complete static key pair`);
    const token = get('aws_session_token');
    // keyward aws-credentials --profile <p> reads aws-<p>.
    const entry = `aws-${profile}`;
    values[entry] = {
      value: JSON.stringify({ AccessKeyId: id, SecretAccessKey: secret, ...(token ? { SessionToken: token } : {}) }),
      provider: 'generic',
      attributes: { helper: 'aws', profile },
    };
    const kept = body.filter((l) => !/^\s*(aws_access_key_id|aws_secret_access_key|aws_session_token|credential_process)\s*=/.test(l));
    const insertAt = kept.findIndex((l) => l.trim() !== '' && !/^\s*[#;]/.test(l));
    // The AWS CLI splits credential_process like a shell does: quote paths with spaces.
    const quoted = launcher.map((p) => (/[\s"]/.test(p) ? `"${p.replace(/"/g, '\\"')}"` : p)).join(' ');
    const processLine = `credential_process = ${quoted} aws-credentials --profile ${profile}${eol}`;
    kept.splice(insertAt === -1 ? 0 : insertAt, 0, processLine);
    all.splice(sec.start + 1, sec.end - sec.start - 1, ...kept);
    consumers.push({ entry, agent: `aws:${profile}`, mode: 'release', permission: 'release' });
    notes.push(`profile ${profile}: the AWS CLI and SDKs now call keyward aws-credentials (credential_process)`);
  }
  return { text: all.join(''), notes, actions: [], values, consumers };
}

/**
 * .npmrc: `_authToken=VALUE` → `_authToken=${NPM_TOKEN…?}`, npm's own environment expansion. The
 * `?` makes npm read an unset variable as empty, so outside `keyward run` npm sends no credential
 * (and says it needs a login) rather than the literal `${…}`. Registry keys carry a port and a
 * path: `//localhost:4873/:_authToken=`, `//npm.pkg.github.com/acme/:_authToken=`.
 */
export function rewriteNpmrc(text: string, secrets: SecretRef[]): Rewrite {
  const all = lines(text);
  const values: Rewrite['values'] = {};
  const notes: string[] = [];
  for (const s of secrets) {
    const i = s.line - 1;
    const m = /^(\s*(?:\/\/([^/:\s=]+(?::\d+)?)(?:\/[^\s=]*)?:)?(_authToken|_auth|_password|token)\s*=\s*)(.*?)(\s*)(\r?\n?)$/.exec(all[i] ?? '');
    if (!m || !m[4].includes(s.value)) throw new RewriteError(`line ${s.line} is not a registry credential`, s.line);
    const host = m[2] ?? 'default';
    const variable = `NPM_TOKEN${host === 'default' || host === 'registry.npmjs.org' ? '' : '_' + host.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
    values[s.entry] = { value: m[4].replace(/^["']|["']$/g, ''), attributes: { helper: 'npm', registry: host } };
    all[i] = `${m[1]}\${${variable}?}${m[5]}${m[6]}`;
    notes.push(`npm reads \${${variable}} from the environment (unset, npm sends no credential): keyward run --agent npm --env ${variable}=keyward://${s.entry} -- npm publish`);
  }
  return { text: all.join(''), notes, actions: [], values, consumers: secrets.map((s) => ({ entry: s.entry, agent: '*', mode: 'release', permission: 'release' })) };
}

/** .pypirc: the password leaves; twine reads TWINE_PASSWORD from the environment. */
export function rewritePypirc(text: string, secrets: SecretRef[]): Rewrite {
  const all = lines(text);
  const values: Rewrite['values'] = {};
  const notes: string[] = [];
  for (const s of [...secrets].sort((a, b) => b.line - a.line)) {
    const i = s.line - 1;
    const m = /^\s*password\s*[=:]\s*(.*?)\s*$/.exec((all[i] ?? '').trimEnd());
    if (!m || !m[1].includes(s.value)) throw new RewriteError(`line ${s.line} is not a password = line`, s.line);
    const section = iniSections(all).find((sec) => sec.start < i && i < sec.end)?.name ?? 'pypi';
    values[s.entry] = { value: m[1], attributes: { helper: 'twine', repository: section } };
    all.splice(i, 1);
    notes.push(`[${section}]: upload with keyward run --agent twine --env TWINE_PASSWORD=keyward://${s.entry} -- twine upload -r ${section} dist/*`);
  }
  return { text: all.join(''), notes, actions: [], values, consumers: secrets.map((s) => ({ entry: s.entry, agent: '*', mode: 'release', permission: 'release' })) };
}

/** .netrc: the password token leaves; git gets a credential helper for that host. */
export function rewriteNetrc(text: string, secrets: SecretRef[]): Rewrite {
  let out = text;
  const values: Rewrite['values'] = {};
  const actions: ExtraAction[] = [];
  const notes: string[] = [];
  for (const s of secrets) {
    // Tokens are whitespace-separated; a machine's fields may span lines.
    const tokens = [...out.matchAll(/\S+/g)];
    const at = tokens.findIndex((t, i) => i > 0 && tokens[i - 1][0] === 'password' && t[0] === s.value);
    if (at === -1) throw new RewriteError(`no "password ${'…'}" token holds the secret`);
    let machine = 'default';
    let login: string | undefined;
    for (let i = at; i >= 0; i--) {
      if (tokens[i][0] === 'login' && tokens[i + 1] && !login) login = tokens[i + 1][0];
      if (tokens[i][0] === 'machine' && tokens[i + 1]) {
        machine = tokens[i + 1][0];
        break;
      }
      if (tokens[i][0] === 'default') break;
    }
    let start = tokens[at - 1].index!;
    let end = tokens[at].index! + tokens[at][0].length;
    const lineStart = out.lastIndexOf('\n', start - 1) + 1;
    const lineEnd = out.indexOf('\n', end);
    if (/^[ \t]*$/.test(out.slice(lineStart, start)) && /^[ \t\r]*$/.test(out.slice(end, lineEnd === -1 ? out.length : lineEnd))) {
      // "password x" was a line of its own: the line goes.
      start = lineStart;
      end = lineEnd === -1 ? out.length : lineEnd + 1;
      out = out.slice(0, start) + out.slice(end);
    } else out = out.slice(0, start).replace(/[ \t]+$/, '') + out.slice(end);
    const entry = `git-${machine}`;
    values[entry] = { value: JSON.stringify({ username: login ?? '', password: s.value }), attributes: { helper: 'git', host: machine } };
    if (machine !== 'default') actions.push({ kind: 'git-helper', url: `https://${machine}`, entry });
    notes.push(`${machine}: git asks keyward (credential helper); other tools that read .netrc (curl) no longer find a password there`);
  }
  return { text: out, notes, actions, values, consumers: Object.keys(values).map((entry) => ({ entry, agent: 'git-credential:*', mode: 'release', permission: 'release' })) };
}

/**
 * A `.git-credentials` line as git's store helper writes it: `scheme://user:pass@host[:port][/path]`,
 * each part percent-encoded, the port's colon included (`127.0.0.1%3a8080`).
 */
export function parseGitCredentialLine(line: string): { protocol: string; host: string; path: string; username: string; password: string } | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/]+)(\/.*)?$/i.exec(line.trim());
  if (!m) return undefined;
  const decode = (v: string | undefined) => {
    try {
      return decodeURIComponent(v ?? '');
    } catch {
      return undefined;
    }
  };
  const [username, password, host, path] = [decode(m[2]), decode(m[3]), decode(m[4]), decode(m[5])];
  if (username === undefined || password === undefined || host === undefined || path === undefined) return undefined;
  if (!/^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/.test(host)) return undefined;
  return { protocol: m[1].toLowerCase(), host: host.toLowerCase(), path, username, password };
}

/** ~/.git-credentials: the line leaves; git gets a credential helper for that host. */
export function rewriteGitCredentials(text: string, secrets: SecretRef[]): Rewrite {
  const all = lines(text);
  const values: Rewrite['values'] = {};
  const actions: ExtraAction[] = [];
  for (const s of [...secrets].sort((a, b) => b.line - a.line)) {
    const i = s.line - 1;
    const url = parseGitCredentialLine(all[i] ?? '');
    if (!url) throw new RewriteError(`line ${s.line} is not a credential URL`, s.line);
    if (!url.password.includes(s.value) && !url.username.includes(s.value)) throw new RewriteError(`line ${s.line} no longer holds the secret`, s.line);
    // An entry name has no `:`: a port joins with `-` (git-127.0.0.1-8080).
    const entry = `git-${url.host.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '')}`;
    values[entry] = {
      value: JSON.stringify({ username: url.username, password: url.password }),
      attributes: { helper: 'git', host: url.host },
    };
    actions.push({ kind: 'git-helper', url: `${url.protocol}://${url.host}`, entry });
    all.splice(i, 1);
  }
  return {
    text: all.join(''),
    notes: ['git asks keyward for these hosts now (credential helper, configured in ~/.gitconfig)'],
    actions,
    values,
    consumers: Object.keys(values).map((entry) => ({ entry, agent: 'git-credential:*', mode: 'release', permission: 'release' })),
  };
}

/** ~/.docker/config.json: `auths.<registry>.auth` leaves; `credHelpers.<registry>` is keyward. */
export function rewriteDocker(text: string, secrets: SecretRef[]): Rewrite {
  const config = parseJsonc(text) as { auths?: Record<string, { auth?: string; identitytoken?: string }> };
  let out = text;
  const options = { formattingOptions: detectFormatting(text) };
  const values: Rewrite['values'] = {};
  for (const s of secrets) {
    const parts = s.keyPath ? parseKeyPath(s.keyPath) : [];
    const registry = parts[0] === 'auths' ? String(parts[1]) : undefined;
    const auth = registry ? config.auths?.[registry] : undefined;
    if (!registry || !auth) throw new RewriteError(`${s.keyPath} is not a registry login in auths`);
    const decoded = auth.auth ? Buffer.from(auth.auth, 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    values[dockerEntry(registry)] = {
      value: JSON.stringify({ username: colon > 0 ? decoded.slice(0, colon) : '', secret: auth.identitytoken ?? decoded.slice(colon + 1) }),
      attributes: { helper: 'docker', server: registry, username: colon > 0 ? decoded.slice(0, colon) : '' },
    };
    out = applyEdits(out, modify(out, ['auths', registry], undefined, options));
    out = applyEdits(out, modify(out, ['credHelpers', registry], 'keyward', options));
  }
  return {
    text: out,
    notes: ['docker asks keyward for these registries (docker-credential-keyward must be on PATH: npm install -g . in the keyward clone)'],
    actions: [],
    values,
    consumers: Object.keys(values).map((entry) => ({ entry, agent: 'docker:*', mode: 'release', permission: 'release' })),
  };
}

export function rewrite(kind: FileKind, text: string, secrets: SecretRef[], launcher: string[], proxy?: ProxyRoutes): Rewrite {
  switch (kind) {
    case 'env':
      return rewriteEnv(text, secrets);
    case 'mcp-json':
      return rewriteMcpJson(text, secrets, launcher, proxy);
    case 'mcp-yaml':
      return rewriteMcpYaml(text, secrets, launcher, proxy);
    case 'mcp-toml':
      return rewriteMcpToml(text, secrets, launcher, proxy);
    case 'aws':
      return rewriteAws(text, secrets, launcher);
    case 'npmrc':
      return rewriteNpmrc(text, secrets);
    case 'pypirc':
      return rewritePypirc(text, secrets);
    case 'netrc':
      return rewriteNetrc(text, secrets);
    case 'git-credentials':
      return rewriteGitCredentials(text, secrets);
    case 'docker':
      return rewriteDocker(text, secrets);
  }
}
