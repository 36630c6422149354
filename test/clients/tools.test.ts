import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, removeDir, tempDir, writeTree } from '../helpers/cli.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { awsKeyId, checksummedToken, githubToken, randomAlnum } from '../helpers/secrets.js';
import { listen, stsDouble } from './doubles.js';
import { cleanEnv, keywardOnPath, QUIET, run } from './helpers.js';

/** A git smart-HTTP server (git http-backend behind basic auth), recording the credentials it was sent. */
async function gitServer(root: string, user: string, password: string) {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    seen.push(auth);
    if (auth !== `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' });
      res.end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method,
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        HTTP_GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
        REMOTE_USER: user,
      },
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let started = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (started) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      const headers: Record<string, string> = {};
      let status = 200;
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const [name, ...rest] = line.split(':');
        if (name.toLowerCase() === 'status') status = Number(rest.join(':').trim().split(' ')[0]);
        else headers[name] = rest.join(':').trim();
      }
      res.writeHead(status, headers);
      started = true;
      res.write(head.subarray(end + 4));
    });
    cgi.stdout.on('end', () => res.end());
  });
  const port = await listen(server, '127.0.0.1');
  return { port, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** An npm registry double: whoami and publish behind a bearer token, recording what it was sent. */
async function npmRegistry(host: string, token: string) {
  const seen: { method: string; path: string; auth: string }[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const auth = req.headers.authorization ?? '';
    seen.push({ method: req.method ?? '', path: req.url ?? '', auth });
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (auth !== `Bearer ${token}`) {
        res.writeHead(401, { 'www-authenticate': 'Bearer' });
        return res.end(JSON.stringify({ error: 'unauthorized' }));
      }
      if (req.method === 'GET' && req.url === '/-/whoami') return res.end(JSON.stringify({ username: 'ada' }));
      if (req.method === 'PUT') {
        res.writeHead(201);
        return res.end(JSON.stringify({ ok: true }));
      }
      res.writeHead(404);
      res.end('{}');
    });
  });
  const port = await listen(server, host);
  return { port, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('git, npm and the AWS CLI on migrated credential files', () => {
  let d: TestDaemon;
  let work: string;
  beforeAll(async () => {
    // npm reads its token from the environment keyward run releases it into.
    d = await startDaemon({ files: { 'config/policy.yaml': 'rules:\n  - { agent: npm, credential: "*", permission: release, decision: allow, maxTtl: 5m }\n' } });
    work = tempDir('keyward-clients-tools-');
  });
  afterAll(async () => {
    await d?.stop();
    removeDir(work);
  });

  it('git over HTTP: .git-credentials as git writes it moves; two fetches; the store helper writes nothing back; undo', async () => {
    const home = join(work, 'git-home');
    const repo = join(work, 'repos', 'app.git');
    spawnSync('git', ['init', '-q', '--bare', repo]);
    const token = githubToken();
    const server = await gitServer(join(work, 'repos'), 'ada', token);
    try {
      const other = githubToken();
      // git's store helper writes the port's colon as %3a; a line keyward cannot parse stays, alone.
      const credentials = `http://ada:${token}@127.0.0.1%3a${server.port}\nhttps://carol:${other}@host_with_underscore\n`;
      const gitconfig = '[credential]\n\thelper = store\n[user]\n\tname = Ada\n\temail = ada@example.test\n';
      writeTree(home, { '.git-credentials': credentials, '.gitconfig': gitconfig });
      const bin = keywardOnPath(join(work, 'bin'));
      const env = { ...cleanEnv(), ...QUIET, HOME: home, PATH: `${bin}:${process.env.PATH}`, KEYWARD_HOME: d.home, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' };
      const url = `http://127.0.0.1:${server.port}/app.git`;
      const git = (...args: string[]) => run('git', args, { env, cwd: home });

      expect((await git('ls-remote', url)).code).toBe(0);

      const migrate = await run(process.execPath, [BIN, 'migrate', '--home', home, '--yes', '--json'], { env, cwd: home, timeout: 120_000 });
      expect(migrate.code, migrate.stderr).toBe(0);
      const result = JSON.parse(migrate.stdout);
      expect(result.entries).toContain(`git-127.0.0.1-${server.port}`);
      expect(result.skipped.map((s: { line: number; reason: string }) => [s.line, s.reason])).toEqual([[2, 'line 2 is not a credential URL']]);
      expect(readFileSync(join(home, '.git-credentials'), 'utf8')).toBe(`https://carol:${other}@host_with_underscore\n`);
      // git's helper list for the host starts empty: the store helper is neither asked nor told.
      const helpers = (await git('config', '--global', '--get-all', `credential.http://127.0.0.1:${server.port}.helper`)).stdout.split('\n');
      expect(helpers[0]).toBe('');
      expect(helpers[1]).toMatch(new RegExp(`^!'${join(bin, 'keyward')}' git-credential --entry 'git-127\\.0\\.0\\.1-${server.port}'$`));

      const clone = await git('clone', '-q', url, join(work, 'clone'));
      expect(clone.code, clone.stderr).toBe(0);
      const fetch = await run('git', ['fetch', '-q'], { env, cwd: join(work, 'clone') });
      expect(fetch.code, fetch.stderr).toBe(0);
      expect(readFileSync(join(home, '.git-credentials'), 'utf8')).not.toContain(token);

      const undo = await run(process.execPath, [BIN, 'migrate', 'undo', result.id], { env, cwd: home });
      expect(undo.code, undo.stderr).toBe(0);
      expect(readFileSync(join(home, '.git-credentials'), 'utf8')).toBe(credentials);
      expect(readFileSync(join(home, '.gitconfig'), 'utf8')).toBe(gitconfig.replace(/$/, '') + readFileSync(join(home, '.gitconfig'), 'utf8').slice(gitconfig.length));
      expect((await git('config', '--global', '--get-all', `credential.http://127.0.0.1:${server.port}.helper`)).stdout).toBe('');
      expect((await git('ls-remote', url)).code).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('npm against a registry with a port: whoami and publish before, under keyward run after, a clear refusal outside it, undo', async () => {
    const home = join(work, 'npm-home');
    const token = checksummedToken('npm_');
    // 127.0.0.2 is loopback but not in keyward run's NO_PROXY: npm sends its plain-HTTP requests to the proxy.
    const registry = await npmRegistry('127.0.0.2', token);
    try {
      const origin = `127.0.0.2:${registry.port}`;
      const npmrc = `registry=http://${origin}/\n//${origin}/:_authToken=${token}\n`;
      writeTree(home, {
        '.npmrc': npmrc,
        'pkg/package.json': JSON.stringify({ name: 'keyward-client-test', version: '1.0.0' }),
        'pkg/index.js': 'module.exports = 1;\n',
      });
      const bin = keywardOnPath(join(work, 'bin'));
      const env = { ...cleanEnv(), ...QUIET, HOME: home, PATH: `${bin}:${process.env.PATH}`, KEYWARD_HOME: d.home, npm_config_cache: join(work, 'npm-cache') };
      const npm = (args: string[], cwd = home) => run('npm', args, { env, cwd });
      const whoami = await npm(['whoami']);
      expect(whoami.stdout.trim(), whoami.stderr).toBe('ada');

      const migrate = await run(process.execPath, [BIN, 'migrate', '--home', home, '--yes', '--json'], { env, cwd: home, timeout: 120_000 });
      expect(migrate.code, migrate.stderr).toBe(0);
      const result = JSON.parse(migrate.stdout);
      const variable = `NPM_TOKEN_127_0_0_2_${registry.port}`;
      expect(readFileSync(join(home, '.npmrc'), 'utf8')).toBe(`registry=http://${origin}/\n//${origin}/:_authToken=\${${variable}?}\n`);
      const [entry] = result.entries as string[];

      // Outside keyward run: npm sends no credential (never the literal ${…}) and says it needs one.
      const before = registry.seen.length;
      const outside = await npm(['whoami']);
      expect(outside.code).not.toBe(0);
      expect(outside.stderr).toMatch(/ENEEDAUTH|E401/);
      expect(registry.seen.slice(before).every((s) => s.auth === '')).toBe(true);

      const inside = await run(process.execPath, [BIN, 'run', '--agent', 'npm', '--env', `${variable}=keyward://${entry}`, '--', 'npm', 'whoami'], { env, cwd: home });
      expect(inside.stdout.trim(), inside.stderr).toBe('ada');
      const publish = await run(process.execPath, [BIN, 'run', '--agent', 'npm', '--env', `${variable}=keyward://${entry}`, '--', 'npm', 'publish'], {
        env,
        cwd: join(home, 'pkg'),
      });
      expect(publish.code, publish.stderr).toBe(0);
      expect(registry.seen.some((s) => s.method === 'PUT' && s.auth === `Bearer ${token}`)).toBe(true);

      const undo = await run(process.execPath, [BIN, 'migrate', 'undo', result.id], { env, cwd: home });
      expect(undo.code, undo.stderr).toBe(0);
      expect(readFileSync(join(home, '.npmrc'), 'utf8')).toBe(npmrc);
      expect((await npm(['whoami'])).stdout.trim()).toBe('ada');
    } finally {
      await registry.close();
    }
  });

  it('the AWS CLI: static keys before, credential_process after migrate (SigV4 verified with the real secret), static again after undo', async () => {
    const home = join(work, 'aws-home');
    const key = { accessKeyId: awsKeyId(), secret: randomAlnum(40) };
    const sts = await stsDouble(key);
    try {
      const credentials = `[default]\naws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secret}\n`;
      writeTree(home, { '.aws/credentials': credentials, '.aws/config': '[default]\nregion = eu-west-1\noutput = json\n' });
      const bin = keywardOnPath(join(work, 'bin'));
      // No instance metadata (169.254.169.254), no pager: loopback only.
      const env = { ...cleanEnv(), ...QUIET, HOME: home, PATH: `${bin}:${process.env.PATH}`, KEYWARD_HOME: d.home, AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '' };
      const whoami = async (label: string) => {
        const from = sts.calls.length;
        const r = await run('aws', ['--endpoint-url', sts.url, 'sts', 'get-caller-identity'], { env, cwd: home });
        expect(r.code, `${label}: ${r.stderr}`).toBe(0);
        expect(JSON.parse(r.stdout).UserId, label).toBe(key.accessKeyId);
        expect(sts.calls.slice(from), label).toEqual([{ action: 'GetCallerIdentity', accessKeyId: key.accessKeyId, verified: true, why: undefined }]);
      };
      await whoami('before migration');

      const migrate = await run(process.execPath, [BIN, 'migrate', '--home', home, '--yes', '--json'], { env, cwd: home, timeout: 120_000 });
      expect(migrate.code, migrate.stderr).toBe(0);
      const result = JSON.parse(migrate.stdout);
      const migrated = readFileSync(join(home, '.aws', 'credentials'), 'utf8');
      expect(migrated).not.toContain(key.secret);
      expect(migrated).not.toContain(key.accessKeyId);
      expect(migrated).toMatch(new RegExp(`^credential_process = ${join(bin, 'keyward').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} .*aws-credentials --profile default$`, 'm'));
      await whoami('after migration, through credential_process');

      const undo = await run(process.execPath, [BIN, 'migrate', 'undo', result.id], { env, cwd: home });
      expect(undo.code, undo.stderr).toBe(0);
      expect(readFileSync(join(home, '.aws', 'credentials'), 'utf8')).toBe(credentials);
      await whoami('after undo');
    } finally {
      await sts.close();
    }
  });
});
