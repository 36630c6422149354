/**
 * The policy: which agent may use which credential, permission and resource, decided as
 * allow, ask or deny. `decide` is a pure function of the policy and the request; it never sees a
 * credential and never enforces anything (the broker and the proxy do).
 */
export type DecisionKind = 'allow' | 'ask' | 'deny';

export interface PolicyRule {
  agent?: string;
  credential?: string;
  permission?: string;
  resource?: string;
  mode?: 'proxy' | 'release';
  decision: DecisionKind;
  /** Milliseconds. */
  maxTtl?: number;
  /** 1-based line in policy.yaml, for reasons. */
  line?: number;
}

export interface Policy {
  defaults: { decision: DecisionKind; maxTtl: number };
  /** Hosts without a grant: tunnelled untouched (allow) or refused (deny) by the proxy. */
  egress: 'allow' | 'deny';
  rules: PolicyRule[];
}

export interface PolicyRequest {
  /** Agents from the outermost delegate to the requester (the OS user is not in it). */
  chain: string[];
  credential: string;
  permission: string;
  resource?: string;
  mode: 'proxy' | 'release';
  /** The provider ignores case in resource names: rules match `ACME/*` and `acme/*` alike. */
  resourceCaseInsensitive?: boolean;
}

export interface Decision {
  decision: DecisionKind;
  /** Longest TTL the policy allows, in milliseconds. */
  maxTtl: number;
  /** One sentence a person can read: which rule decided and why. */
  reason: string;
  /** Index of the deciding rule in `policy.rules`, absent for the defaults. */
  rule?: number;
}

export const DEFAULT_POLICY: Policy = { defaults: { decision: 'ask', maxTtl: 60 * 60_000 }, egress: 'allow', rules: [] };

const STRICTNESS: Record<DecisionKind, number> = { allow: 0, ask: 1, deny: 2 };

const globCache = new Map<string, RegExp>();
/** `*` matches any run of characters (including `:` and `/`), `?` one character. */
export function globMatch(pattern: string | undefined, value: string | undefined): boolean {
  if (pattern === undefined || pattern === '*') return true;
  if (value === undefined) return false;
  let re = globCache.get(pattern);
  if (!re) {
    re = new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
      's',
    );
    globCache.set(pattern, re);
  }
  return re.test(value);
}

function describeRule(rule: PolicyRule, index: number): string {
  const fields = (['agent', 'credential', 'permission', 'resource', 'mode'] as const)
    .filter((k) => rule[k] !== undefined)
    .map((k) => `${k} ${rule[k]}`)
    .join(', ');
  return `rule ${index + 1}${rule.line ? ` (policy.yaml line ${rule.line})` : ''}${fields ? ` [${fields}]` : ''}`;
}

/** The decision for one agent. */
export function decideFor(policy: Policy, agent: string, request: PolicyRequest): Decision {
  let best: { rule: PolicyRule; index: number } | undefined;
  let maxTtl = policy.defaults.maxTtl;
  policy.rules.forEach((rule, index) => {
    const matches =
      globMatch(rule.agent, agent) &&
      globMatch(rule.credential, request.credential) &&
      globMatch(rule.permission, request.permission) &&
      (rule.resource === undefined ||
        (request.resourceCaseInsensitive ? globMatch(rule.resource.toLowerCase(), request.resource?.toLowerCase()) : globMatch(rule.resource, request.resource))) &&
      (rule.mode === undefined || rule.mode === request.mode);
    if (!matches) return;
    if (rule.maxTtl !== undefined) maxTtl = Math.min(maxTtl, rule.maxTtl);
    if (!best || STRICTNESS[rule.decision] > STRICTNESS[best.rule.decision]) best = { rule, index };
  });
  if (!best) return { decision: policy.defaults.decision, maxTtl, reason: `no rule matches ${agent}; the default is ${policy.defaults.decision}` };
  return { decision: best.rule.decision, maxTtl, reason: `${describeRule(best.rule, best.index)} says ${best.rule.decision} for ${agent}`, rule: best.index };
}

/**
 * The decision for a request made through a delegation chain: every agent in the chain must be
 * allowed what its delegate asks for, so the strictest decision wins (a sub-agent cannot gain
 * rights by choosing its own name) and the shortest TTL applies.
 */
export function decide(policy: Policy, request: PolicyRequest): Decision {
  const agents = request.chain.length > 0 ? request.chain : ['*'];
  let result: Decision | undefined;
  for (const agent of agents) {
    const d = decideFor(policy, agent, request);
    if (!result || STRICTNESS[d.decision] > STRICTNESS[result.decision]) result = { ...d, maxTtl: Math.min(d.maxTtl, result?.maxTtl ?? d.maxTtl) };
    else result = { ...result, maxTtl: Math.min(result.maxTtl, d.maxTtl) };
  }
  return result!;
}
