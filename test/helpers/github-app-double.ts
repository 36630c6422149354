import { spawn } from 'node:child_process';
import { randomBytes, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';

/**
 * A loopback stand-in for the GitHub App API and for git's smart HTTP. It verifies each App JWT
 * (RS256) against the App's public key, issues installation tokens limited to the repositories
 * and permissions asked for, revokes them on DELETE /installation/token, and serves bare
 * repositories under `root` through the real `git http-backend` to a live token only.
 */
export interface TokenRecord {
  token: string;
  repositories?: string[];
  permissions: Record<string, string>;
  revoked: boolean;
}

export interface GithubDouble {
  url: string;
  tokens: TokenRecord[];
  jwtFailures: string[];
  apiRequests: { method: string; path: string; auth?: string }[];
  close(): Promise<void>;
}

function checkJwt(auth: string | undefined, publicKey: KeyObject, appId: string): string | undefined {
  const m = /^Bearer ([\w-]+)\.([\w-]+)\.([\w-]+)$/.exec(auth ?? '');
  if (!m) return 'no JWT';
  const header = JSON.parse(Buffer.from(m[1], 'base64url').toString()) as { alg?: string };
  if (header.alg !== 'RS256') return `alg ${header.alg}`;
  if (!verify('sha256', Buffer.from(`${m[1]}.${m[2]}`), publicKey, Buffer.from(m[3], 'base64url'))) return 'bad signature';
  const claims = JSON.parse(Buffer.from(m[2], 'base64url').toString()) as { iat: number; exp: number; iss: string | number };
  const now = Date.now() / 1000;
  if (String(claims.iss) !== appId) return `iss ${claims.iss}`;
  if (claims.exp <= now || claims.iat > now + 60 || claims.exp - claims.iat > 600) return 'bad iat/exp';
  return undefined;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

/** Runs `git http-backend` as a CGI program for one request. */
function gitBackend(root: string, req: IncomingMessage, body: Buffer, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const child = spawn('git', ['http-backend'], {
    env: {
      ...process.env,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: url.pathname,
      QUERY_STRING: url.search.slice(1),
      REQUEST_METHOD: req.method ?? 'GET',
      CONTENT_TYPE: String(req.headers['content-type'] ?? ''),
      CONTENT_LENGTH: String(body.length),
      REMOTE_USER: 'x-access-token',
      REMOTE_ADDR: '127.0.0.1',
      GATEWAY_INTERFACE: 'CGI/1.1',
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const out: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.on('close', () => {
    const all = Buffer.concat(out);
    const split = all.indexOf('\r\n\r\n');
    const head = all.subarray(0, split).toString().split('\r\n');
    let status = 200;
    for (const line of head) {
      const [k, ...v] = line.split(':');
      if (k.toLowerCase() === 'status') status = Number(v.join(':').trim().split(' ')[0]);
      else res.setHeader(k, v.join(':').trim());
    }
    res.writeHead(status).end(all.subarray(split + 4));
  });
  child.stdin.end(body);
}

export async function startGithubDouble(options: {
  publicKey: KeyObject;
  appId: string;
  installation: string;
  repoRoot: string;
  /** Serve HTTPS on 127.0.0.1 with this identity (see privateCaIdentity) instead of plain HTTP. */
  tls?: { key: string; cert: string };
}): Promise<GithubDouble> {
  const tokens: TokenRecord[] = [];
  const jwtFailures: string[] = [];
  const apiRequests: GithubDouble['apiRequests'] = [];
  const live = (token: string | undefined) => tokens.find((t) => t.token === token && !t.revoked);
  const json = (res: ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    void readBody(req).then((body) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const auth = req.headers.authorization;
      apiRequests.push({ method: req.method ?? '', path: url.pathname, auth });
      if (req.method === 'POST' && url.pathname === `/app/installations/${options.installation}/access_tokens`) {
        const why = checkJwt(auth, options.publicKey, options.appId);
        if (why) {
          jwtFailures.push(why);
          return json(res, 401, { message: 'A JSON web token could not be decoded' });
        }
        const asked = JSON.parse(body.toString() || '{}') as { repositories?: string[]; permissions?: Record<string, string> };
        const t: TokenRecord = { token: `ghs_${randomBytes(18).toString('hex')}`, repositories: asked.repositories, permissions: asked.permissions ?? {}, revoked: false };
        tokens.push(t);
        return json(res, 201, {
          token: t.token,
          expires_at: new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, 'Z'),
          permissions: t.permissions,
          repository_selection: asked.repositories ? 'selected' : 'all',
          ...(asked.repositories ? { repositories: asked.repositories.map((name) => ({ name, full_name: `acme/${name}` })) } : {}),
        });
      }
      if (req.method === 'DELETE' && url.pathname === '/installation/token') {
        const t = live(auth?.replace(/^Bearer /, ''));
        if (!t) return json(res, 401, { message: 'Bad credentials' });
        t.revoked = true;
        return void res.writeHead(204).end();
      }
      // The REST API for the proxy: GET /repos/acme/<repo>.
      const repoApi = /^\/repos\/acme\/([\w.-]+)$/.exec(url.pathname);
      if (repoApi) {
        const t = live(auth?.replace(/^(Bearer|token) /, ''));
        if (!t || (t.repositories && !t.repositories.includes(repoApi[1]))) return json(res, 401, { message: 'Bad credentials' });
        return json(res, 200, { full_name: `acme/${repoApi[1]}`, private: true });
      }
      // git smart HTTP: /acme/<repo>.git/...
      const gitPath = /^\/acme\/([\w.-]+)\.git\//.exec(url.pathname);
      if (gitPath) {
        const basic = /^Basic (.+)$/.exec(auth ?? '');
        const password = basic ? Buffer.from(basic[1], 'base64').toString().split(':').slice(1).join(':') : undefined;
        const t = live(password);
        if (!t || (t.repositories && !t.repositories.includes(gitPath[1]))) {
          return void res.writeHead(401, { 'www-authenticate': 'Basic realm="GitHub"' }).end();
        }
        return gitBackend(options.repoRoot, req, body, res);
      }
      json(res, 404, { message: 'Not Found' });
    });
  };
  const server = options.tls ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, handle) : createServer(handle);
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)));
  return { url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`, tokens, jwtFailures, apiRequests, close: () => new Promise<void>((r) => server.close(() => r())) };
}
