import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../../daemon/policy/load.js';
import { decide, globMatch, type Policy } from '../../../daemon/policy/policy.js';

const TEXT = `defaults: { decision: ask, maxTtl: 1h }
rules:
  - { agent: "claude-code", credential: openai, permission: chat, decision: allow, maxTtl: 30m }
  - { agent: "mcp:*", credential: github, permission: "repo:read", resource: "acme/*", decision: allow }
  - { agent: "*", credential: github, permission: "repo:write", decision: ask }
  - { agent: "*", credential: prod-db, permission: release, decision: deny }
  - { agent: "*", credential: "*", permission: release, mode: release, decision: ask, maxTtl: 5m }
`;
const policy = parsePolicy(TEXT, 'policy.yaml').policy as Policy;
const req = (chain: string[], credential: string, permission: string, resource?: string, mode: 'proxy' | 'release' = 'proxy') => ({
  chain,
  credential,
  permission,
  resource,
  mode,
});

describe('policy decisions', () => {
  it('allows what a rule allows, with the tighter maxTtl', () => {
    expect(decide(policy, req(['claude-code'], 'openai', 'chat'))).toMatchObject({ decision: 'allow', maxTtl: 30 * 60_000, rule: 0 });
  });
  it('falls back to the defaults, and says so', () => {
    const d = decide(policy, req(['cursor'], 'openai', 'chat'));
    expect(d).toMatchObject({ decision: 'ask', maxTtl: 60 * 60_000 });
    expect(d.reason).toBe('no rule matches cursor; the default is ask');
  });
  it('matches agent, permission and resource globs', () => {
    expect(decide(policy, req(['mcp:github'], 'github', 'repo:read', 'acme/app')).decision).toBe('allow');
    expect(decide(policy, req(['mcp:github'], 'github', 'repo:read', 'other/app')).decision).toBe('ask');
    expect(decide(policy, req(['mcp:github'], 'github', 'repo:read')).decision).toBe('ask');
  });
  it('lets deny override ask and ask override allow', () => {
    const d = decide(policy, req(['x'], 'prod-db', 'release', undefined, 'release'));
    expect(d.decision).toBe('deny');
    expect(d.reason).toMatch(/^rule 4 \(policy\.yaml line 6\)/);
    expect(d.maxTtl).toBe(5 * 60_000);
  });
  it('takes the strictest decision along a delegation chain', () => {
    expect(decide(policy, req(['claude-code', 'mcp:github'], 'github', 'repo:read', 'acme/app')).decision).toBe('ask');
    expect(decide(policy, req(['mcp:a', 'mcp:b'], 'github', 'repo:read', 'acme/app')).decision).toBe('allow');
    expect(decide(policy, req(['claude-code', 'claude-code'], 'openai', 'chat')).maxTtl).toBe(30 * 60_000);
  });
  it('globs: * spans any characters, ? one', () => {
    expect(globMatch('mcp:*', 'mcp:github')).toBe(true);
    expect(globMatch('acme/*', 'acme/a/b')).toBe(true);
    expect(globMatch('a?c', 'abc')).toBe(true);
    expect(globMatch('a.c', 'abc')).toBe(false);
    expect(globMatch(undefined, undefined)).toBe(true);
    expect(globMatch('x', undefined)).toBe(false);
  });
});

describe('policy parsing', () => {
  it('reports typos with their lines', () => {
    const r = parsePolicy('defaults: { decision: maybe }\nrules:\n  - { agent: a, decison: allow }\n  - { decision: allow, maxTtl: soon }\n', 'policy.yaml');
    expect(r.policy).toBeUndefined();
    expect(r.problems[1].message).toBe('rules.0.decision: is required');
    expect(r.problems.map((p) => [p.line, p.message.split(':')[0]])).toEqual([
      [1, 'defaults.decision'],
      [3, 'rules.0.decision'],
      [3, 'rules.0.decison'],
      [4, 'rules.1.maxTtl'],
    ]);
  });
  it('treats an empty file as the default policy', () => {
    expect(parsePolicy('', 'p.yaml').policy).toMatchObject({ defaults: { decision: 'ask' }, rules: [] });
  });
});
