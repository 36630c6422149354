// Proxy benchmark: requests per second and p50/p99 latency to a local upstream straight, through
// base-URL mode and through interception mode, measured in the same run (upstreams in their own
// process so the load generator and the upstream do not share an event loop).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export async function benchProxy({ bin, concurrency = 16, total = 8000, nodeArgs = [] }) {
  const home = mkdtempSync(join(tmpdir(), 'keyward-bench-proxy-'));
  const env = { ...process.env, KEYWARD_HOME: home, KEYWARD_VAULT_PASSPHRASE: 'bench passphrase', NO_COLOR: '1' };
  // Upstreams: a child process running the test helpers' HTTP and HTTPS servers.
  const up = spawn(process.execPath, [join(here, 'proxy-upstream.js'), home], { stdio: ['ignore', 'pipe', 'inherit'] });
  const addresses = await new Promise((resolve) => up.stdout.once('data', (d) => resolve(JSON.parse(d.toString()))));
  execFileSync(process.execPath, [bin, 'vault', 'init', '--file'], { env, stdio: 'ignore' });
  mkdirSync(join(home, 'config', 'providers'), { recursive: true });
  writeFileSync(
    join(home, 'config', 'policy.yaml'),
    'rules:\n  - { agent: "*", credential: openai, permission: chat, decision: allow }\n  - { agent: "*", credential: github, permission: "repo:read", decision: allow }\n',
  );
  writeFileSync(join(home, 'config', 'providers', 'openai.yaml'), `upstream: ${addresses.http}\n`);
  writeFileSync(join(home, 'config', 'providers', 'github.yaml'), `upstream: ${addresses.https}\nca: ${addresses.ca}\n`);
  const daemon = spawn(process.execPath, [...nodeArgs, bin, 'daemon', 'start', '--foreground'], { env, stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 1500));
  execFileSync(process.execPath, [bin, 'vault', 'add', 'openai', '--provider', 'openai'], { env, input: 'sk-bench-not-a-real-key' });
  execFileSync(process.execPath, [bin, 'vault', 'add', 'github', '--provider', 'github'], { env, input: 'ghp_bench_not_a_real_key' });
  const out = execFileSync(
    process.execPath,
    [
      bin,
      'run',
      '--agent',
      'bench',
      '--grant',
      'openai:chat',
      '--grant',
      'github:repo:read:acme/app',
      '--',
      process.execPath,
      join(here, 'proxy-loadgen.js'),
      addresses.http,
      addresses.https,
      addresses.ca,
      String(concurrency),
      String(total),
    ],
    { env, maxBuffer: 1 << 20 },
  ).toString();
  daemon.kill('SIGTERM');
  up.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  rmSync(home, { recursive: true, force: true });
  return { concurrency, total, ...JSON.parse(out.trim().split('\n').pop()) };
}
