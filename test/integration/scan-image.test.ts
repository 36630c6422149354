import { X509Certificate } from 'node:crypto';
import { gzipSync, gunzipSync } from 'node:zlib';
import { createServer, type Server } from 'node:http';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../helpers/cli.js';
import { freePort, issueToken, manifestOf, push, readIndex, removeTree, run, runAsync, startRegistry, tag, writeBlob, type Registry } from '../helpers/images.js';
import { Image, writeDockerArchive, writeLayout, writeOciArchive } from '../helpers/oci.js';
import { haveTools } from '../helpers/tools.js';
import { checksummedToken, githubToken, randomAlnum } from '../helpers/secrets.js';

interface Finding {
  ruleId: string;
  file: string;
  secret: string;
  source: string;
  keyPath?: string;
  image?: string;
  imageDigest?: string;
  layer?: string;
  layerIndex?: number;
  layerCommand?: string;
  deletedInLayer?: number;
  migratable: boolean;
}
interface Report {
  scan: {
    mode: string;
    partial: boolean;
    stats: { files: number; layers?: number };
    issues: { path?: string; message: string }[];
    images?: { image: string; digest?: string; platform?: string; layers: number; reusedLayers: number; layerBytes: number }[];
  };
  findings: Finding[];
}
const json = (stdout: string) => JSON.parse(stdout) as Report;

/**
 * One image, written as a build would make it:
 *   layer 0  base files
 *   layer 1  app/.env with a GitHub token, created by a RUN line that leaks an npm token as a build arg
 *   config   Env API_TOKEN=…
 *   layer 2  (v2 only) deletes app/.env: a whiteout
 */
