// Opens a keyward session as a process of its own (the session's root), prints the reply as
// one JSON line, and holds the session until its stdin closes. Tests use it where they need
// sessions that are not nested in one another. Session tokens are honoured only from the
// session's own process tree, so the holder also makes API calls for the test: each stdin line
// {"id", "method", "path", "body"?, "token"?} is answered with one stdout line {"id", "status", "body"}
// (the token defaults to the session's own).
import { Agent, request } from 'node:http';
import { createInterface } from 'node:readline';

const [socketPath, agent, parentToken] = process.argv.slice(2);
// A connection pool, as any HTTP client keeps: many concurrent calls share a few keep-alive
// connections instead of opening one each (the daemon caps connections per process).
const pool = new Agent({ keepAlive: true, maxSockets: 16 });

function call(method, path, body, token) {
  return new Promise((resolve) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath,
        agent: pool,
        method,
        path,
        headers: { ...(payload ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let parsed;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = text;
          }
          resolve({ status: res.statusCode, body: parsed });
        });
      },
    );
    req.on('error', (error) => resolve({ status: 0, body: { error: { code: 'transport', message: error.message } } }));
    req.end(payload);
  });
}

const opened = await call('POST', '/v1/sessions', { agent, pid: process.pid }, parentToken);
process.stdout.write(JSON.stringify(opened.body ?? {}) + '\n');
const own = opened.body?.token;
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const r = JSON.parse(line);
  void call(r.method, r.path, r.body, r.token === undefined ? own : r.token || undefined).then((reply) => process.stdout.write(JSON.stringify({ id: r.id, ...reply }) + '\n'));
});
lines.on('close', () => process.exit(0));
