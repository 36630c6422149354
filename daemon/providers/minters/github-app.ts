import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { DaemonError } from '../../errors.js';
import type { MintedCredential, Minter, MintPermission, MintRequest } from './types.js';
import { transportError, upstreamRequest, type UpstreamAnswer } from './upstream.js';

/**
 * GitHub Apps: installation access tokens. The vault entry (provider `github`) holds the App's
 * private key (PEM), with the attributes `appId` and `installation` (the installation id) and
 * optionally `owner` (the account the App is installed on). A grant signs a JWT (RS256, ten
 * minutes at most) and asks `POST /app/installations/{id}/access_tokens` for a token limited to
 * the grant's repository and permissions; the grant's end revokes it with `DELETE
 * /installation/token`. GitHub ends such a token after an hour whatever happens.
 */
const PERMISSIONS: Record<string, MintPermission & { permissions: Record<string, 'read' | 'write'> }> = {
  'repo:read': { resource: true, summary: 'contents: read and metadata: read on the one repository', permissions: { contents: 'read', metadata: 'read' } },
  'repo:write': {
    resource: true,
    summary: 'contents, issues and pull requests: write, metadata: read on the one repository',
    permissions: { contents: 'write', issues: 'write', pull_requests: 'write', metadata: 'read' },
  },
  'issues:write': { resource: true, summary: 'issues: write and metadata: read on the one repository', permissions: { issues: 'write', metadata: 'read' } },
  read: { resource: false, summary: 'contents: read and metadata: read on every repository of the installation', permissions: { contents: 'read', metadata: 'read' } },
};

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** The App's JWT: iat a minute in the past (clock drift), exp nine minutes ahead (GitHub allows ten). */
export function appJwt(appId: string, key: KeyObject, now: number): string {
  const iat = Math.floor(now / 1000) - 60;
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ iat, exp: iat + 600, iss: appId }));
  return `${head}.${body}.${b64url(sign('sha256', Buffer.from(`${head}.${body}`), key))}`;
}

async function github(r: MintRequest, method: string, path: string, auth: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const base = (r.profile.upstream || 'https://api.github.com').replace(/\/+$/, '');
  let answer: UpstreamAnswer;
  try {
    answer = await upstreamRequest(new URL(base + path), {
      method,
      headers: {
        accept: 'application/vnd.github+json',
        authorization: auth,
        'user-agent': 'keyward',
        'x-github-api-version': '2022-11-28',
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
      ca: r.profile.ca,
    });
  } catch (error) {
    throw new DaemonError('mint_failed', `GitHub at ${base} did not answer: ${transportError(error)}`, {
      hint: `Check the network, and for a server behind a private CA the provider profile (providers/${r.profile.name}.yaml: upstream, ca).`,
    });
  }
  let json: Record<string, unknown> = {};
  try {
    json = answer.text ? (JSON.parse(answer.text) as Record<string, unknown>) : {};
  } catch {
    json = {};
  }
  return { status: answer.status, json };
}

export const githubAppMinter: Minter = {
  kind: 'github-app',
  proxy: true,
  applies: (entry) => (entry.provider === 'github' && Boolean(entry.attributes?.appId)) || entry.attributes?.mint === 'github-app',
  permissions: () => Object.fromEntries(Object.entries(PERMISSIONS).map(([k, v]) => [k, { resource: v.resource, summary: v.summary }])),

  async mint(r: MintRequest): Promise<MintedCredential> {
    const { appId, installation, owner } = r.entry.attributes ?? {};
    if (!appId || !/^\d+$/.test(appId) || !installation || !/^\d+$/.test(installation)) {
      throw new DaemonError('mint_failed', `vault entry ${r.entry.name} needs the attributes appId and installation (numbers)`, {
        hint: `Add it again with: keyward vault add ${r.entry.name} --provider github --from-file app.pem --attribute appId=<id> --attribute installation=<id> --replace`,
      });
    }
    let key: KeyObject;
    try {
      key = createPrivateKey(r.root);
    } catch {
      throw new DaemonError('mint_failed', `vault entry ${r.entry.name} does not hold a PEM private key (the GitHub App's)`);
    }
    const scope = PERMISSIONS[r.permission === 'release' ? 'read' : r.permission];
    if (!scope) throw new DaemonError('unknown_permission', `a GitHub App token cannot be limited to permission ${r.permission}`);
    const request: { permissions: Record<string, string>; repositories?: string[] } = { permissions: scope.permissions };
    if (r.resource) {
      const [repoOwner, repo] = r.resource.split('/');
      if (!repo) throw new DaemonError('bad_request', `"${r.resource}" is not owner/repository`);
      if (owner && repoOwner.toLowerCase() !== owner.toLowerCase()) {
        throw new DaemonError('mint_failed', `the GitHub App of ${r.entry.name} is installed on ${owner}, not ${repoOwner}`);
      }
      request.repositories = [repo];
    }
    const jwt = appJwt(appId, key, Date.now());
    const answer = await github(r, 'POST', `/app/installations/${installation}/access_tokens`, `Bearer ${jwt}`, request);
    const token = answer.json.token;
    const expiresAt = answer.json.expires_at;
    if (answer.status !== 201 || typeof token !== 'string' || typeof expiresAt !== 'string') {
      const message = typeof answer.json.message === 'string' ? answer.json.message : 'no token in the answer';
      throw new DaemonError('mint_failed', `GitHub refused an installation token for ${r.entry.name}: HTTP ${answer.status}: ${message}`, {
        hint: 'Check the App id, the installation id, and that the App has the permissions and repository the grant names.',
      });
    }
    const repos = Array.isArray(answer.json.repositories)
      ? (answer.json.repositories as { full_name?: string; name?: string }[]).map((x) => x.full_name ?? x.name ?? '?')
      : ['(all of the installation)'];
    const granted = Object.entries((answer.json.permissions as Record<string, string>) ?? scope.permissions).map(([k, v]) => `${k}:${v}`);
    const expires = Date.parse(expiresAt);
    return {
      kind: this.kind,
      secret: token,
      expires: Number.isFinite(expires) ? expires : r.expires,
      ids: { installation, repositories: repos, permissions: granted, upstreamExpires: expiresAt },
      env: { GITHUB_TOKEN: token, GH_TOKEN: token },
      revoke: async () => {
        const res = await github(r, 'DELETE', '/installation/token', `Bearer ${token}`);
        // 401: already expired or revoked, which is what was asked for.
        if (res.status !== 204 && res.status !== 401) throw new DaemonError('upstream_error', `GitHub did not revoke the installation token: HTTP ${res.status}`);
      },
    };
  },
};
