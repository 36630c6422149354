import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, tempDir } from '../helpers/cli.js';
import { HAS_KEYRING, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { startAwsDoubles, type AwsDoubles } from '../helpers/aws-doubles.js';
import { randomAlnum } from '../helpers/secrets.js';

const HAS_AWS_CLI = spawnSync('aws', ['--version']).status === 0;

function runAsync(cmd: string, args: string[], options: { env: NodeJS.ProcessEnv }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Every file under a directory, read as text: where the AWS CLI could have cached a key. */
function allText(dir: string): string {
  let text = '';
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    text += statSync(p).isDirectory() ? allText(p) : readFileSync(p, 'utf8');
  }
  return text;
}

describe.skipIf(!HAS_KEYRING)('AWS STS minting', { timeout: 90_000 }, () => {
  let d: TestDaemon;
  let aws: AwsDoubles;
  const root = { accessKeyId: 'AKIA' + randomAlnum(16).toUpperCase(), secret: randomAlnum(40) };
  const roleArn = 'arn:aws:iam::123456789012:role/agent-reader';

  beforeAll(async () => {
    aws = await startAwsDoubles(root, { deniedRoles: ['arn:aws:iam::123456789012:role/denied'] });
    // Configuration changes on disk wait for confirmation; files present at start are used at start,
    // so the provider profile pointing at the loopback double is written before the daemon starts.
    const { mkdirSync } = await import('node:fs');
    const home = tempDir('keyward-daemon-');
    mkdirSync(join(home, 'config', 'providers'), { recursive: true, mode: 0o700 });
    d = await startDaemon({
      home,
      files: {
        'config/policy.yaml': 'rules:\n  - { agent: "aws:*", credential: "aws-*", decision: allow, maxTtl: 30m }\n',
        'config/providers/aws.yaml': `upstream: ${aws.stsUrl}\n`,
      },
    });
    const add = async (name: string, value: object) => {
      const r = await d.cli(['vault', 'add', name, '--provider', 'aws'], { input: JSON.stringify(value) });
      expect(r.code, r.stderr).toBe(0);
    };
    await add('aws-default', { AccessKeyId: root.accessKeyId, SecretAccessKey: root.secret, RoleArn: roleArn });
    await add('aws-plain', { AccessKeyId: root.accessKeyId, SecretAccessKey: root.secret });
    await add('aws-denied', { AccessKeyId: root.accessKeyId, SecretAccessKey: root.secret, RoleArn: 'arn:aws:iam::123456789012:role/denied' });
  });
  afterAll(async () => {
    await d?.stop();
    await aws?.close();
  });

  it('aws-credentials returns STS temporary credentials with their real Expiration, from a signed AssumeRole with a session policy', async () => {
    const r = await d.cli(['aws-credentials', '--profile', 'default', '--permission', 's3:read:reports-bucket', '--ttl', '20m']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    const call = aws.calls.at(-1)!;
    expect(call).toMatchObject({ action: 'AssumeRole', accessKeyId: root.accessKeyId, verified: true });
    expect(call.params.RoleArn).toBe(roleArn);
    expect(call.params.DurationSeconds).toBe('1200');
    expect(call.params.RoleSessionName).toMatch(/^keyward-gr_/);
    expect(JSON.parse(call.params.Policy)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: ['s3:GetObject', 's3:GetObjectVersion', 's3:ListBucket', 's3:GetBucketLocation'],
          Resource: ['arn:aws:s3:::reports-bucket', 'arn:aws:s3:::reports-bucket/*'],
        },
      ],
    });
    const issued = aws.issued.at(-1)!;
    expect(out).toEqual({
      Version: 1,
      AccessKeyId: issued.accessKeyId,
      SecretAccessKey: issued.secret,
      SessionToken: issued.token,
      Expiration: new Date(issued.expiration).toISOString(),
    });
    expect(r.stdout).not.toContain(root.accessKeyId);
    expect(r.stdout).not.toContain(root.secret);
  });

  it("a grant's TTL under 15 minutes asks for STS's minimum; without a role, GetSessionToken (release) or GetFederationToken (scoped)", async () => {
    const plain = await d.cli(['aws-credentials', '--profile', 'plain', '--ttl', '2m']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(aws.calls.at(-1)).toMatchObject({ action: 'GetSessionToken', verified: true, params: { DurationSeconds: '900' } });
    expect(aws.calls.at(-1)!.params.Policy).toBeUndefined();
    const scoped = await d.cli(['aws-credentials', '--profile', 'plain', '--permission', 's3:write:uploads']);
    expect(scoped.code, scoped.stderr).toBe(0);
    expect(aws.calls.at(-1)).toMatchObject({ action: 'GetFederationToken', verified: true });
    expect(aws.calls.at(-1)!.params.Policy).toContain('arn:aws:s3:::uploads/*');
  });

  it('a refusal by STS names its answer, and nothing is printed', async () => {
    const r = await d.cli(['aws-credentials', '--profile', 'denied']);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('AccessDenied');
    expect(r.stderr).not.toContain(root.secret);
    const audit = readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8');
    expect(audit).toContain('"event":"grant.mint-failed"');
  });

  it('a bad signature is refused by the double (the verifier can fail)', async () => {
    const amzDate = new Date().toISOString().replace(/[-:]|\.\d+/g, '');
    const r = await fetch(aws.stsUrl, {
      method: 'POST',
      headers: {
        authorization: `AWS4-HMAC-SHA256 Credential=${root.accessKeyId}/${amzDate.slice(0, 8)}/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`,
        'x-amz-date': amzDate,
      },
      body: 'Action=GetSessionToken&Version=2011-06-15',
    });
    expect(r.status).toBe(403);
    expect(aws.calls.at(-1)).toMatchObject({ verified: false, why: 'signature does not match' });
  });

  it('keyward vault mint turns a stored key pair (as migrate leaves it) into an STS root', async () => {
    const value = JSON.stringify({ AccessKeyId: root.accessKeyId, SecretAccessKey: root.secret });
    expect((await d.cli(['vault', 'add', 'aws-migrated', '--provider', 'generic', '-a', 'helper=aws', '-a', 'profile=migrated'], { input: value })).code).toBe(0);
    const stored = await d.cli(['aws-credentials', '--profile', 'migrated']);
    expect(JSON.parse(stored.stdout).AccessKeyId).toBe(root.accessKeyId);
    const bad = await d.cli(['vault', 'mint', 'aws-migrated', '--role-arn', 'not-an-arn']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('is not an IAM role ARN');
    const mint = await d.cli(['vault', 'mint', 'aws-migrated', '--role-arn', 'arn:aws:iam::123456789012:role/migrated']);
    expect(mint.code, mint.stderr).toBe(0);
    const minted = await d.cli(['aws-credentials', '--profile', 'migrated']);
    expect(minted.code, minted.stderr).toBe(0);
    expect(JSON.parse(minted.stdout).AccessKeyId).toBe(aws.issued.at(-1)!.accessKeyId);
    expect(aws.calls.at(-1)).toMatchObject({ action: 'AssumeRole', verified: true, params: { RoleArn: 'arn:aws:iam::123456789012:role/migrated' } });
  }, 120_000);

  it('grant.issue and keyward grants name the temporary access key id, never a secret', async () => {
    const audit = readFileSync(join(d.home, 'state', 'audit.jsonl'), 'utf8');
    for (const c of aws.issued) {
      expect(audit).toContain(c.accessKeyId);
      expect(audit).not.toContain(c.secret);
      expect(audit).not.toContain(c.token);
    }
    expect(audit).not.toContain(root.secret);
  });

  it.skipIf(!HAS_AWS_CLI)(
    `the real aws CLI reaches an S3 double through credential_process with session credentials only${HAS_AWS_CLI ? '' : ' (skipped: aws CLI missing)'}`,
    async () => {
      const home = tempDir();
      const config = join(home, 'config');
      writeFileSync(
        config,
        `[default]\nregion = us-east-1\ncredential_process = "${process.execPath}" "${BIN}" aws-credentials --profile default --permission s3:read:reports-bucket\n`,
      );
      writeFileSync(join(home, 'credentials'), '');
      const before = aws.s3Requests.length;
      // Asynchronously: the doubles answer from this process's event loop.
      const r = await runAsync('aws', ['s3', 'ls', 's3://reports-bucket', '--endpoint-url', aws.s3Url], {
        env: { ...d.env, HOME: home, AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: join(home, 'credentials'), AWS_EC2_METADATA_DISABLED: 'true' },
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('report.csv');
      const requests = aws.s3Requests.slice(before);
      expect(requests.length).toBeGreaterThan(0);
      const minted = aws.issued.at(-1)!;
      for (const q of requests) expect(q).toMatchObject({ verified: true, accessKeyId: minted.accessKeyId });
      expect(r.stdout + r.stderr).not.toContain(root.accessKeyId);
      expect(allText(home)).not.toContain(root.accessKeyId);
    },
  );
});
