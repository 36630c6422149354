// Load generator for the proxy benchmark. Runs inside `keyward run` (the proxy serves grants
// only to their session) and measures the same requests three ways: straight to the upstream,
// through base-URL mode, and through interception (CONNECT + TLS with keyward's CA).
// Prints one JSON line: { direct, base, directTls, intercept } each { p50, p99, perSecond }.
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';

const [httpUp, httpsUp, upstreamCa, concurrency = '16', total = '8000'] = process.argv.slice(2);
const token = process.env.OPENAI_API_KEY;
const base = process.env.OPENAI_BASE_URL;
const proxy = new URL(process.env.HTTPS_PROXY);
const keywardCa = readFileSync(process.env.NODE_EXTRA_CA_CERTS, 'utf8');
const testCa = readFileSync(upstreamCa, 'utf8');

const pct = (s, p) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
/**
 * Latency is measured one request at a time (what a request costs, without queueing behind
 * others), throughput with `concurrency` clients.
 */
async function load(once) {
  for (let i = 0; i < 500; i++) await once(); // warm-up
  const single = await run(once, 1, 2000);
  const loaded = await run(once, Number(concurrency), Number(total));
  return { p50: single.p50, p99: single.p99, loadedP50: loaded.p50, loadedP99: loaded.p99, perSecond: loaded.perSecond };
}

async function run(once, clients, n) {
  const lat = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < n) {
        next++;
        const t = performance.now();
        await once();
        lat.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { p50: pct(lat, 50), p99: pct(lat, 99), perSecond: n / seconds };
}

function get(requestFn, options) {
  return new Promise((resolve, reject) => {
    const req = requestFn(options, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: Number(concurrency) });
const u = new URL(httpUp);
const direct = await load(() => get(httpRequest, { agent: httpAgent, host: u.hostname, port: u.port, path: '/v1/models', headers: { authorization: 'Bearer own' } }));
const b = new URL(base);
const viaBase = await load(() =>
  get(httpRequest, { agent: httpAgent, host: b.hostname, port: b.port, path: `${b.pathname}/models`, headers: { authorization: `Bearer ${token}` } }),
);

const s = new URL(httpsUp);
const directAgent = new HttpsAgent({ keepAlive: true, maxSockets: Number(concurrency), ca: testCa });
const directTls = await load(() => get(httpsRequest, { agent: directAgent, host: s.hostname, port: s.port, path: '/repos/acme/app', headers: { authorization: 'Bearer own' } }));
// Interception: each agent socket is a CONNECT tunnel to the upstream, with TLS to keyward's leaf.
const tunnelAgent = new HttpsAgent({ keepAlive: true, maxSockets: Number(concurrency) });
tunnelAgent.createConnection = (options, callback) => {
  const raw = netConnect(Number(proxy.port), proxy.hostname, () => raw.write(`CONNECT ${s.hostname}:${s.port} HTTP/1.1\r\nHost: ${s.hostname}:${s.port}\r\n\r\n`));
  raw.once('data', (head) => {
    if (!/^HTTP\/1\.1 200/.test(head.toString())) return callback(new Error(`CONNECT: ${head}`));
    const tls = tlsConnect({ socket: raw, servername: s.hostname, ca: keywardCa }, () => callback(null, tls));
    tls.on('error', callback);
  });
  raw.on('error', callback);
};
const intercept = await load(() =>
  get(httpsRequest, { agent: tunnelAgent, host: s.hostname, port: s.port, path: '/repos/acme/app', headers: { authorization: `Bearer ${process.env.GITHUB_TOKEN}` } }),
);
console.log(JSON.stringify({ direct, base: viaBase, directTls, intercept }));
process.exit(0);
