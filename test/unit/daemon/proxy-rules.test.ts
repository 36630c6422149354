import { describe, expect, it } from 'vitest';
import { builtinProviders } from '../../../daemon/providers/builtin.js';
import { allowedBy, normalizePath, permissionFor } from '../../../daemon/proxy/rules.js';

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
