// Sends raw HTTP requests to the proxy and prints, as one JSON line, the status and body of each
// answer. Runs inside `keyward run` (the proxy only honours grants from inside their session).
// Usage: node raw-requests.mjs <port> <json array of raw request strings, with {{token}} replaced>
import { connect } from 'node:net';

const [port, json] = process.argv.slice(2);
const token = process.env.OPENAI_API_KEY ?? process.env.GITHUB_TOKEN ?? '';
const requests = JSON.parse(json).map((r) => r.replaceAll('{{token}}', token));

function send(raw) {
  return new Promise((resolve) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(raw));
    let data = '';
    socket.on('data', (d) => (data += d.toString('utf8')));
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
    socket.on('error', () => resolve({ status: 0, body: '' }));
    setTimeout(() => socket.destroy(), 10_000).unref();
  });
}

const results = [];
for (const raw of requests) results.push(await send(raw));
console.log(JSON.stringify(results));
