import type { IncomingHttpHeaders } from 'node:http';
import { DaemonError } from '../errors.js';
import type { HttpRule, ProviderProfile } from '../providers/types.js';
import { safeText } from '../../kernel/terminal.js';

/**
 * Pure functions deciding whether a proxied request is inside a grant: path normalisation and
 * the permission's method/path rules. The path that is checked is the path that is forwarded,
 * so no encoding trick can make the two differ.
 */

export type Normalized = { ok: true; path: string; query: string } | { ok: false; reason: string };

const UNRESERVED = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]$/;

/**
 * Canonical form of a request target's path: each segment percent-decoded and re-encoded one
 * way (so `%41` and `A` are the same path), `//` collapsed, and rejected outright when a segment
 * is `.` or `..` — also once encoded slashes inside it are taken as separators, since some
 * servers decode them — or holds NUL or a malformed escape. Those are the shapes that make a
 * proxy and a server disagree about which resource a path names. An encoded slash that is not
 * part of a traversal stays encoded (GitLab's `projects/acme%2Fapp` needs it).
 */
export function normalizePath(target: string): Normalized {
  if (!target.startsWith('/')) return { ok: false, reason: 'the request target must be a path (origin-form)' };
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q);
  if (rawPath.includes('#')) return { ok: false, reason: 'a fragment in the request target' };
  const segments: string[] = [];
  for (const raw of rawPath.split('/')) {
    if (raw === '') continue; // collapses "//" and the leading slash
    let decoded: string;
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      return { ok: false, reason: 'a malformed percent-escape in the path' };
    }
    if (decoded.includes('\0')) return { ok: false, reason: 'a NUL in the path' };
    if (decoded.split(/[/\\]/).some((part) => part === '.' || part === '..')) return { ok: false, reason: 'a "." or ".." segment in the path' };
    segments.push(normalizeSegment(decoded));
  }
  const trailing = rawPath.length > 1 && rawPath.endsWith('/') ? '/' : '';
  return { ok: true, path: '/' + segments.join('/') + (segments.length ? trailing : ''), query };
}

const patternCache = new Map<string, RegExp>();

/**
 * A rule path pattern as a regex: `*` one segment, `**` any number of segments (including none),
 * `{resource}` the grant's resource, matched literally.
 */
function patternRegex(pattern: string, resource: string | undefined, style: ResourceStyle): RegExp | undefined {
  if (pattern.includes('{resource}') && !resource) return undefined;
  const key = `${pattern}\u0000${resource ?? ''}\u0000${style.encoded ? 'e' : 'p'}${style.caseInsensitive ? 'i' : ''}`;
  let re = patternCache.get(key);
  if (re) return re;
  const escapeRe = (s: string) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  // Where the provider ignores case in names (GitHub's owner/repo), `Acme/App` is `acme/app`.
  const resourceRe = (s: string) =>
    style.caseInsensitive ? [...s].map((ch) => (ch.toLowerCase() !== ch.toUpperCase() ? `[${ch.toLowerCase()}${ch.toUpperCase()}]` : escapeRe(ch))).join('') : escapeRe(s);
  const resourceText = !resource
    ? ''
    : style.encoded
      ? normalizeSegment(resource)
      : resource
          .split('/')
          .map((s) => normalizeSegment(s))
          .join('/');
  let source = '';
  const parts = pattern.split('/').filter((p, i) => i > 0 || p !== '');
  for (const part of parts) {
    if (part === '**') source += '(?:/[^/]+)*';
    else if (part === '*') source += '/[^/]+';
    else
      source +=
        '/' +
        escapeRe(part)
          .replace('\\{resource\\}', () => resourceRe(resourceText))
          .replace(/\*/g, '[^/]*');
  }
  re = new RegExp(`^${source || '/'}/?$`);
  if (patternCache.size > 5000) patternCache.clear();
  patternCache.set(key, re);
  return re;
}

/** One segment, encoded one canonical way (a `/` inside it becomes `%2F`). */
function normalizeSegment(s: string): string {
  return [...s].map((ch) => (UNRESERVED.test(ch) ? ch : encodeURIComponent(ch))).join('');
}

