import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../../daemon/policy/load.js';
import { decide, globMatch, type Policy, type PolicyRule } from '../../../daemon/policy/policy.js';

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

describe('policy: the strictest matching rule wins, in any order', () => {
  const rule = (decision: 'allow' | 'ask' | 'deny', extra: Partial<PolicyRule> = {}): PolicyRule => ({ agent: '*', credential: 'openai', decision, ...extra });
  const p = (...rules: PolicyRule[]): Policy => ({ defaults: { decision: 'allow', maxTtl: 60 * 60_000 }, egress: 'allow', rules });
  const ask = req(['claude-code'], 'openai', 'chat');

  it('deny beats allow whether it comes first or last', () => {
    expect(decide(p(rule('allow'), rule('deny')), ask)).toMatchObject({ decision: 'deny', rule: 1 });
    expect(decide(p(rule('deny'), rule('allow')), ask)).toMatchObject({ decision: 'deny', rule: 0 });
  });
  it('deny beats ask and ask beats allow, in either order', () => {
    expect(decide(p(rule('ask'), rule('deny')), ask).decision).toBe('deny');
    expect(decide(p(rule('deny'), rule('ask')), ask).decision).toBe('deny');
    expect(decide(p(rule('allow'), rule('ask')), ask)).toMatchObject({ decision: 'ask', rule: 1 });
    expect(decide(p(rule('ask'), rule('allow')), ask)).toMatchObject({ decision: 'ask', rule: 0 });
  });
  it('the first of equally strict rules names the reason', () => {
    expect(decide(p(rule('allow', { line: 3 }), rule('allow', { line: 4 })), ask).reason).toBe(
      'rule 1 (policy.yaml line 3) [agent *, credential openai] says allow for claude-code',
    );
    expect(decide(p(rule('deny'), rule('deny', { permission: 'chat' })), ask).reason).toBe('rule 1 [agent *, credential openai] says deny for claude-code');
    expect(decide(p({ decision: 'deny' }), ask).reason).toBe('rule 1 says deny for claude-code');
  });
  it('a deny for any agent of the chain denies, wherever that agent is', () => {
    const policy = p(rule('allow'), rule('deny', { agent: 'mcp:evil' }));
    expect(decide(policy, req(['mcp:evil', 'claude-code'], 'openai', 'chat')).decision).toBe('deny');
    expect(decide(policy, req(['claude-code', 'mcp:evil'], 'openai', 'chat')).decision).toBe('deny');
    expect(decide(policy, req(['claude-code', 'cursor'], 'openai', 'chat')).decision).toBe('allow');
  });
  it('an empty chain is decided as the agent "*"', () => {
    expect(decide(p(rule('deny', { agent: 'claude-code' })), req([], 'openai', 'chat')).decision).toBe('allow');
    expect(decide(p(rule('deny')), req([], 'openai', 'chat')).reason).toContain('for *');
  });
});

describe('policy: maxTtl', () => {
  const p = (defaults: number, ...rules: PolicyRule[]): Policy => ({ defaults: { decision: 'ask', maxTtl: defaults }, egress: 'allow', rules });
  const r = req(['claude-code'], 'openai', 'chat');
  it('is the smallest of the defaults and every matching rule, whichever decides', () => {
    expect(decide(p(60_000), r).maxTtl).toBe(60_000);
    expect(decide(p(60_000, { credential: 'openai', decision: 'allow', maxTtl: 30_000 }), r).maxTtl).toBe(30_000);
    expect(decide(p(60_000, { credential: 'openai', decision: 'allow', maxTtl: 90_000 }), r).maxTtl).toBe(60_000);
    expect(decide(p(60_000, { decision: 'allow', maxTtl: 20_000 }, { credential: 'openai', decision: 'ask', maxTtl: 40_000 }), r)).toMatchObject({
      decision: 'ask',
      maxTtl: 20_000,
    });
    expect(decide(p(60_000, { credential: 'github', decision: 'allow', maxTtl: 1_000 }), r).maxTtl).toBe(60_000);
  });
  it('is the smallest along the delegation chain', () => {
    const policy = p(60_000, { agent: 'a', decision: 'allow', maxTtl: 10_000 }, { agent: 'b', decision: 'allow', maxTtl: 20_000 });
    expect(decide(policy, req(['a', 'b'], 'openai', 'chat')).maxTtl).toBe(10_000);
    expect(decide(policy, req(['b', 'a'], 'openai', 'chat')).maxTtl).toBe(10_000);
    expect(decide(policy, req(['b'], 'openai', 'chat')).maxTtl).toBe(20_000);
    const stricter = p(60_000, { agent: 'a', decision: 'allow', maxTtl: 10_000 }, { agent: 'b', decision: 'deny', maxTtl: 50_000 });
    expect(decide(stricter, req(['a', 'b'], 'openai', 'chat'))).toMatchObject({ decision: 'deny', maxTtl: 10_000 });
  });
});

describe('policy: what a rule matches', () => {
  const one = (rule: Partial<PolicyRule>, request: ReturnType<typeof req>) =>
    decide({ defaults: { decision: 'ask', maxTtl: 1 }, egress: 'allow', rules: [{ decision: 'deny', ...rule }] }, request).decision;
  it('each field narrows the rule', () => {
    expect(one({ credential: 'github' }, req(['x'], 'openai', 'chat'))).toBe('ask');
    expect(one({ permission: 'models' }, req(['x'], 'openai', 'chat'))).toBe('ask');
    expect(one({ permission: 'chat' }, req(['x'], 'openai', 'chat'))).toBe('deny');
    expect(one({ agent: 'y' }, req(['x'], 'openai', 'chat'))).toBe('ask');
    expect(one({ resource: 'acme/*' }, req(['x'], 'github', 'repo:read', 'acme/app'))).toBe('deny');
    expect(one({ resource: 'acme/*' }, req(['x'], 'github', 'repo:read', 'other/app'))).toBe('ask');
    expect(one({ resource: '*' }, req(['x'], 'github', 'repo:read'))).toBe('deny');
    expect(one({}, req(['x'], 'github', 'repo:read', 'acme/app'))).toBe('deny');
    expect(one({ mode: 'release' }, req(['x'], 'openai', 'release', undefined, 'release'))).toBe('deny');
    expect(one({ mode: 'release' }, req(['x'], 'openai', 'chat', undefined, 'proxy'))).toBe('ask');
    expect(one({ mode: 'proxy' }, req(['x'], 'openai', 'chat', undefined, 'proxy'))).toBe('deny');
  });
  it('globs match whole values, with regex characters taken literally', () => {
    expect(globMatch('claude', 'claude-code')).toBe(false);
    expect(globMatch('code', 'claude-code')).toBe(false);
    expect(globMatch('a+b', 'aab')).toBe(false);
    expect(globMatch('a+b', 'a+b')).toBe(true);
    expect(globMatch('(x)|y', 'y')).toBe(false);
    expect(globMatch('(x)|y', '(x)|y')).toBe(true);
    expect(globMatch('[ab]', 'a')).toBe(false);
    expect(globMatch('a\\d', 'a\\d')).toBe(true);
    expect(globMatch('$^{}', '$^{}')).toBe(true);
    expect(globMatch('*', undefined)).toBe(true);
    expect(globMatch('a*', 'a\nb')).toBe(true);
    expect(globMatch('??', 'abc')).toBe(false);
    expect(globMatch('mcp:*', 'mcp:')).toBe(true);
    // Cached patterns give the same answers.
    expect(globMatch('a+b', 'aab')).toBe(false);
  });
});
