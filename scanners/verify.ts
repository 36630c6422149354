/**
 * Opt-in live verification (`keyward scan --verify`): one read-only, side-effect-free request per
 * unique secret to the provider's documented API host, and nowhere else. Never on by default.
 *
 * Each verifier names the request (method, URL on the provider's own host, where the key goes)
 * and how to read the answer: a 2xx is `live`, 401/403 is `revoked` (the key is refused), anything
 * else, a timeout or a network error is `unknown`. Requests are rate-limited per host and time out.
 */
import type { Finding } from './types.js';

export type Verification = 'live' | 'revoked' | 'unknown';

export interface Verifier {
  /** Rule ids whose secrets this request checks. */
  rules: string[];
  provider: string;
  method: 'GET' | 'POST';
  /** Absolute URL on the provider's documented API host; `{secret}` is replaced (Telegram). */
  url: string;
  /** Request headers; `{secret}` and `{basic}` (base64 of `api:<secret>`) are replaced. */
  headers?: Record<string, string>;
  /** A JSON request body (GraphQL queries). */
  body?: string;
  /** For APIs that answer 200 to a bad key: the key is live only when this JSON field is `true`. */
  okField?: string;
}

const BEARER = { Authorization: 'Bearer {secret}' };

/** The providers keyward verifies, with their documented read-only endpoints. */
export const VERIFIERS: Verifier[] = [
  {
    provider: 'github',
    rules: ['github-classic-pat', 'github-oauth-token', 'github-app-user-token', 'github-fine-grained-pat'],
    method: 'GET',
    url: 'https://api.github.com/user',
    headers: { Authorization: 'token {secret}', Accept: 'application/vnd.github+json' },
  },
  {
    provider: 'github',
    rules: ['github-app-installation-token'],
    method: 'GET',
    url: 'https://api.github.com/installation/repositories?per_page=1',
    headers: { Authorization: 'token {secret}' },
  },
  { provider: 'gitlab', rules: ['gitlab-pat'], method: 'GET', url: 'https://gitlab.com/api/v4/personal_access_tokens/self', headers: { 'PRIVATE-TOKEN': '{secret}' } },
  { provider: 'openai', rules: ['openai-api-key'], method: 'GET', url: 'https://api.openai.com/v1/models', headers: BEARER },
  {
    provider: 'anthropic',
    rules: ['anthropic-api-key'],
    method: 'GET',
    url: 'https://api.anthropic.com/v1/models',
    headers: { 'x-api-key': '{secret}', 'anthropic-version': '2023-06-01' },
  },
  { provider: 'huggingface', rules: ['huggingface-access-token', 'huggingface-org-token'], method: 'GET', url: 'https://huggingface.co/api/whoami-v2', headers: BEARER },
  { provider: 'groq', rules: ['groq-api-key'], method: 'GET', url: 'https://api.groq.com/openai/v1/models', headers: BEARER },
  { provider: 'mistral', rules: ['mistral-api-key'], method: 'GET', url: 'https://api.mistral.ai/v1/models', headers: BEARER },
  { provider: 'deepseek', rules: ['deepseek-api-key'], method: 'GET', url: 'https://api.deepseek.com/models', headers: BEARER },
  { provider: 'openrouter', rules: ['openrouter-api-key'], method: 'GET', url: 'https://openrouter.ai/api/v1/key', headers: BEARER },
  { provider: 'xai', rules: ['xai-api-key'], method: 'GET', url: 'https://api.x.ai/v1/api-key', headers: BEARER },
  { provider: 'cohere', rules: ['cohere-api-key'], method: 'GET', url: 'https://api.cohere.com/v1/models', headers: BEARER },
  { provider: 'replicate', rules: ['replicate-api-token'], method: 'GET', url: 'https://api.replicate.com/v1/account', headers: BEARER },
  { provider: 'elevenlabs', rules: ['elevenlabs-api-key'], method: 'GET', url: 'https://api.elevenlabs.io/v1/user', headers: { 'xi-api-key': '{secret}' } },
  { provider: 'stripe', rules: ['stripe-secret-key', 'stripe-restricted-key', 'stripe-test-key'], method: 'GET', url: 'https://api.stripe.com/v1/balance', headers: BEARER },
  {
    provider: 'slack',
    rules: ['slack-bot-token', 'slack-user-token', 'slack-workspace-app-token', 'slack-app-level-token'],
    method: 'POST',
    url: 'https://slack.com/api/auth.test',
    headers: BEARER,
    okField: 'ok',
  },
  { provider: 'sendgrid', rules: ['sendgrid-api-key'], method: 'GET', url: 'https://api.sendgrid.com/v3/scopes', headers: BEARER },
  { provider: 'mailgun', rules: ['mailgun-api-key'], method: 'GET', url: 'https://api.mailgun.net/v3/domains?limit=1', headers: { Authorization: 'Basic {basic}' } },
  { provider: 'npm', rules: ['npm-access-token'], method: 'GET', url: 'https://registry.npmjs.org/-/whoami', headers: BEARER },
  { provider: 'digitalocean', rules: ['digitalocean-pat', 'digitalocean-oauth-token'], method: 'GET', url: 'https://api.digitalocean.com/v2/account', headers: BEARER },
  {
    provider: 'heroku',
    rules: ['heroku-api-key', 'heroku-api-key-v2'],
    method: 'GET',
    url: 'https://api.heroku.com/account',
    headers: { ...BEARER, Accept: 'application/vnd.heroku+json; version=3' },
  },
  {
    provider: 'cloudflare',
    rules: ['cloudflare-api-credential', 'cloudflare-api-token-legacy'],
    method: 'GET',
    url: 'https://api.cloudflare.com/client/v4/user/tokens/verify',
    headers: BEARER,
  },
  { provider: 'vercel', rules: ['vercel-token', 'vercel-token-legacy'], method: 'GET', url: 'https://api.vercel.com/v2/user', headers: BEARER },
  { provider: 'netlify', rules: ['netlify-pat'], method: 'GET', url: 'https://api.netlify.com/api/v1/user', headers: BEARER },
  { provider: 'supabase', rules: ['supabase-pat'], method: 'GET', url: 'https://api.supabase.com/v1/projects', headers: BEARER },
  { provider: 'render', rules: ['render-api-key'], method: 'GET', url: 'https://api.render.com/v1/owners?limit=1', headers: BEARER },
  { provider: 'doppler', rules: ['doppler-token'], method: 'GET', url: 'https://api.doppler.com/v3/me', headers: BEARER },
  {
    provider: 'linear',
    rules: ['linear-api-key'],
    method: 'POST',
    url: 'https://api.linear.app/graphql',
    headers: { Authorization: '{secret}', 'Content-Type': 'application/json' },
    body: '{"query":"{ viewer { id } }"}',
  },
  {
    provider: 'notion',
    rules: ['notion-api-token', 'notion-integration-token'],
    method: 'GET',
    url: 'https://api.notion.com/v1/users/me',
    headers: { ...BEARER, 'Notion-Version': '2022-06-28' },
  },
  { provider: 'datadog', rules: ['datadog-api-key'], method: 'GET', url: 'https://api.datadoghq.com/api/v1/validate', headers: { 'DD-API-KEY': '{secret}' } },
  { provider: 'telegram', rules: ['telegram-bot-token'], method: 'GET', url: 'https://api.telegram.org/bot{secret}/getMe' },
  { provider: 'discord', rules: ['discord-bot-token'], method: 'GET', url: 'https://discord.com/api/v10/users/@me', headers: { Authorization: 'Bot {secret}' } },
  { provider: 'figma', rules: ['figma-pat'], method: 'GET', url: 'https://api.figma.com/v1/me', headers: { 'X-Figma-Token': '{secret}' } },
  { provider: 'asana', rules: ['asana-pat'], method: 'GET', url: 'https://app.asana.com/api/1.0/users/me', headers: BEARER },
  { provider: 'postman', rules: ['postman-api-key'], method: 'GET', url: 'https://api.getpostman.com/me', headers: { 'X-Api-Key': '{secret}' } },
  { provider: 'buildkite', rules: ['buildkite-api-token'], method: 'GET', url: 'https://api.buildkite.com/v2/access-token', headers: BEARER },
  { provider: 'circleci', rules: ['circleci-api-token', 'circleci-personal-token'], method: 'GET', url: 'https://circleci.com/api/v2/me', headers: { 'Circle-Token': '{secret}' } },
  { provider: 'airtable', rules: ['airtable-pat'], method: 'GET', url: 'https://api.airtable.com/v0/meta/whoami', headers: BEARER },
  { provider: 'hubspot', rules: ['hubspot-private-app-token'], method: 'GET', url: 'https://api.hubapi.com/account-info/v3/details', headers: BEARER },
  { provider: 'nvidia', rules: ['nvidia-api-key'], method: 'GET', url: 'https://integrate.api.nvidia.com/v1/models', headers: BEARER },
];

