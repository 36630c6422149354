// Mint benchmark: grant latency (POST /v1/grants, one request at a time) for entries that mint
// (AWS STS, a GitHub App, PostgreSQL) against local doubles, compared with a release grant of a
// stored key measured the same way in the same run: the ratio is what minting adds.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

function call(socketPath, method, path, body, token) {
  return new Promise((resolve, reject) => {
    const payload = body ? JSON.stringify(body) : undefined;
    const req = request(
      { socketPath, method, path, headers: { ...(payload ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const listen = (server) => new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port)));

/** Answers STS and GitHub's token endpoints at once, as fast as a local server can. */
function doubles() {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/' && req.method === 'POST') {
        const id = 'ASIA' + randomBytes(8).toString('hex').toUpperCase();
        const exp = new Date(Date.now() + 900_000).toISOString();
        res.writeHead(200, { 'content-type': 'text/xml' });
        return res.end(
          `<GetSessionTokenResponse><GetSessionTokenResult><Credentials><AccessKeyId>${id}</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>${exp}</Expiration></Credentials></GetSessionTokenResult></GetSessionTokenResponse>`,
        );
      }
      if (req.method === 'POST' && req.url.startsWith('/app/installations/')) {
        res.writeHead(201, { 'content-type': 'application/json' });
        return res.end(
          JSON.stringify({ token: 'ghs_' + randomBytes(18).toString('hex'), expires_at: new Date(Date.now() + 3600_000).toISOString(), permissions: { contents: 'read' } }),
        );
      }
      if (req.method === 'DELETE') return res.writeHead(204).end();
      res.writeHead(404).end();
    });
  });
  return server;
}

function startPostgres(dir) {
  const root = '/usr/lib/postgresql';
  const version = existsSync(root) ? readdirSync(root).find((v) => existsSync(join(root, v, 'bin', 'initdb'))) : undefined;
  if (!version || spawnSync('psql', ['--version']).status !== 0) return undefined;
  const bin = join(root, version, 'bin');
  const asRoot = userInfo().uid === 0;
  const run = (cmd, args) => execFileSync(asRoot ? 'runuser' : cmd, asRoot ? ['-u', 'postgres', '--', cmd, ...args] : args, { stdio: 'ignore' });
  if (asRoot) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'])), Number(execFileSync('id', ['-g', 'postgres'])));
  writeFileSync(join(dir, 'pw'), 'bench-super\n');
  if (asRoot) execFileSync('chown', ['postgres', join(dir, 'pw')]);
  run(join(bin, 'initdb'), ['-D', join(dir, 'data'), '-U', 'pgsuper', '--auth=scram-sha-256', `--pwfile=${join(dir, 'pw')}`, '--no-sync']);
  run(join(bin, 'pg_ctl'), ['-D', join(dir, 'data'), '-l', join(dir, 'log'), '-w', '-o', `-c listen_addresses='' -c unix_socket_directories=${dir} -c fsync=off`, 'start']);
  return {
    url: `postgresql://pgsuper:bench-super@localhost:5432/postgres?host=${encodeURIComponent(dir)}`,
    stop: () => run(join(bin, 'pg_ctl'), ['-D', join(dir, 'data'), '-m', 'immediate', 'stop']),
  };
}

export async function benchMint({ bin, total = 200 }) {
  const home = mkdtempSync(join(tmpdir(), 'keyward-bench-mint-'));
  const pgDir = mkdtempSync(join(tmpdir(), 'keyward-bench-pg-'));
  const env = { ...process.env, KEYWARD_HOME: home, KEYWARD_VAULT_PASSPHRASE: 'bench passphrase', NO_COLOR: '1' };
  const server = doubles();
  const port = await listen(server);
  const pg = startPostgres(pgDir);
  execFileSync(process.execPath, [bin, 'vault', 'init', '--file'], { env, stdio: 'ignore' });
  mkdirSync(join(home, 'config', 'providers'), { recursive: true });
  writeFileSync(join(home, 'config', 'policy.yaml'), 'defaults: { decision: allow, maxTtl: 1h }\n');
  writeFileSync(join(home, 'config', 'providers', 'aws.yaml'), `upstream: http://127.0.0.1:${port}\n`);
  writeFileSync(join(home, 'config', 'providers', 'github.yaml'), `upstream: http://127.0.0.1:${port}\n`);
  const daemon = spawn(process.execPath, [bin, 'daemon', 'start', '--foreground'], { env, stdio: 'ignore' });
  const agentSock = join(home, 'run', 'agent.sock');
  const adminSock = join(home, 'run', 'admin.sock');
  for (let i = 0; i < 400; i++) {
    try {
      if ((await call(adminSock, 'GET', '/v1/health')).status === 200) break;
    } catch {
      /* starting */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const add = (name, provider, value, attrs = []) =>
    execFileSync(process.execPath, [bin, 'vault', 'add', name, '--provider', provider, ...attrs.flatMap((a) => ['-a', a])], {
      env,
      input: value,
      stdio: ['pipe', 'ignore', 'inherit'],
    });
  add('stored', 'generic', 'a-stored-key-' + randomBytes(8).toString('hex'));
  add('aws-bench', 'aws', JSON.stringify({ AccessKeyId: 'AKIABENCHBENCHBENCH1', SecretAccessKey: 'bench' }));
  add('gh-app', 'github', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }), ['appId=1', 'installation=2']);
  if (pg) add('pg-bench', 'postgres', pg.url);
  const session = (await call(agentSock, 'POST', '/v1/sessions', { agent: 'bench', pid: process.pid })).body;

  const measure = async (body) => {
    const latencies = [];
    for (let i = 0; i < total + 10; i++) {
      const t = performance.now();
      const r = await call(agentSock, 'POST', '/v1/grants', body, session.token);
      const ms = performance.now() - t;
      if (r.status !== 201) throw new Error(`grant ${JSON.stringify(body)} failed: ${r.status} ${JSON.stringify(r.body)}`);
      if (i >= 10) latencies.push(ms);
      // Ending the grant (and revoking what was minted) is not part of the measurement.
      await call(agentSock, 'DELETE', `/v1/grants/${r.body.grant.id}`, undefined, session.token);
    }
    latencies.sort((a, b) => a - b);
    return { p50: +pct(latencies, 50).toFixed(2), p99: +pct(latencies, 99).toFixed(2) };
  };
  const results = { total };
  results.baseline = await measure({ credential: 'stored', mode: 'release' });
  results.awsSts = await measure({ spec: 'aws-bench:s3:read:bench-bucket' });
  results.githubApp = await measure({ spec: 'gh-app:repo:read:acme/app' });
  if (pg) results.postgresRole = await measure({ spec: 'pg-bench:read' });
  for (const k of ['awsSts', 'githubApp', 'postgresRole']) if (results[k]) results[k].p50RatioToBaseline = +(results[k].p50 / results.baseline.p50).toFixed(1);
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  server.close();
  pg?.stop();
  rmSync(home, { recursive: true, force: true });
  rmSync(pgDir, { recursive: true, force: true });
  return results;
}
