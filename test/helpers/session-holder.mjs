// Opens a keyward session as a process of its own (the session's root), prints the reply as
// one JSON line, and holds the session until its stdin closes. Tests use it where they need
// sessions that are not nested in one another.
import { request } from 'node:http';

const [socketPath, agent, parentToken] = process.argv.slice(2);
const body = JSON.stringify({ agent, pid: process.pid });
const req = request(
  {
    socketPath,
    agent: false,
    method: 'POST',
    path: '/v1/sessions',
    headers: { 'content-type': 'application/json', ...(parentToken ? { authorization: `Bearer ${parentToken}` } : {}) },
  },
  (res) => {
    let text = '';
    res.on('data', (d) => (text += d));
    res.on('end', () => {
      process.stdout.write(text.replace(/\n/g, ' ') + '\n');
      process.stdin.resume();
      process.stdin.on('end', () => process.exit(0));
    });
  },
);
req.end(body);
