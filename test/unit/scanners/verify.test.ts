import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Detector } from '../../../scanners/detect/detector.js';
import { builtinRules } from '../../../scanners/rules/index.js';
import type { Finding } from '../../../scanners/types.js';
import { VERIFIERS, verifyFindings, verifySecret } from '../../../scanners/verify.js';

/**
 * Each provider's documented read-only endpoint, written down here independently of the verifier
 * table: the loopback double accepts a request only when it matches, so a verifier pointed at the
 * wrong host, path or method fails.
 */
const DOCUMENTED: Record<string, string> = {
  github: 'GET api.github.com/user',
  gitlab: 'GET gitlab.com/api/v4/personal_access_tokens/self',
  openai: 'GET api.openai.com/v1/models',
  anthropic: 'GET api.anthropic.com/v1/models',
  huggingface: 'GET huggingface.co/api/whoami-v2',
  groq: 'GET api.groq.com/openai/v1/models',
  mistral: 'GET api.mistral.ai/v1/models',
  deepseek: 'GET api.deepseek.com/models',
  openrouter: 'GET openrouter.ai/api/v1/key',
  xai: 'GET api.x.ai/v1/api-key',
  cohere: 'GET api.cohere.com/v1/models',
  replicate: 'GET api.replicate.com/v1/account',
  elevenlabs: 'GET api.elevenlabs.io/v1/user',
  stripe: 'GET api.stripe.com/v1/balance',
  slack: 'POST slack.com/api/auth.test',
  sendgrid: 'GET api.sendgrid.com/v3/scopes',
  mailgun: 'GET api.mailgun.net/v3/domains',
  npm: 'GET registry.npmjs.org/-/whoami',
  digitalocean: 'GET api.digitalocean.com/v2/account',
  heroku: 'GET api.heroku.com/account',
  cloudflare: 'GET api.cloudflare.com/client/v4/user/tokens/verify',
  vercel: 'GET api.vercel.com/v2/user',
  netlify: 'GET api.netlify.com/api/v1/user',
  supabase: 'GET api.supabase.com/v1/projects',
  render: 'GET api.render.com/v1/owners',
  doppler: 'GET api.doppler.com/v3/me',
  linear: 'POST api.linear.app/graphql',
  notion: 'GET api.notion.com/v1/users/me',
  datadog: 'GET api.datadoghq.com/api/v1/validate',
  telegram: 'GET api.telegram.org/bot{secret}/getMe',
  discord: 'GET discord.com/api/v10/users/@me',
  figma: 'GET api.figma.com/v1/me',
  asana: 'GET app.asana.com/api/1.0/users/me',
  postman: 'GET api.getpostman.com/me',
  buildkite: 'GET api.buildkite.com/v2/access-token',
  circleci: 'GET circleci.com/api/v2/me',
  airtable: 'GET api.airtable.com/v0/meta/whoami',
  hubspot: 'GET api.hubapi.com/account-info/v3/details',
  nvidia: 'GET integrate.api.nvidia.com/v1/models',
};
const INSTALLATION = 'GET api.github.com/installation/repositories';

const detector = new Detector(builtinRules);
/** A secret each verifier's rules report, taken from the rules' own examples. */
function exampleSecret(rules: string[]): string {
  for (const rule of builtinRules.filter((r) => rules.includes(r.id)))
    for (const example of rule.truePositives) {
      const match = detector.detect({ path: 'a.env', data: Buffer.from(example) }).find((m) => rules.includes(m.ruleId));
      if (match) return match.secret;
    }
  throw new Error(`no example secret for ${rules.join(', ')}`);
}

interface Seen {
  line: string;
  presented: boolean;
}

