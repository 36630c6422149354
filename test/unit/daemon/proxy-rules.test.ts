import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DaemonError } from '../../../daemon/errors.js';
import { builtinProviders } from '../../../daemon/providers/builtin.js';
import type { ProviderProfile } from '../../../daemon/providers/types.js';
import { METHOD_OVERRIDE_PARAMS, METHOD_OVERRIDES, allowedBy, checkFraming, normalizePath, permissionFor } from '../../../daemon/proxy/rules.js';

const github = builtinProviders.find((p) => p.name === 'github')!;
const gitlab = builtinProviders.find((p) => p.name === 'gitlab')!;
const openai = builtinProviders.find((p) => p.name === 'openai')!;
const path = (t: string) => {
  const n = normalizePath(t);
  if (!n.ok) throw new Error(n.reason);
  return n.path;
};

describe('path normalisation', () => {
  it('gives one canonical form to equivalent paths', () => {
    expect(path('/repos/acme/app')).toBe('/repos/acme/app');
    expect(path('/repos//acme///app')).toBe('/repos/acme/app');
    expect(path('/%72epos/acme/%61pp')).toBe('/repos/acme/app');
    expect(path('/v1/models/gpt%2D4o')).toBe('/v1/models/gpt-4o');
    expect(path('/a%20b')).toBe('/a%20b');
    expect(normalizePath('/v1/x?a=1&b=2')).toMatchObject({ ok: true, query: '?a=1&b=2' });
  });
  it('refuses traversal and ambiguity, however it is spelled', () => {
    for (const t of [
      '/repos/acme/app/../other',
      '/repos/acme/app/./x',
      '/repos/acme/app/%2e%2e/other',
      '/repos/acme/app%2F..%2F..%2Fother/x',
      '/repos/acme/app%5C..%5Cother',
      '/x%00y',
      '/bad%zz',
      'repos/acme',
      'http://evil.example/repos',
      '/a#frag',
    ]) {
      expect(normalizePath(t).ok, t).toBe(false);
    }
  });
  it('keeps an encoded slash that is not a traversal (GitLab project paths)', () => {
    expect(path('/api/v4/projects/acme%2Fapp/issues')).toBe('/api/v4/projects/acme%2Fapp/issues');
  });
});

describe('permission rules', () => {
  const repoRead = github.permissions['repo:read'];
  it("allow the method and paths of the grant's resource only", () => {
    expect(allowedBy(repoRead, 'GET', '/repos/acme/app', 'acme/app', github.resource)).toBe(true);
    expect(allowedBy(repoRead, 'GET', '/repos/acme/app/issues/1', 'acme/app', github.resource)).toBe(true);
    expect(allowedBy(repoRead, 'POST', '/repos/acme/app/issues', 'acme/app', github.resource)).toBe(false);
    expect(allowedBy(repoRead, 'GET', '/repos/acme/other', 'acme/app', github.resource)).toBe(false);
    expect(allowedBy(repoRead, 'GET', '/repos/acme/app-evil/x', 'acme/app', github.resource)).toBe(false);
  });
  it('match a GitLab resource in its encoded form', () => {
    expect(allowedBy(gitlab.permissions['project:read'], 'GET', '/api/v4/projects/acme%2Fapp/issues', 'acme/app', gitlab.resource)).toBe(true);
    expect(allowedBy(gitlab.permissions['project:read'], 'GET', '/api/v4/projects/acme%2Fother/issues', 'acme/app', gitlab.resource)).toBe(false);
  });
  it('name the narrowest permission a request would need', () => {
    expect(permissionFor(github, 'POST', '/repos/acme/app/pulls')).toEqual({ permission: 'repo:write', resource: 'acme/app' });
    expect(permissionFor(github, 'GET', '/repos/acme/app/pulls')).toEqual({ permission: 'repo:read', resource: 'acme/app' });
    expect(permissionFor(openai, 'POST', '/v1/chat/completions')).toEqual({ permission: 'chat' });
    expect(permissionFor(openai, 'DELETE', '/v1/files/x')).toEqual({ permission: 'all' });
  });
});

