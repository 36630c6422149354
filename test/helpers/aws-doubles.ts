import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';

/**
 * Loopback stand-ins for AWS STS and S3. Each request's SigV4 signature is checked with the
 * verifier below, written from AWS's signing documentation and sharing no code with the signer
 * keyward uses (@smithy/signature-v4). STS issues temporary credentials it remembers; S3 accepts
 * only those, with their session token.
 */
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export interface Keys {
  secret: string;
  token?: string;
}

export interface SigV4Result {
  ok: boolean;
  accessKeyId?: string;
  why?: string;
}

/** Checks a request's Authorization header against the secret of the access key it names. */
export function verifySigV4(req: IncomingMessage, body: Buffer, service: string, keyFor: (accessKeyId: string) => Keys | undefined): SigV4Result {
  const auth = req.headers.authorization ?? '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return { ok: false, why: 'no SigV4 Authorization header' };
  const [, accessKeyId, date, region, svc, signedHeaders, signature] = m;
  if (svc !== service) return { ok: false, accessKeyId, why: `signed for service ${svc}` };
  const keys = keyFor(accessKeyId);
  if (!keys) return { ok: false, accessKeyId, why: 'unknown access key' };
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  if (!amzDate.startsWith(date)) return { ok: false, accessKeyId, why: 'x-amz-date does not match the credential scope' };
  if (Math.abs(Date.parse(amzDate.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z')) - Date.now()) > 5 * 60_000)
    return { ok: false, accessKeyId, why: 'clock skew' };
  const names = signedHeaders.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date')) return { ok: false, accessKeyId, why: 'host and x-amz-date must be signed' };
  if (keys.token !== undefined && (!names.includes('x-amz-security-token') || req.headers['x-amz-security-token'] !== keys.token)) {
    return { ok: false, accessKeyId, why: 'session token missing or wrong' };
  }
  const url = new URL(req.url ?? '/', 'http://x');
  const path = url.pathname
    .split('/')
    .map((seg) => rfc3986(decodeURIComponent(seg)))
    .join('/');
  const query = [...url.searchParams.entries()]
    .map(([k, v]) => [rfc3986(k), rfc3986(v)])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const headers = names
    .map(
      (n) =>
        `${n}:${String(req.headers[n] ?? '')
          .trim()
          .replace(/\s+/g, ' ')}\n`,
    )
    .join('');
  const payload = service === 's3' ? String(req.headers['x-amz-content-sha256'] ?? sha256(body)) : sha256(body);
  if (payload !== 'UNSIGNED-PAYLOAD' && payload !== sha256(body)) return { ok: false, accessKeyId, why: 'payload hash mismatch' };
  const canonical = [req.method, path || '/', query, headers, signedHeaders, payload].join('\n');
  const scope = `${date}/${region}/${svc}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${keys.secret}`, date), region), svc), 'aws4_request');
  const expected = createHmac('sha256', key).update(toSign).digest('hex');
  return expected === signature ? { ok: true, accessKeyId } : { ok: false, accessKeyId, why: 'signature does not match' };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

const errorXml = (code: string, message: string) => `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error></ErrorResponse>`;

export interface StsCall {
  action: string;
  accessKeyId?: string;
  params: Record<string, string>;
  verified: boolean;
  why?: string;
}

export interface Issued {
  accessKeyId: string;
  secret: string;
  token: string;
  expiration: string;
  policy?: string;
}

export interface AwsDoubles {
  stsUrl: string;
  s3Url: string;
  calls: StsCall[];
  issued: Issued[];
  s3Requests: { method: string; path: string; accessKeyId?: string; verified: boolean; why?: string }[];
  close(): Promise<void>;
}

const listen = (server: Server) => new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)));

export async function startAwsDoubles(root: { accessKeyId: string; secret: string }, options: { deniedRoles?: string[] } = {}): Promise<AwsDoubles> {
  const calls: StsCall[] = [];
  const issued: Issued[] = [];
  const s3Requests: AwsDoubles['s3Requests'] = [];
  const sts = createServer((req, res) => {
    void readBody(req).then((body) => {
      const params = Object.fromEntries(new URLSearchParams(body.toString('utf8')));
      const check = verifySigV4(req, body, 'sts', (id) => (id === root.accessKeyId ? { secret: root.secret } : undefined));
      calls.push({ action: params.Action, accessKeyId: check.accessKeyId, params, verified: check.ok, why: check.why });
      res.setHeader('content-type', 'text/xml');
      if (!check.ok) return void res.writeHead(403).end(errorXml('SignatureDoesNotMatch', check.why ?? 'bad signature'));
      if (params.Action === 'AssumeRole' && options.deniedRoles?.includes(params.RoleArn)) {
        return void res.writeHead(403).end(errorXml('AccessDenied', `User is not authorized to perform: sts:AssumeRole on resource: ${params.RoleArn}`));
      }
      if (!['AssumeRole', 'GetSessionToken', 'GetFederationToken'].includes(params.Action)) return void res.writeHead(400).end(errorXml('InvalidAction', params.Action));
      const duration = Number(params.DurationSeconds ?? 3600);
      if (duration < 900) return void res.writeHead(400).end(errorXml('ValidationError', 'DurationSeconds must be at least 900'));
      const creds: Issued = {
        accessKeyId: 'ASIA' + randomBytes(8).toString('hex').toUpperCase(),
        secret: randomBytes(30).toString('base64'),
        token: randomBytes(60).toString('base64'),
        expiration: new Date(Date.now() + duration * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
        policy: params.Policy,
      };
      issued.push(creds);
      const result = `<Credentials><AccessKeyId>${creds.accessKeyId}</AccessKeyId><SecretAccessKey>${creds.secret}</SecretAccessKey><SessionToken>${creds.token}</SessionToken><Expiration>${creds.expiration}</Expiration></Credentials>`;
      res
        .writeHead(200)
        .end(`<${params.Action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><${params.Action}Result>${result}</${params.Action}Result></${params.Action}Response>`);
    });
  });
  const s3 = createServer((req, res) => {
    void readBody(req).then((body) => {
      const check = verifySigV4(req, body, 's3', (id) => {
        const c = issued.find((x) => x.accessKeyId === id);
        return c ? { secret: c.secret, token: c.token } : undefined;
      });
      const url = new URL(req.url ?? '/', 'http://x');
      s3Requests.push({ method: req.method ?? '', path: url.pathname + url.search, accessKeyId: check.accessKeyId, verified: check.ok, why: check.why });
      res.setHeader('content-type', 'application/xml');
      if (!check.ok) return void res.writeHead(403).end(`<Error><Code>AccessDenied</Code><Message>${check.why}</Message></Error>`);
      const bucket = url.pathname.split('/')[1];
      res
        .writeHead(200)
        .end(
          `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${bucket}</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Contents><Key>report.csv</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"0"</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>`,
        );
    });
  });
  const [stsPort, s3Port] = await Promise.all([listen(sts), listen(s3)]);
  return {
    stsUrl: `http://127.0.0.1:${stsPort}`,
    s3Url: `http://127.0.0.1:${s3Port}`,
    calls,
    issued,
    s3Requests,
    close: async () => {
      await Promise.all([sts, s3].map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