describe('keyward scan image', () => {
  let work: string;
  let layout: string;
  const github = githubToken();
  const npm = checksummedToken('npm_');
  const apiToken = randomAlnum(32);
  const labelToken = randomAlnum(30);
  const entrypointKey = randomAlnum(34);
  const password = randomAlnum(20);
  let v2: Image;
  const host = process.arch === 'arm64' ? 'arm64' : 'amd64';
  const other = host === 'amd64' ? 'arm64' : 'amd64';

  beforeAll(() => {
    work = tempDir('keyward-image-');
    layout = join(work, 'layout');
    const base = Image.empty().add({ 'etc/os-release': 'NAME="Test Linux"\n', 'usr/share/doc/readme.txt': 'nothing to see\n' }, 'ADD rootfs.tar /');
    // The config steps are empty layers in the history, as a build records ENV, LABEL and ENTRYPOINT.
    const v1 = base
      .add({ 'app/.env': `GITHUB_TOKEN=${github}\n`, 'app/server.js': 'console.log("hi")\n' }, `RUN |1 NPM_TOKEN=${npm} /bin/sh -c npm ci`)
      .configure({ Env: [`API_TOKEN=${apiToken}`], Labels: { 'org.acme.deploy_token': labelToken } })
      .configure({ Entrypoint: ['node', 'server.js', `--api-key=${entrypointKey}`] });
    v2 = v1.add({ 'app/.env': null }, 'RUN /bin/sh -c rm app/.env');
    writeLayout(layout, 'base', base);
    writeLayout(layout, 'v1', v1);
    writeLayout(layout, 'v2', v2);
    // A multi-platform index over the two manifests: v1 for this machine, v2 for the other.
    const desc = (m: { digest: string }, arch: string) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: m.digest,
      size: readFileSync(join(layout, 'blobs', 'sha256', m.digest.split(':')[1])).length,
      platform: { os: 'linux', architecture: arch },
    });
    const index = writeBlob(
      layout,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [desc(manifestOf(layout, 'v1'), host), desc(manifestOf(layout, 'v2'), other)],
      }),
    );
    tag(layout, 'multi', { mediaType: 'application/vnd.oci.image.index.v1+json', ...index });
  });
  afterAll(() => removeTree(work));

  const expectV2Findings = (report: Report, image: string) => {
    const v2 = manifestOf(layout, 'v2').manifest;
    const env = report.findings.find((f) => f.file === 'app/.env');
    expect(env).toMatchObject({ ruleId: 'github-classic-pat', source: 'image', image, layerIndex: 1, deletedInLayer: 2, migratable: false });
    expect(env?.layerCommand).toContain('npm ci');
    expect(env?.imageDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    return { env, v2 };
  };

  it('scans an OCI layout: layer files, config Env and build history; a whiteout does not hide a secret', async () => {
    const r = await runCli(['scan', 'image', 'layout:v2', '--json', '--show-secrets'], { cwd: work });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const report = json(r.stdout);
    expect(report.scan.mode).toBe('image');
    expect(report.scan.partial).toBe(false);
    const { env, v2 } = expectV2Findings(report, 'layout:v2');
    expect(env?.secret).toBe(github);
    expect(env?.layer).toBe(v2.layers[1].digest);
    expect(env?.imageDigest).toBe(manifestOf(layout, 'v2').digest);
    const config = report.findings.filter((f) => f.file === '(image config)').map((f) => [f.keyPath, f.ruleId, f.secret, f.layerIndex]);
    expect(config.sort()).toEqual(
      [
        ['config.Entrypoint[2]', 'cli-secret-flag', entrypointKey, undefined],
        ['config.Env[0]', 'generic-secret-assignment', apiToken, undefined],
        ['config.Labels["org.acme.deploy_token"]', 'generic-secret-assignment', labelToken, undefined],
        ['history[1].created_by', 'npm-access-token', npm, 1],
      ].sort(),
    );
    expect(report.scan.images).toMatchObject([{ image: 'layout:v2', layers: 3, reusedLayers: 0 }]);
  });

  it('marks nothing deleted in the image before the whiteout, and scans shared layers once', async () => {
    const r = await runCli(['scan', 'image', 'layout:v1', 'layout:v2', '--json'], { cwd: work });
    const report = json(r.stdout);
    const envs = report.findings.filter((f) => f.file === 'app/.env');
    expect(envs.map((f) => [f.image, f.deletedInLayer])).toEqual([
      ['layout:v1', undefined],
      ['layout:v2', 2],
    ]);
    expect(report.scan.stats.layers).toBe(3);
    expect(report.scan.images?.map((i) => [i.layers, i.reusedLayers])).toEqual([
      [2, 0],
      [3, 2],
    ]);
  });

  it('finds the same with layers on worker threads as on one thread', async () => {
    const strip = (r: Report) => ({ findings: r.findings, stats: r.scan.stats, issues: r.scan.issues });
    const one = json((await runCli(['scan', 'image', 'layout:v1', 'layout:v2', '--json', '--threads', '1'], { cwd: work })).stdout);
    const two = json((await runCli(['scan', 'image', 'layout:v1', 'layout:v2', '--json', '--threads', '2'], { cwd: work })).stdout);
    expect(strip(two)).toEqual(strip(one));
    expect(one.findings.length).toBeGreaterThan(3);
  });

  it('says so in the text report, redacted', async () => {
    const r = await runCli(['scan', 'image', 'layout:v2'], { cwd: work });
    expect(r.stdout).toContain('layout:v2 app/.env');
    expect(r.stdout).toMatch(/in layer #1 sha256:[0-9a-f]{12}…, deleted by a whiteout in layer #2 \(still in the image\) created by: RUN \|1 NPM_TOKEN=npm_/);
    expect(r.stdout).toMatch(/image layout:v2 sha256:[0-9a-f]{12}…: 3 layers/);
    for (const secret of [github, apiToken]) expect(r.stdout + r.stderr).not.toContain(secret);
  });

  it('reads zstd layers', async () => {
    writeLayout(join(work, 'zstd-layout'), 'v2', v2, { compression: 'zstd' });
    expect(manifestOf(join(work, 'zstd-layout'), 'v2').manifest.layers[1].mediaType).toContain('zstd');
    const r = await runCli(['scan', 'image', 'zstd-layout:v2', '--json'], { cwd: work });
    expectV2Findings(json(r.stdout), 'zstd-layout:v2');
  });

  it('reads a docker-archive (docker save) by following manifest.json, with uncompressed layers', async () => {
    writeDockerArchive(join(work, 'app.docker.tar'), 'app:v2', v2);
    const r = await runCli(['scan', 'image', 'app.docker.tar', '--json'], { cwd: work });
    const report = json(r.stdout);
    const { env } = expectV2Findings(report, 'app.docker.tar');
    // In a docker archive a layer is named by its diff id: the digest of the uncompressed tar.
    const config = JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', manifestOf(layout, 'v2').manifest.config.digest.split(':')[1]), 'utf8'));
    expect(env?.layer).toBe(config.rootfs.diff_ids[1]);
    const tagged = await runCli(['scan', 'image', 'app.docker.tar:v2', '--json'], { cwd: work });
    expect(tagged.code).toBe(1);
  });

  it('reads an OCI archive', async () => {
    writeOciArchive(join(work, 'app.oci.tar'), 'v2', v2);
    const r = await runCli(['scan', 'image', 'app.oci.tar:v2', '--json'], { cwd: work });
    expectV2Findings(json(r.stdout), 'app.oci.tar:v2');
  });

  it("scans the platform asked for in a multi-platform index of a layout, by default this machine's", async () => {
    const mine = json((await runCli(['scan', 'image', 'layout:multi', '--json'], { cwd: work })).stdout);
    expect(mine.scan.images?.[0]).toMatchObject({ platform: `linux/${host}`, digest: manifestOf(layout, 'v1').digest, layers: 2 });
    const theirs = json((await runCli(['scan', 'image', 'layout:multi', '--platform', `linux/${other}`, '--json'], { cwd: work })).stdout);
    expect(theirs.scan.images?.[0]).toMatchObject({ platform: `linux/${other}`, digest: manifestOf(layout, 'v2').digest, layers: 3 });
    expect(theirs.findings.find((f) => f.file === 'app/.env')?.deletedInLayer).toBe(2);
  });

  // The subject here is a real registry (docker-registry) and what it serves; skopeo pushes to it.
  describe.skipIf(!haveTools('keyward scan image from a registry', ['docker-registry', 'skopeo', 'htpasswd', 'openssl']))('from a registry', () => {
    let registry: Registry;
    let authRegistry: Registry;
    beforeAll(async () => {
      registry = await startRegistry(join(work, 'registry'));
      authRegistry = await startRegistry(join(work, 'auth-registry'), { user: 'ci', password });
    });
    afterAll(async () => {
      await registry?.stop();
      await authRegistry?.stop();
    });

    it('pulls from a registry over the Distribution API', async () => {
      push(work, 'oci:layout:v2', `docker://127.0.0.1:${registry.port}/acme/app:v2`);
      const image = `registry://127.0.0.1:${registry.port}/acme/app:v2`;
      const r = await runCli(['scan', 'image', image, '--insecure', '--json'], { cwd: work });
      expect(r.stderr).toBe('');
      const report = json(r.stdout);
      expectV2Findings(report, image);
      expect(report.findings.filter((f) => f.file === '(image config)')).toHaveLength(4);

      // Without --insecure, keyward speaks TLS, and says what to do when the registry does not.
      const tls = await runCli(['scan', 'image', image, '--json'], { cwd: work });
      expect(tls.code).toBe(2);
      expect(json(tls.stdout).scan.issues[0].message).toMatch(/TLS failed.*a registry without TLS needs --insecure/);
    });

    it('answers htpasswd (Basic) authentication from --authfile, and never shows the password', async () => {
      push(work, 'oci:layout:v1', `docker://127.0.0.1:${authRegistry.port}/app:v1`, { creds: `ci:${password}` });
      const image = `registry://127.0.0.1:${authRegistry.port}/app:v1`;
      const denied = await runCli(['scan', 'image', image, '--insecure', '--json'], { cwd: work });
      expect(denied.code).toBe(2);
      expect(json(denied.stdout).scan.issues).toEqual([
        { path: image, message: `127.0.0.1:${authRegistry.port}: the registry needs credentials (401 Unauthorized); give them with --authfile` },
      ]);

      const auth = Buffer.from(`ci:${password}`).toString('base64');
      writeFileSync(join(work, 'auth.json'), JSON.stringify({ auths: { [`127.0.0.1:${authRegistry.port}`]: { auth } } }));
      const r = await runCli(['scan', 'image', image, '--insecure', '--authfile', 'auth.json', '--json'], { cwd: work });
      expect(r.code).toBe(1);
      expect(json(r.stdout).findings.map((f) => f.file)).toContain('app/.env');

      writeFileSync(
        join(work, 'wrong.json'),
        JSON.stringify({ auths: { [`127.0.0.1:${authRegistry.port}`]: { auth: Buffer.from('ci:wrong-password-here').toString('base64') } } }),
      );
      const wrong = await runCli(['scan', 'image', image, '--insecure', '--authfile', 'wrong.json', '--json'], { cwd: work });
      expect(wrong.code).toBe(2);
      expect(json(wrong.stdout).scan.issues[0].message).toContain('401');
      for (const out of [denied, r, wrong]) {
        expect(out.stdout + out.stderr).not.toContain(password);
        expect(out.stdout + out.stderr).not.toContain(auth);
        expect(out.stdout + out.stderr).not.toContain('wrong-password-here');
      }
    });

    it("scans the platform asked for in a multi-platform index, by default this machine's", async () => {
      const v1 = manifestOf(layout, 'v1');
      const v2 = manifestOf(layout, 'v2');
      push(work, 'oci:layout:multi', `docker://127.0.0.1:${registry.port}/acme/multi:1.0`, { all: true });
      const image = `registry://127.0.0.1:${registry.port}/acme/multi:1.0`;

      const mine = json((await runCli(['scan', 'image', image, '--insecure', '--json'], { cwd: work })).stdout);
      expect(mine.scan.images?.[0]).toMatchObject({ platform: `linux/${host}`, digest: v1.digest, layers: 2 });
      expect(mine.findings.find((f) => f.file === 'app/.env')?.deletedInLayer).toBeUndefined();

      const theirs = json((await runCli(['scan', 'image', image, '--insecure', '--platform', `linux/${other}`, '--json'], { cwd: work })).stdout);
      expect(theirs.scan.images?.[0]).toMatchObject({ platform: `linux/${other}`, digest: v2.digest, layers: 3 });
      expect(theirs.findings.find((f) => f.file === 'app/.env')?.deletedInLayer).toBe(2);

      const none = await runCli(['scan', 'image', image, '--insecure', '--platform', 'linux/s390x', '--json'], { cwd: work });
      expect(none.code).toBe(2);
      expect(json(none.stdout).scan.issues[0].message).toMatch(/no linux\/s390x image in this multi-platform index \(it has: linux\/\w+, linux\/\w+\); pick one with --platform/);
    });

    it('gets a Bearer token from the realm a token-auth registry names, with the --authfile credentials', async () => {
      const dir = join(work, 'token');
      run(work, 'mkdir', '-p', dir);
      run(dir, 'openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=keyward-test-token');
      const key = readFileSync(join(dir, 'key.pem'), 'utf8');
      const der = new X509Certificate(readFileSync(join(dir, 'cert.pem'))).raw;
      const requests: { authorized: boolean }[] = [];
      const tokenServer = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://localhost');
        const authorized = req.headers.authorization === `Basic ${Buffer.from(`ci:${password}`).toString('base64')}`;
        requests.push({ authorized });
        if (!authorized) return res.writeHead(401).end();
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: issueToken(url.searchParams, key, der, 'keyward-test-issuer') }));
      });
      const tokenPort = await freePort();
      await new Promise<void>((r) => tokenServer.listen(tokenPort, '127.0.0.1', r));
      const tokenRegistry = await startRegistry(join(dir, 'registry'), {
        token: { realm: `http://127.0.0.1:${tokenPort}/token`, service: 'keyward-test-registry', issuer: 'keyward-test-issuer', certificate: join(dir, 'cert.pem') },
      });
      try {
        await runAsync(
          work,
          'skopeo',
          'copy',
          '--quiet',
          '--dest-tls-verify=false',
          '--dest-creds',
          `ci:${password}`,
          'oci:layout:v2',
          `docker://127.0.0.1:${tokenRegistry.port}/acme/app:v2`,
        );
        const image = `registry://127.0.0.1:${tokenRegistry.port}/acme/app:v2`;
        writeFileSync(join(dir, 'auth.json'), JSON.stringify({ auths: { [`127.0.0.1:${tokenRegistry.port}`]: { auth: Buffer.from(`ci:${password}`).toString('base64') } } }));
        requests.length = 0;
        // runCli and runAsync spawn without blocking: the token service in this process keeps answering.
        const r = await runCli(['scan', 'image', image, '--insecure', '--authfile', join(dir, 'auth.json'), '--json'], { cwd: work });
        expect(r.code).toBe(1);
        expectV2Findings(json(r.stdout), image);
        expect(requests.length).toBeGreaterThan(0);
        expect(requests.every((q) => q.authorized)).toBe(true);
        expect(r.stdout + r.stderr).not.toContain(password);

        const anonymous = await runCli(['scan', 'image', image, '--insecure', '--json'], { cwd: work });
        expect(anonymous.code).toBe(2);
        expect(json(anonymous.stdout).scan.issues[0].message).toBe(`127.0.0.1:${tokenPort}: the token service answered 401; check the credentials in --authfile`);
      } finally {
        await tokenRegistry.stop();
        tokenServer.close();
      }
    });

    it('answers a missing image with the 404 the registry gave', async () => {
      const r = await runCli(['scan', 'image', `registry://127.0.0.1:${registry.port}/acme/nope:latest`, 'layout:base', '--insecure', '--json'], { cwd: work });
      expect(r.code).toBe(2);
      expect(json(r.stdout).scan.issues.map((i) => i.message)).toEqual([`127.0.0.1:${registry.port}: /v2/acme/nope/manifests/latest not found (404)`]);
    });
  });

  describe('bad input: a message per item, the rest goes on, the exit code says partial', () => {
    const copyLayout = (name: string) => {
      cpSync(layout, join(work, name), { recursive: true });
      return join(work, name);
    };
    const blobPath = (dir: string, digest: string) => join(dir, 'blobs', 'sha256', digest.split(':')[1]);

    it('a corrupt gzip layer', async () => {
      const dir = copyLayout('corrupt');
      const { manifest } = manifestOf(dir, 'v2');
      const blob = readFileSync(blobPath(dir, manifest.layers[1].digest));
      for (let i = 20; i < blob.length - 8; i += 3) blob[i] ^= 0xa5;
      writeFileSync(blobPath(dir, manifest.layers[1].digest), blob);
      const r = await runCli(['scan', 'image', 'corrupt:v2', '--json'], { cwd: work });
      expect(r.code).toBe(1); // the config still has findings
      const report = json(r.stdout);
      expect(report.scan.partial).toBe(true);
      expect(report.scan.issues).toHaveLength(1);
      expect(report.scan.issues[0].path).toMatch(/^corrupt:v2 layer #1 \(sha256:[0-9a-f]{12}…\)$/);
      expect(report.scan.issues[0].message).toMatch(/^corrupt gzip data|^not a tar archive or corrupt/);
      expect(report.scan.stats.layers).toBe(3);
    });

    it('a truncated layer tar', async () => {
      const dir = copyLayout('truncated');
      const { manifest } = manifestOf(dir, 'v1');
      const tar = gunzipSync(readFileSync(blobPath(dir, manifest.layers[1].digest)));
      writeFileSync(blobPath(dir, manifest.layers[1].digest), gzipSync(tar.subarray(0, 700)));
      const r = await runCli(['scan', 'image', 'truncated:v1', '--json'], { cwd: work });
      const report = json(r.stdout);
      expect(report.scan.issues.map((i) => i.message)).toEqual([expect.stringMatching(/^truncated tar: it ends (in the middle of app\/|at byte 700)/)]);
    });

    it('a manifest pointing at a missing blob', async () => {
      const dir = copyLayout('missing');
      const { manifest } = manifestOf(dir, 'v2');
      rmSync(blobPath(dir, manifest.layers[0].digest));
      const r = await runCli(['scan', 'image', 'missing:v2', '--json'], { cwd: work });
      const report = json(r.stdout);
      expect(report.scan.issues).toEqual([{ path: expect.stringMatching(/^missing:v2 layer #0/), message: `blob ${manifest.layers[0].digest} is missing from the layout` }]);
      expect(report.findings.some((f) => f.file === 'app/.env')).toBe(true);
    });

    it('an image declaring 10 GB of layers', async () => {
      const dir = copyLayout('huge');
      const { manifest } = manifestOf(dir, 'v1');
      const big = { ...manifest, layers: manifest.layers.map((l, i) => (i === 1 ? { ...l, size: 10 * 1024 ** 3 } : l)) };
      const blob = writeBlob(dir, JSON.stringify(big));
      tag(dir, 'huge', { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...blob });
      const r = await runCli(['scan', 'image', 'huge:huge', 'layout:base', '--json'], { cwd: work });
      expect(r.code).toBe(2);
      const report = json(r.stdout);
      expect(report.scan.issues).toEqual([{ path: 'huge:huge', message: 'its layers declare 10.00 GB, more than --max-image-size 8.00 GB: not scanned' }]);
      expect(report.scan.images?.map((i) => i.image)).toEqual(['huge:huge', 'layout:base']);
    });

    it('a registry answering 500, or not at all', async () => {
      const hanging: Server = createServer(() => {
        /* never answers */
      });
      const failing: Server = createServer((_req, res) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
      });
      const hangPort = await freePort();
      const failPort = await freePort();
      await new Promise<void>((r) => hanging.listen(hangPort, '127.0.0.1', r));
      await new Promise<void>((r) => failing.listen(failPort, '127.0.0.1', r));
      try {
        const started = Date.now();
        const r = await runCli(
          ['scan', 'image', `registry://127.0.0.1:${failPort}/app:1`, `registry://127.0.0.1:${hangPort}/app:1`, 'layout:base', '--insecure', '--timeout', '1', '--json'],
          { cwd: work },
        );
        expect(Date.now() - started).toBeLessThan(15_000);
        expect(r.code).toBe(2);
        const messages = json(r.stdout).scan.issues.map((i) => i.message);
        expect(messages).toEqual([`127.0.0.1:${failPort}: /v2/app/manifests/1 answered 500 Internal Server Error`, `127.0.0.1:${hangPort}: no answer within 1 s`]);
      } finally {
        hanging.closeAllConnections();
        hanging.close();
        failing.close();
      }
    });

    it('a registry that stops sending in the middle of a layer', async () => {
      const { digest, manifest } = manifestOf(layout, 'v1');
      const blob = (d: string) => readFileSync(join(layout, 'blobs', 'sha256', d.split(':')[1]));
      const stalled: Server = createServer((req, res) => {
        const url = req.url ?? '';
        if (url === '/v2/') return res.writeHead(200).end('{}');
        if (url.startsWith('/v2/app/manifests/')) {
          return res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': digest }).end(blob(digest));
        }
        const d = url.split('/blobs/')[1];
        if (d === manifest.config.digest) return res.writeHead(200).end(blob(d));
        // A layer: half of it, then nothing.
        const data = blob(d);
        res.writeHead(200, { 'content-length': String(data.length) });
        res.write(data.subarray(0, data.length >> 1));
      });
      const port = await freePort();
      await new Promise<void>((r) => stalled.listen(port, '127.0.0.1', r));
      try {
        const started = Date.now();
        const r = await runCli(['scan', 'image', `registry://127.0.0.1:${port}/app:v1`, '--insecure', '--timeout', '1', '--json'], { cwd: work });
        expect(Date.now() - started).toBeLessThan(15_000);
        const report = json(r.stdout);
        expect(report.scan.partial).toBe(true);
        const messages = report.scan.issues.map((i) => i.message);
        expect(messages).toHaveLength(2);
        for (const m of messages) expect(m).toMatch(new RegExp(`^127\\.0\\.0\\.1:${port}: /v2/app/blobs/sha256:[0-9a-f]{64} stopped sending for 1 s$`));
        // The config was read whole: its findings are there.
        expect(report.findings.some((f) => f.file === '(image config)')).toBe(true);
      } finally {
        stalled.closeAllConnections();
        stalled.close();
      }
    });

    it('something that is not an image', async () => {
      writeFileSync(join(work, 'notes.txt'), 'hello\n'.repeat(200));
      const r = await runCli(['scan', 'image', 'notes.txt', 'nowhere:v1', '--json'], { cwd: work });
      expect(r.code).toBe(2);
      expect(json(r.stdout).scan.issues.map((i) => i.path)).toEqual(['notes.txt', 'nowhere:v1']);
      expect(json(r.stdout).scan.issues[1].message).toBe('no such image layout, archive or file');
      const index = readIndex(layout);
      expect(index.manifests.length).toBeGreaterThan(0);
    });
  });
});