describe('path normalisation, exactly', () => {
  it('splits off the query, and keeps a trailing slash only after a segment', () => {
    expect(normalizePath('/a')).toEqual({ ok: true, path: '/a', query: '' });
    expect(normalizePath('/a?x=1&y=?')).toEqual({ ok: true, path: '/a', query: '?x=1&y=?' });
    expect(normalizePath('/a/')).toEqual({ ok: true, path: '/a/', query: '' });
    expect(normalizePath('/')).toEqual({ ok: true, path: '/', query: '' });
    expect(normalizePath('//')).toEqual({ ok: true, path: '/', query: '' });
    expect(normalizePath('/a b/é')).toEqual({ ok: true, path: '/a%20b/%C3%A9', query: '' });
  });
  it('says why it refuses a target', () => {
    expect(normalizePath('a')).toEqual({ ok: false, reason: 'the request target must be a path (origin-form)' });
    expect(normalizePath('/a#b')).toEqual({ ok: false, reason: 'a fragment in the request target' });
    expect(normalizePath('/%zz')).toEqual({ ok: false, reason: 'a malformed percent-escape in the path' });
    expect(normalizePath('/a%00')).toEqual({ ok: false, reason: 'a NUL in the path' });
    expect(normalizePath('/a/%2E%2E')).toEqual({ ok: false, reason: 'a "." or ".." segment in the path' });
  });
});

describe('path patterns', () => {
  // Each test uses its own patterns: compiled patterns are cached by pattern text.
  const unique = () => `/t${randomUUID().slice(0, 8)}`;
  it('`*` is exactly one non-empty segment, and `*` inside a segment any part of it', () => {
    const t = unique();
    const rules = [{ methods: ['GET'], paths: [`${t}/*`, `${t}/files/v*`] }];
    expect(allowedBy(rules, 'GET', `${t}/x`)).toBe(true);
    expect(allowedBy(rules, 'GET', `${t}/x/`)).toBe(true);
    expect(allowedBy(rules, 'GET', `${t}/`)).toBe(false);
    expect(allowedBy(rules, 'GET', t)).toBe(false);
    expect(allowedBy(rules, 'GET', `${t}/x/y`)).toBe(false);
    expect(allowedBy(rules, 'GET', `${t}/files/v2`)).toBe(true);
    expect(allowedBy(rules, 'GET', `${t}/files/w2`)).toBe(false);
    expect(allowedBy(rules, 'HEAD', `${t}/x`)).toBe(false);
  });
  it('a pattern naming {resource} allows nothing without a resource', () => {
    const t = unique();
    const rules = [{ methods: ['GET'], paths: [`${t}/{resource}`, `${t}/{resource}/**`] }];
    expect(allowedBy(rules, 'GET', `${t}/`)).toBe(false);
    expect(allowedBy(rules, 'GET', `${t}/x`)).toBe(false);
    expect(allowedBy(rules, 'GET', `${t}/x`, 'x')).toBe(true);
  });
  it('one pattern compiles apart for each resource, resource style and case rule', () => {
    const t = unique();
    const rules = [{ methods: ['GET'], paths: [`${t}/{resource}`] }];
    expect(allowedBy(rules, 'GET', `${t}/a/b`, 'a/b')).toBe(true);
    expect(allowedBy(rules, 'GET', `${t}/a/b`, 'a/c')).toBe(false);
    expect(allowedBy(rules, 'GET', `${t}/a%2Fb`, 'a/b', { encoded: true })).toBe(true);
    expect(allowedBy(rules, 'GET', `${t}/a/b`, 'a/b', { encoded: true })).toBe(false);
    expect(allowedBy(rules, 'GET', `${t}/a%2Fb`, 'a/b')).toBe(false);
    expect(allowedBy(rules, 'GET', `${t}/A/B`, 'a/b', { caseInsensitive: true })).toBe(true);
    expect(allowedBy(rules, 'GET', `${t}/A/B`, 'a/b')).toBe(false);
    expect(allowedBy(rules, 'GET', `${t}/a/b`, 'a/b', { caseInsensitive: true })).toBe(true);
  });
});

