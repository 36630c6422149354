import { DaemonError } from '../../errors.js';
import { transportError, upstreamRequest, type UpstreamAnswer } from './upstream.js';
import type { ProviderProfile } from '../types.js';
import type { MintedCredential, Minter, MintPermission, MintRequest } from './types.js';

/**
 * AWS: temporary credentials from STS. The vault entry (provider `aws`) is a JSON object with the
 * long-lived `AccessKeyId` and `SecretAccessKey`, and optionally `RoleArn`, `ExternalId` and
 * `Region`. With a role, a grant calls AssumeRole with a session policy derived from its
 * permission; without one, GetFederationToken (scoped permissions: it takes a session policy) or
 * GetSessionToken (`release`: the user's own permissions). DurationSeconds is the grant's TTL,
 * raised to STS's 900-second minimum. The STS endpoint is the `aws` profile's `upstream`.
 * STS cannot revoke one set of temporary credentials: they end at their Expiration.
 */
const S3_READ = ['s3:GetObject', 's3:GetObjectVersion', 's3:ListBucket', 's3:GetBucketLocation'];
const S3_WRITE = [...S3_READ, 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'];
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

const PERMISSIONS: Record<string, MintPermission & { policy: (resource?: string) => object }> = {
  's3:read': {
    resource: true,
    summary: 's3:GetObject, s3:GetObjectVersion, s3:ListBucket, s3:GetBucketLocation on the bucket and its objects',
    policy: (bucket) => bucketPolicy(S3_READ, bucket!),
  },
  's3:write': {
    resource: true,
    summary: 'the s3:read actions plus s3:PutObject, s3:DeleteObject and multipart uploads on the bucket and its objects',
    policy: (bucket) => bucketPolicy(S3_WRITE, bucket!),
  },
  read: {
    resource: false,
    summary: 'Get*, List* and Describe* actions on every resource (within what the role or user may do)',
    policy: () => ({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['*:Get*', '*:List*', '*:Describe*'], Resource: '*' }] }),
  },
};

