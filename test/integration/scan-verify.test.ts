import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, runCli, tempDir, writeTree } from '../helpers/cli.js';
import { awsKeyId, githubToken } from '../helpers/secrets.js';

interface Report {
  findings: { file: string; ruleId: string; verification?: string }[];
}

describe('keyward scan --verify', () => {
  const live = githubToken();
  const revoked = githubToken();
  const requests: string[] = [];
  let server: Server;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    // A loopback double of api.github.com: GET /user answers 200 for the live token, 401 otherwise.
    server = createServer((req, res) => {
      requests.push(`${req.method} ${String(req.headers['x-keyward-verify-host'])}${req.url}`);
      res.writeHead(req.headers.authorization === `token ${live}` ? 200 : 401, { 'content-type': 'application/json' });
      res.end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    env = { KEYWARD_TEST_VERIFY_UPSTREAM: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
    dir = tempDir();
    writeTree(dir, {
      'a-old.env': `GITHUB_TOKEN=${revoked}\n`,
      'b-aws.env': `AWS_ACCESS_KEY_ID=${awsKeyId()}\n`,
      'c-copy.env': `TOKEN=${revoked}\n`,
      'z-live.env': `GH_TOKEN=${live}\n`,
    });
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    removeDir(dir);
  });

  it('is off by default: no request, no verification field', async () => {
    requests.length = 0;
    const r = await runCli(['scan', '.', '--json'], { cwd: dir, env });
    expect(r.code).toBe(1);
    expect(requests).toEqual([]);
    expect((JSON.parse(r.stdout) as Report).findings.every((f) => f.verification === undefined)).toBe(true);
  });

  it('asks the provider once per unique key and reports live, revoked, and nothing for rules without a verifier', async () => {
    requests.length = 0;
    const r = await runCli(['scan', '.', '--verify', '--json'], { cwd: dir, env });
    expect(r.code).toBe(1);
    expect(requests.sort()).toEqual(['GET api.github.com/user', 'GET api.github.com/user']);
    const findings = (JSON.parse(r.stdout) as Report).findings;
    expect(findings.map((f) => [f.file, f.verification])).toEqual([
      ['z-live.env', 'live'],
      ['a-old.env', 'revoked'],
      ['b-aws.env', undefined],
      ['c-copy.env', 'revoked'],
    ]);
  });

  it('puts live keys first in the text report and says so; SARIF carries the result', async () => {
    const text = await runCli(['scan', '.', '--verify'], { cwd: dir, env });
    expect(text.stdout.indexOf('z-live.env')).toBeLessThan(text.stdout.indexOf('a-old.env'));
    expect(text.stdout).toMatch(/z-live\.env\n.*LIVE/);
    expect(text.stdout).toContain('revoked');
    expect(text.stdout).not.toContain(live);
    const sarif = await runCli(['scan', '.', '--verify', '--format', 'sarif'], { cwd: dir, env });
    const results = (JSON.parse(sarif.stdout) as { runs: { results: { properties: { verification?: string } }[] }[] }).runs[0].results;
    expect(results.map((x) => x.properties.verification)).toEqual(['live', 'revoked', undefined, 'revoked']);
  });
});