describe('the narrowest permission', () => {
  const profile = (permissions: ProviderProfile['permissions'], resource?: ProviderProfile['resource']) =>
    ({ ...openai, permissions, ...(resource ? { resource } : {}) }) as ProviderProfile;
  it('is a named one before read, read before write, write before all, whatever order they are listed in', () => {
    const any = [{ methods: ['GET'], paths: ['/**'] }];
    expect(permissionFor(profile({ all: any, write: any, read: any, 'models:list': any }), 'GET', '/v1/models')).toEqual({ permission: 'models:list' });
    expect(permissionFor(profile({ all: any, write: any, read: any }), 'GET', '/v1/models')).toEqual({ permission: 'read' });
    expect(permissionFor(profile({ all: any, write: any }), 'GET', '/v1/models')).toEqual({ permission: 'write' });
    expect(permissionFor(profile({ read: any, all: any }), 'GET', '/v1/models')).toEqual({ permission: 'read' });
    expect(permissionFor(profile({ all: any }), 'GET', '/v1/models')).toEqual({ permission: 'all' });
  });
  it('reads the resource where {resource} stands, after a prefix that may hold `*`', () => {
    const p = profile({
      'project:read': [
        { methods: ['GET'], paths: ['/orgs/*/{resource}/**'] },
        { methods: ['GET'], paths: ['/status'] },
      ],
    });
    expect(permissionFor(p, 'GET', '/orgs/acme/app')).toEqual({ permission: 'project:read', resource: 'app' });
    expect(permissionFor(p, 'GET', '/orgs/acme/app/x')).toEqual({ permission: 'project:read', resource: 'app' });
    expect(permissionFor(p, 'GET', '/orgs/acme')).toBeUndefined();
    expect(permissionFor(p, 'GET', '/users/acme/app')).toBeUndefined();
    expect(permissionFor(p, 'POST', '/orgs/acme/app')).toBeUndefined();
  });
  it('reads as many segments as the resource spans, and no more', () => {
    expect(permissionFor(github, 'GET', '/repos/acme/app/issues/1')).toEqual({ permission: 'repo:read', resource: 'acme/app' });
    expect(permissionFor(github, 'GET', '/repos/acme')).toEqual(permissionFor(github, 'GET', '/repos/other'));
    expect(permissionFor(github, 'GET', '/repos/acme')?.resource).toBeUndefined();
  });
});

describe('framing checks', () => {
  const refusal = (fn: () => void) => {
    try {
      fn();
    } catch (e) {
      return { code: (e as DaemonError).code, message: (e as Error).message };
    }
    return undefined;
  };
  it('refuse every method-override header that names another method, and only those', () => {
    expect(METHOD_OVERRIDES).toEqual(['x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-method']);
    for (const h of METHOD_OVERRIDES) {
      expect(
        refusal(() => checkFraming({ [h]: 'delete' }, 'GET')),
        h,
      ).toEqual({ code: 'method_override', message: `refused: ${h} would change the method to delete` });
      expect(
        refusal(() => checkFraming({ [h]: 'get' }, 'GET')),
        h,
      ).toBeUndefined();
      expect(
        refusal(() => checkFraming({ [h]: 'GET' }, 'GET')),
        h,
      ).toBeUndefined();
    }
    expect(refusal(() => checkFraming({}, 'GET'))).toBeUndefined();
    expect(refusal(() => checkFraming({ 'x-other': 'DELETE' }, 'GET'))).toBeUndefined();
  });
  it('refuse every method-override query parameter that names another method', () => {
    expect(METHOD_OVERRIDE_PARAMS).toEqual(['_method', '$httpmethod', '_httpmethod', 'httpmethod', ...METHOD_OVERRIDES]);
    for (const name of METHOD_OVERRIDE_PARAMS) {
      expect(
        refusal(() => checkFraming({}, 'GET', `?${name}=DELETE`)),
        name,
      ).toEqual({
        code: 'method_override',
        message: `refused: the query parameter ${name} would change the method to DELETE`,
      });
      expect(
        refusal(() => checkFraming({}, 'POST', `?${name}=post`)),
        name,
      ).toBeUndefined();
    }
    expect(refusal(() => checkFraming({}, 'GET', '?'))).toBeUndefined();
  });
  it('refuse a request with both Content-Length and Transfer-Encoding, and take either alone', () => {
    expect(refusal(() => checkFraming({ 'content-length': '4', 'transfer-encoding': 'chunked' }, 'POST'))).toEqual({
      code: 'ambiguous_length',
      message: 'refused: both Content-Length and Transfer-Encoding',
    });
    expect(refusal(() => checkFraming({ 'content-length': '4' }, 'POST'))).toBeUndefined();
    expect(refusal(() => checkFraming({ 'transfer-encoding': 'chunked' }, 'POST'))).toBeUndefined();
  });
});
