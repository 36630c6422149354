import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, createSign } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** Runs a command, failing the test with its stderr when it fails. */
export function run(cwd: string, cmd: string, ...args: string[]): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A JSON blob written into an OCI layout; returns its descriptor. */
export function writeBlob(layout: string, data: Buffer | string): { digest: string; size: number } {
  const bytes = Buffer.from(data);
  const hex = sha256(bytes);
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(layout, 'blobs', 'sha256', hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

interface Index {
  schemaVersion: 2;
  manifests: { mediaType: string; digest: string; size: number; annotations?: Record<string, string>; platform?: Record<string, string> }[];
}

export function readIndex(layout: string): Index {
  return JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as Index;
}

export function manifestOf(
  layout: string,
  tag: string,
): { digest: string; manifest: { config: { digest: string; size: number }; layers: { mediaType: string; digest: string; size: number }[] } } {
  const entry = readIndex(layout).manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!entry) throw new Error(`no ${tag} in ${layout}`);
  return { digest: entry.digest, manifest: JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', entry.digest.split(':')[1]), 'utf8')) };
}

/** Adds (or replaces) a tag in the layout's index.json pointing at a descriptor. */
export function tag(layout: string, name: string, descriptor: { mediaType: string; digest: string; size: number; platform?: Record<string, string> }): void {
  const index = readIndex(layout);
  index.manifests = index.manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] !== name);
  index.manifests.push({ ...descriptor, annotations: { 'org.opencontainers.image.ref.name': name } });
  writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface Registry {
  port: number;
  url: string;
  stop(): Promise<void>;
}

export type RegistryAuth = { user: string; password: string } | { token: { realm: string; service: string; issuer: string; certificate: string } };

/** A real docker-registry (Distribution 2.x) on a free loopback port, optionally behind htpasswd or token auth. */
export async function startRegistry(dir: string, auth?: RegistryAuth): Promise<Registry> {
  const port = await freePort();
  const data = join(dir, 'data');
  mkdirSync(data, { recursive: true });
  let authBlock = '';
  if (auth && 'user' in auth) {
    run(dir, 'sh', '-c', `htpasswd -Bbn '${auth.user}' '${auth.password}' > htpasswd`);
    authBlock = `auth: { htpasswd: { realm: keyward-test, path: ${join(dir, 'htpasswd')} } }\n`;
  } else if (auth) {
    const t = auth.token;
    authBlock = `auth: { token: { realm: "${t.realm}", service: ${t.service}, issuer: ${t.issuer}, rootcertbundle: ${t.certificate} } }\n`;
  }
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1\nlog: { level: error }\nstorage: { filesystem: { rootdirectory: ${data} }, delete: { enabled: true } }\nhttp: { addr: 127.0.0.1:${port}, secret: not-secret }\n${authBlock}`,
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const r = await fetch(`${url}/v2/`);
      if (r.status === 200 || r.status === 401) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Runs a command without blocking this process (a server in the test must keep answering). */
export function runAsync(cwd: string, cmd: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${err}`))));
  });
}

/**
 * A token service for a registry with token authentication: checks Basic credentials and
 * issues a JWT signed with `key`, carrying the certificate (x5c) the registry trusts.
 */
export function issueToken(query: URLSearchParams, key: string, certificateDer: Buffer, issuer: string): string {
  const scope = query.get('scope') ?? '';
  const [, name, actions] = /^repository:([^:]+):(.+)$/.exec(scope) ?? [];
  const now = Math.floor(Date.now() / 1000);
  const b64url = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const header = b64url({ typ: 'JWT', alg: 'RS256', x5c: [certificateDer.toString('base64')] });
  const claims = b64url({
    iss: issuer,
    sub: 'ci',
    aud: query.get('service'),
    exp: now + 300,
    nbf: now - 10,
    iat: now,
    jti: sha256(String(Math.random())),
    access: name ? [{ type: 'repository', name, actions: actions.split(',') }] : [],
  });
  const signature = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(key).toString('base64url');
  return `${header}.${claims}.${signature}`;
}

/** Pushes a layout tag (or a whole index with `all`) to a loopback registry with skopeo. */
export function push(cwd: string, source: string, dest: string, options: { creds?: string; all?: boolean } = {}): void {
  run(cwd, 'skopeo', 'copy', '--quiet', '--dest-tls-verify=false', ...(options.all ? ['--all'] : []), ...(options.creds ? ['--dest-creds', options.creds] : []), source, dest);
}

export function removeTree(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