function bucketPolicy(actions: string[], bucket: string): object {
  if (!BUCKET.test(bucket)) throw new DaemonError('bad_request', `"${bucket}" is not an S3 bucket name`);
  return { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: actions, Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`] }] };
}

interface Root {
  AccessKeyId: string;
  SecretAccessKey: string;
  SessionToken?: string;
  RoleArn?: string;
  ExternalId?: string;
  MfaSerial?: string;
  Region?: string;
}

function parseRoot(r: MintRequest): Root {
  let root: Partial<Root>;
  try {
    root = JSON.parse(r.root) as Partial<Root>;
  } catch {
    root = {};
  }
  if (typeof root.AccessKeyId !== 'string' || typeof root.SecretAccessKey !== 'string') {
    throw new DaemonError('mint_failed', `vault entry ${r.entry.name} is not a JSON object with AccessKeyId and SecretAccessKey`, {
      hint: `Store {"AccessKeyId": "...", "SecretAccessKey": "...", "RoleArn": "..."} in it: keyward vault add ${r.entry.name} --provider aws --replace`,
    });
  }
  if (root.MfaSerial) {
    throw new DaemonError('unsupported', `vault entry ${r.entry.name} names an MFA device; keyward cannot prompt for its code yet`, {
      hint: 'Remove MfaSerial from the entry, or use a role whose trust policy does not require MFA.',
    });
  }
  return root as Root;
}

function stsEndpoint(profile: ProviderProfile): URL {
  try {
    return new URL(profile.upstream || 'https://sts.amazonaws.com');
  } catch {
    throw new DaemonError('bad_request', `provider aws: upstream "${profile.upstream}" is not a URL`);
  }
}

function xmlField(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return m?.[1].replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[e]!);
}

/** Signs and sends one STS query-API call; returns the response XML or throws naming STS's answer. */
async function callSts(r: MintRequest, root: Root, params: Record<string, string>): Promise<string> {
  const endpoint = stsEndpoint(r.profile);
  const region = r.entry.attributes?.region ?? root.Region ?? 'us-east-1';
  const body = new URLSearchParams({ ...params, Version: '2011-06-15' }).toString();
  // Loaded on the first mint: daemons without AWS entries never pay for it.
  const [{ SignatureV4 }, { Hash }] = await Promise.all([import('@smithy/signature-v4'), import('@smithy/hash-node')]);
  const signer = new SignatureV4({
    service: 'sts',
    region,
    sha256: Hash.bind(null, 'sha256'),
    credentials: { accessKeyId: root.AccessKeyId, secretAccessKey: root.SecretAccessKey, sessionToken: root.SessionToken },
  });
  const signed = await signer.sign({
    method: 'POST',
    protocol: endpoint.protocol,
    hostname: endpoint.hostname,
    port: endpoint.port ? Number(endpoint.port) : undefined,
    path: endpoint.pathname || '/',
    headers: { host: endpoint.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body,
  });
  let answer: UpstreamAnswer;
  try {
    answer = await upstreamRequest(endpoint, { method: 'POST', headers: signed.headers, body, ca: r.profile.ca });
  } catch (error) {
    throw new DaemonError('mint_failed', `AWS STS at ${endpoint.origin} did not answer: ${transportError(error)}`, {
      hint: `Check the network, or the provider profile (providers/${r.profile.name}.yaml: upstream, ca).`,
    });
  }
  const text = answer.text;
  if (answer.status < 200 || answer.status > 299) {
    const code = xmlField(text, 'Code') ?? `HTTP ${answer.status}`;
    const message = xmlField(text, 'Message') ?? '';
    throw new DaemonError('mint_failed', `AWS STS refused ${params.Action} for ${r.entry.name}: ${code}${message ? `: ${message}` : ''}`, {
      hint: 'Check the role ARN and its trust policy, and that the stored key may call STS.',
    });
  }
  return text;
}

export const awsStsMinter: Minter = {
  kind: 'aws-sts',
  proxy: false,
  applies: (entry) => entry.provider === 'aws' || entry.attributes?.mint === 'aws-sts',
  permissions: () => Object.fromEntries(Object.entries(PERMISSIONS).map(([k, v]) => [k, { resource: v.resource, summary: v.summary }])),

  async mint(r: MintRequest): Promise<MintedCredential> {
    const root = parseRoot(r);
    const scoped = PERMISSIONS[r.permission];
    const policy = scoped ? JSON.stringify(scoped.policy(r.resource)) : undefined;
    const duration = String(Math.max(900, Math.ceil((r.expires - r.issued) / 1000)));
    const roleArn = r.entry.attributes?.roleArn ?? root.RoleArn;
    let params: Record<string, string>;
    if (roleArn) {
      const externalId = r.entry.attributes?.externalId ?? root.ExternalId;
      params = { Action: 'AssumeRole', RoleArn: roleArn, RoleSessionName: `keyward-${r.grant}`, DurationSeconds: duration, ...(policy ? { Policy: policy } : {}) };
      if (externalId) params.ExternalId = externalId;
    } else if (policy) {
      params = { Action: 'GetFederationToken', Name: `keyward-${r.grant}`.slice(0, 32), DurationSeconds: duration, Policy: policy };
    } else {
      params = { Action: 'GetSessionToken', DurationSeconds: duration };
    }
    const xml = await callSts(r, root, params);
    const AccessKeyId = xmlField(xml, 'AccessKeyId');
    const SecretAccessKey = xmlField(xml, 'SecretAccessKey');
    const SessionToken = xmlField(xml, 'SessionToken');
    const Expiration = xmlField(xml, 'Expiration');
    const expires = Expiration ? Date.parse(Expiration) : NaN;
    if (!AccessKeyId || !SecretAccessKey || !SessionToken || !Number.isFinite(expires)) {
      throw new DaemonError('mint_failed', `AWS STS answered ${params.Action} without a complete set of credentials`);
    }
    const region = r.entry.attributes?.region ?? root.Region;
    return {
      kind: this.kind,
      secret: JSON.stringify({ AccessKeyId, SecretAccessKey, SessionToken, Expiration: new Date(expires).toISOString() }),
      expires,
      ids: { accessKeyId: AccessKeyId, action: params.Action, ...(roleArn ? { role: roleArn } : {}), upstreamExpires: new Date(expires).toISOString() },
      env: { AWS_ACCESS_KEY_ID: AccessKeyId, AWS_SECRET_ACCESS_KEY: SecretAccessKey, AWS_SESSION_TOKEN: SessionToken, ...(region ? { AWS_REGION: region } : {}) },
    };
  },
};