const byRule = new Map<string, Verifier>(VERIFIERS.flatMap((v) => v.rules.map((id) => [id, v] as const)));

export function verifierFor(ruleId: string): Verifier | undefined {
  return byRule.get(ruleId);
}

/**
 * Where requests go. In tests only, `KEYWARD_TEST_VERIFY_UPSTREAM` sends every request to a local
 * double instead (same path and query; the real host travels in `x-keyward-verify-host`); it must
 * be a loopback URL, so no setting can make keyward send a key to a host other than its provider's.
 */
function target(url: string, env: NodeJS.ProcessEnv): { url: string; host?: string } {
  const override = env.KEYWARD_TEST_VERIFY_UPSTREAM;
  if (!override) return { url };
  const base = new URL(override);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(base.hostname)) throw new Error('KEYWARD_TEST_VERIFY_UPSTREAM must be a loopback URL (127.0.0.1, localhost or [::1])');
  const real = new URL(url);
  return { url: `${base.origin}${real.pathname}${real.search}`, host: real.host };
}

export interface VerifyOptions {
  env?: NodeJS.ProcessEnv;
  /** Per request, in milliseconds (default 5000). */
  timeoutMs?: number;
  /** Least time between two requests to the same host, in milliseconds (default 250). */
  intervalMs?: number;
}

