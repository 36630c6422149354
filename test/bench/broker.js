// Broker benchmark: grant round-trips over agent.sock with 32 concurrent clients against an
// HTTP /v1/health round-trip measured the same way in the same run, plus the daemon's RSS idle
// and under load. Uses the encrypted file vault so that it needs no desktop keychain (the grant
// path reads only vault metadata).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function call(agent, socketPath, method, path, body, token) {
  return new Promise((resolve, reject) => {
    const payload = body ? JSON.stringify(body) : undefined;
    const req = request(
      {
        agent,
        socketPath,
        method,
        path,
        headers: {
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
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

const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function load(concurrency, total, once) {
  const latencies = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        const t = performance.now();
        await once();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { p50: pct(latencies, 50), p99: pct(latencies, 99), perSecond: total / seconds };
}

export async function benchBroker({ bin, concurrency = 32, total = 20000, nodeArgs = [] }) {
  const home = mkdtempSync(join(tmpdir(), 'keyward-bench-broker-'));
  const env = { ...process.env, KEYWARD_HOME: home, KEYWARD_VAULT_PASSPHRASE: 'bench passphrase', NO_COLOR: '1' };
  execFileSync(process.execPath, [bin, 'vault', 'init', '--file'], { env, stdio: 'ignore' });
  mkdirSync(join(home, 'config'), { recursive: true });
  writeFileSync(join(home, 'config', 'policy.yaml'), 'rules:\n  - { agent: "*", credential: openai, permission: chat, decision: allow }\n');
  const daemon = spawn(process.execPath, [...nodeArgs, bin, 'daemon', 'start', '--foreground'], { env, stdio: 'ignore' });
  const agentSock = join(home, 'run', 'agent.sock');
  const adminSock = join(home, 'run', 'admin.sock');
  for (let i = 0; i < 200; i++) {
    try {
      if ((await call(undefined, adminSock, 'GET', '/v1/health')).status === 200) break;
    } catch {
      /* starting */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  execFileSync(process.execPath, [bin, 'vault', 'add', 'openai', '--provider', 'openai'], { env, input: 'sk-bench-not-a-real-key', stdio: ['pipe', 'ignore', 'ignore'] });
  await new Promise((r) => setTimeout(r, 1000));
  const idleRss = rss(daemon.pid);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const session = (await call(agent, agentSock, 'POST', '/v1/sessions', { agent: 'bench', pid: process.pid })).body;
  // Warm-up, then health, then grants: the same client, concurrency and request count.
  await load(concurrency, 2000, () => call(agent, agentSock, 'GET', '/v1/health'));
  const health = await load(concurrency, total, () => call(agent, agentSock, 'GET', '/v1/health'));
  let peakRss = rss(daemon.pid);
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rss(daemon.pid))), 100);
  const grants = await load(concurrency, total, async () => {
    const r = await call(agent, agentSock, 'POST', '/v1/grants', { spec: 'openai:chat' }, session.token);
    if (r.status !== 201) throw new Error(`grant failed: ${r.status} ${JSON.stringify(r.body)}`);
  });
  clearInterval(sampler);
  agent.destroy();
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  rmSync(home, { recursive: true, force: true });
  return { concurrency, total, health, grants, idleRssMB: idleRss, peakRssMB: peakRss };
}