/** How a provider writes a resource into paths: as path segments (owner/repo), or as one encoded segment. */
export interface ResourceStyle {
  /** Path segments a resource spans (GitHub's owner/repo: 2). Default 1. */
  segments?: number;
  /** The resource is one segment with its slashes encoded (GitLab's acme%2Fapp). */
  encoded?: boolean;
  /** The provider treats names without regard to case (GitHub, GitLab). */
  caseInsensitive?: boolean;
}

/** Whether `method path` is allowed by any of the rules, for this resource. */
export function allowedBy(rules: HttpRule[], method: string, path: string, resource?: string, style: ResourceStyle = {}): boolean {
  return rules.some((rule) => rule.methods.includes(method) && rule.paths.some((p) => patternRegex(p, resource, style)?.test(path) ?? false));
}

/**
 * The narrowest permission of a provider that would allow a request, for a denial's "you would
 * need" and for step-up consent. Permissions with a resource are tried with the resource read
 * off the path (`resourceSegments` segments where `{resource}` stands, two for owner/repo).
 */
export function permissionFor(profile: ProviderProfile, method: string, path: string): { permission: string; resource?: string } | undefined {
  const entries = Object.entries(profile.permissions).sort(([a], [b]) => rank(a) - rank(b));
  for (const [permission, rules] of entries) {
    const needsResource = rules.some((r) => r.paths.some((p) => p.includes('{resource}')));
    if (!needsResource) {
      if (allowedBy(rules, method, path)) return { permission };
      continue;
    }
    const style = profile.resource ?? {};
    for (const rule of rules) {
      for (const p of rule.paths) {
        const resource = resourceFromPath(p, path, style.encoded ? 1 : (style.segments ?? 1));
        if (resource && allowedBy(rules, method, path, resource, style)) return { permission, resource };
      }
    }
  }
  return undefined;
}

/** Broad permissions last: "all", "write", "read" lose to any named one. */
function rank(permission: string): number {
  return permission === 'all' ? 3 : permission === 'write' ? 2 : permission === 'read' ? 1 : 0;
}

function resourceFromPath(pattern: string, path: string, segments: number): string | undefined {
  const before = pattern.split('{resource}')[0];
  const prefix = before.split('/').filter(Boolean);
  const parts = path.split('/').filter(Boolean);
  if (parts.length < prefix.length + segments) return undefined;
  for (let i = 0; i < prefix.length; i++) if (prefix[i] !== '*' && prefix[i] !== parts[i]) return undefined;
  return parts
    .slice(prefix.length, prefix.length + segments)
    .map((s) => decodeURIComponent(s))
    .join('/');
}

/** Headers that ask a server to treat a request as another method. */
export const METHOD_OVERRIDES = ['x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-method'];

/**
 * Query parameters that frameworks read as the method (Rails and Laravel's `_method`, Google's
 * `$httpMethod`, Salesforce's `_HttpMethod`, and the header names used as parameters). Compared
 * without regard to case, since frameworks differ there too. A plain `method` is left alone:
 * RPC-style APIs use it for the operation's name.
 */
export const METHOD_OVERRIDE_PARAMS = ['_method', '$httpmethod', '_httpmethod', 'httpmethod', ...METHOD_OVERRIDES];

/**
 * Method overrides (in a header or in the query) and ambiguous framing, refused on every route
 * that injects a key: a grant that allows GET must not become a DELETE on the server's side.
 */
export function checkFraming(headers: IncomingHttpHeaders, method: string, query = ''): void {
  for (const h of METHOD_OVERRIDES) {
    const v = headers[h];
    if (v !== undefined && String(v).toUpperCase() !== method) throw new DaemonError('method_override', `refused: ${h} would change the method to ${safeText(String(v))}`);
  }
  if (query.length > 1) {
    for (const [name, value] of new URLSearchParams(query.replace(/^\?/, ''))) {
      if (METHOD_OVERRIDE_PARAMS.includes(name.toLowerCase()) && value.toUpperCase() !== method) {
        throw new DaemonError('method_override', `refused: the query parameter ${safeText(name)} would change the method to ${safeText(value)}`);
      }
    }
  }
  // Request smuggling: the two length headers disagree about where the body ends.
  if (headers['content-length'] !== undefined && headers['transfer-encoding'] !== undefined) {
    throw new DaemonError('ambiguous_length', 'refused: both Content-Length and Transfer-Encoding');
  }
}