/** One request for one secret. Never throws: what cannot be decided is `unknown`. */
export async function verifySecret(verifier: Verifier, secret: string, options: VerifyOptions = {}): Promise<Verification> {
  const fill = (text: string) => text.replaceAll('{secret}', secret).replaceAll('{basic}', Buffer.from(`api:${secret}`).toString('base64'));
  let to: { url: string; host?: string };
  try {
    to = target(fill(verifier.url), options.env ?? process.env);
  } catch {
    return 'unknown';
  }
  const headers: Record<string, string> = { 'User-Agent': 'keyward-verify', ...Object.fromEntries(Object.entries(verifier.headers ?? {}).map(([k, v]) => [k, fill(v)])) };
  if (to.host) headers['x-keyward-verify-host'] = to.host;
  try {
    const response = await fetch(to.url, { method: verifier.method, headers, body: verifier.body, redirect: 'manual', signal: AbortSignal.timeout(options.timeoutMs ?? 5000) });
    if (response.status === 401 || response.status === 403) return 'revoked';
    if (response.status < 200 || response.status >= 300) return 'unknown';
    if (!verifier.okField) return 'live';
    const body = (await response.json()) as Record<string, unknown>;
    return body[verifier.okField] === true ? 'live' : body.error === 'invalid_auth' || body.error === 'token_revoked' || body.error === 'account_inactive' ? 'revoked' : 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * Verifies findings whose rule has a verifier: one request per unique secret, hosts in parallel,
 * requests to one host spaced by `intervalMs`. `secrets` maps each finding to its raw secret (the
 * finding itself may be redacted). Sets `verification` on the findings it could check.
 */
export async function verifyFindings(findings: Finding[], secrets: Map<Finding, string>, options: VerifyOptions = {}): Promise<void> {
  const interval = options.intervalMs ?? 250;
  const unique = new Map<string, { verifier: Verifier; secret: string; findings: Finding[] }>();
  for (const f of findings) {
    const verifier = verifierFor(f.ruleId);
    const secret = secrets.get(f);
    if (!verifier || !secret) continue;
    const key = `${verifier.url}\0${secret}`;
    const entry = unique.get(key) ?? { verifier, secret, findings: [] };
    entry.findings.push(f);
    unique.set(key, entry);
  }
  const byHost = new Map<string, (typeof unique extends Map<string, infer V> ? V : never)[]>();
  for (const entry of unique.values()) {
    const host = new URL(entry.verifier.url.replace('{secret}', 'x')).host;
    byHost.set(host, [...(byHost.get(host) ?? []), entry]);
  }
  await Promise.all(
    [...byHost.values()].map(async (entries) => {
      for (let i = 0; i < entries.length; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, interval));
        const result = await verifySecret(entries[i].verifier, entries[i].secret, options);
        for (const f of entries[i].findings) f.verification = result;
      }
    }),
  );
}

/** Live keys first, then the rest in their existing order (the sort is stable). */
export function liveFirst(findings: Finding[]): Finding[] {
  return findings.sort((a, b) => Number(b.verification === 'live') - Number(a.verification === 'live'));
}