/** The double: answers like the provider, live for the secrets in `live`, refused for others. */
function double(live: Set<string>, seen: Seen[]): Server {
  return createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const host = String(req.headers['x-keyward-verify-host']);
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const secretInPath = /^\/bot([^/]+)\/getMe$/.exec(path)?.[1];
      const line = `${req.method} ${host}${secretInPath ? '/bot{secret}/getMe' : path}`;
      // Where the key was presented: a header carrying it (bearer, token, custom, basic auth) or the path.
      const headerValues = Object.entries(req.headers)
        .filter(([k]) => k !== 'x-keyward-verify-host')
        .map(([, v]) => String(v));
      const candidates = new Set<string>();
      if (secretInPath) candidates.add(decodeURIComponent(secretInPath));
      for (const v of headerValues) {
        const m = /^(?:Bearer|token|Bot|Basic)\s+(.+)$/.exec(v);
        const raw = m ? m[1] : v;
        candidates.add(raw);
        if (v.startsWith('Basic ')) candidates.add(Buffer.from(raw, 'base64').toString().replace(/^api:/, ''));
      }
      const presented = [...candidates].find((c) => live.has(c) || c.startsWith('refused-') || seenSecrets.has(c));
      seen.push({ line, presented: presented !== undefined });
      const ok = presented !== undefined && live.has(presented);
      if (host === 'slack.com') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(ok ? { ok: true, user: 'bot' } : { ok: false, error: 'invalid_auth' }));
        return;
      }
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end(ok ? '{"id":1}' : '{"error":"unauthorized"}');
    });
  });
}
const seenSecrets = new Set<string>();

describe('live verification against a loopback double', () => {
  const live = new Set<string>();
  const seen: Seen[] = [];
  let server: Server;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    server = double(live, seen);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    env = { KEYWARD_TEST_VERIFY_UPSTREAM: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('covers at least 30 providers', () => {
    expect(new Set(VERIFIERS.map((v) => v.provider)).size).toBeGreaterThanOrEqual(30);
  });

  for (const verifier of VERIFIERS) {
    it(`${verifier.provider} (${verifier.rules[0]}): the documented request, live and revoked`, async () => {
      const secret = exampleSecret(verifier.rules);
      live.add(secret);
      seenSecrets.add(secret);
      seen.length = 0;
      expect(await verifySecret(verifier, secret, { env })).toBe('live');
      const revoked = secret.slice(0, -3) + 'zzz';
      seenSecrets.add(revoked);
      expect(await verifySecret(verifier, revoked, { env })).toBe('revoked');
      const documented = verifier.rules.includes('github-app-installation-token') ? INSTALLATION : DOCUMENTED[verifier.provider];
      expect(seen.map((s) => s.line)).toEqual([documented, documented]);
      expect(seen.every((s) => s.presented)).toBe(true);
    });
  }

  it('sends one request per unique secret, and marks every finding that holds it', async () => {
    const verifier = VERIFIERS.find((v) => v.provider === 'openai')!;
    const secret = exampleSecret(verifier.rules);
    live.add(secret);
    seen.length = 0;
    const finding = (file: string) => ({ ruleId: 'openai-api-key', file }) as Finding;
    const findings = [finding('a.env'), finding('b.env'), { ruleId: 'jwt', file: 'c' } as Finding];
    await verifyFindings(findings, new Map(findings.slice(0, 2).map((f) => [f, secret])), { env, intervalMs: 0 });
    expect(seen).toHaveLength(1);
    expect(findings.map((f) => f.verification)).toEqual(['live', 'live', undefined]);
  });

  it('says unknown when the provider does not answer in time', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const upstream = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const verifier = VERIFIERS.find((v) => v.provider === 'openai')!;
    expect(await verifySecret(verifier, 'sk-x', { env: { KEYWARD_TEST_VERIFY_UPSTREAM: upstream }, timeoutMs: 200 })).toBe('unknown');
    silent.closeAllConnections();
    await new Promise<void>((r) => silent.close(() => r()));
  });

  it('never sends a key to a host other than its provider: the test override must be loopback', async () => {
    const verifier = VERIFIERS.find((v) => v.provider === 'openai')!;
    seen.length = 0;
    expect(await verifySecret(verifier, 'sk-x', { env: { KEYWARD_TEST_VERIFY_UPSTREAM: 'http://collector.example.net:80' } })).toBe('unknown');
    expect(seen).toHaveLength(0);
  });
});
