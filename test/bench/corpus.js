// Deterministic benchmark inputs: a source tree of realistic files with secrets sprinkled in, and
// a git repository with a long history. Same seed, same bytes, every run and every machine.
import { spawnSync, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** mulberry32: a small, fast, seedable PRNG. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'user account order invoice payment session cache config client server request response handler ' +
  'service repository model view controller router middleware logger metrics event queue worker job retry timeout ' +
  'buffer stream parser encoder decoder schema field value index table query filter sort page limit offset count ' +
  'api endpoint url host port path file dir name id type status error result'
).split(' ');
/**
 * Words that are rule keywords. Real code mentions them on about 2.6% of its lines (measured
 * with ripgrep and the rule keywords over node_modules: 27,762 of 1,085,156 lines), so the
 * generator uses them at that rate rather than as often as any other word.
 */
const KEYWORD_WORDS = 'token secret password credential apiKey accessKey authToken'.split(' ');
const KEYWORD_RATE = 0.006; // per word; ~5 words a line gives ~3% of lines
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function makeGen(seed) {
  const rand = prng(seed);
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const word = () => (rand() < KEYWORD_RATE ? pick(KEYWORD_WORDS) : pick(WORDS));
  const int = (n) => Math.floor(rand() * n);
  const ident = () => word() + word().replace(/^./, (c) => c.toUpperCase());
  const alnum = (n) => Array.from({ length: n }, () => ALNUM[int(62)]).join('');
  const sentence = () => Array.from({ length: 4 + int(10) }, word).join(' ');
  return { rand, pick, word, int, ident, alnum, sentence };
}

/** Secret-bearing lines of a few kinds (shapes only: random values, not real keys). */
function secretLine(g) {
  switch (g.int(5)) {
    case 0:
      return `const OPENAI_API_KEY = "sk-proj-${g.alnum(60)}T3BlbkFJ${g.alnum(60)}";`;
    case 1:
      return `aws_secret_access_key = ${g.alnum(40)}`;
    case 2:
      return `SLACK_BOT_TOKEN=xoxb-${1000000000 + g.int(9e9)}-${1000000000 + g.int(9e9)}-${g.alnum(24)}`;
    case 3:
      return `DATABASE_URL=postgres://app:${g.alnum(16)}@db.internal.example.net:5432/app`;
    default:
      return `api_key: "${g.alnum(32)}"`;
  }
}

const EXT = ['ts', 'js', 'py', 'go', 'yaml', 'json', 'md', 'java'];

function sourceFile(g, ext, targetBytes, secretChance) {
  const lines = [];
  let size = 0;
  while (size < targetBytes) {
    let line;
    const r = g.rand();
    if (r < secretChance) line = secretLine(g);
    else if (ext === 'md') line = g.sentence();
    else if (ext === 'json') line = `  "${g.ident()}": "${g.sentence()}",`;
    else if (ext === 'yaml') line = `${g.ident()}: ${g.pick(['true', 'false', g.int(1000), g.ident()])}`;
    else if (r < 0.2) line = `// ${g.sentence()}`;
    else if (r < 0.5) line = `  const ${g.ident()} = ${g.ident()}.${g.ident()}(${g.ident()}, ${g.int(100)});`;
    else if (r < 0.7) line = `  if (${g.ident()}.${g.word()} === "${g.word()}") { return ${g.ident()}; }`;
    else line = `function ${g.ident()}(${g.ident()}: ${g.pick(['string', 'number', 'Config', 'Request'])}) { ${g.ident()}.${g.word()}(); }`;
    lines.push(line);
    size += line.length + 1;
  }
  return lines.join('\n') + '\n';
}

function git(cwd, ...args) {
  execFileSync('git', ['-c', 'user.name=Bench', '-c', 'user.email=bench@keyward.dev', ...args], { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** A committed tree of about `megabytes` MB. Reused when it already exists for the same seed. */
export function makeTree(dir, megabytes, seed = 1) {
  const marker = join(dir, '.bench-tree');
  const stamp = `tree ${megabytes} ${seed} v3`;
  if (existsSync(marker) && readFileSync(marker, 'utf8') === stamp) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const g = makeGen(seed);
  let total = 0;
  let n = 0;
  while (total < megabytes * 1024 * 1024) {
    const ext = EXT[n % EXT.length];
    const sub = join(dir, `pkg${n % 50}`, `mod${Math.floor(n / 50) % 40}`);
    mkdirSync(sub, { recursive: true });
    const text = sourceFile(g, ext, 2000 + g.int(16000), 0.0005);
    writeFileSync(join(sub, `${g.ident()}${n}.${ext}`), text);
    total += text.length;
    n++;
  }
  git(dir, 'init', '-q');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'corpus');
  writeFileSync(marker, stamp);
  return dir;
}

/** A repository of `commits` commits built with git fast-import (seconds, not minutes). */
export function makeHistory(dir, commits, seed = 2) {
  const marker = join(dir, '.bench-history');
  const stamp = `history ${commits} ${seed} v3`;
  if (existsSync(marker) && readFileSync(marker, 'utf8') === stamp) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: dir });
  const g = makeGen(seed);
  const files = Array.from({ length: 400 }, (_, i) => `src/${g.ident()}${i}.${EXT[i % EXT.length]}`);
  const contents = new Map();
  const parts = [];
  const start = 1_600_000_000;
  for (let c = 0; c < commits; c++) {
    const changed = new Set(Array.from({ length: 1 + g.int(6) }, () => g.pick(files)));
    let body = '';
    for (const f of changed) {
      const ext = f.split('.').pop();
      const previous = contents.get(f) ?? '';
      // Mostly appends and edits of a few lines, sometimes a rewrite: like real history.
      const next = g.rand() < 0.1 || previous.length > 60000 ? sourceFile(g, ext, 3000 + g.int(20000), 0.002) : previous + sourceFile(g, ext, 200 + g.int(3000), 0.002);
      contents.set(f, next);
      const data = Buffer.from(next);
      body += `M 100644 inline ${f}\ndata ${data.length}\n${next}\n`;
    }
    const when = start + c * 3600;
    const msg = `change ${c}`;
    parts.push(`commit refs/heads/main\ncommitter Bench <bench@keyward.dev> ${when} +0000\ndata ${msg.length}\n${msg}\n${c > 0 ? '' : ''}${body}\n`);
  }
  const r = spawnSync('git', ['fast-import', '--quiet'], { cwd: dir, input: parts.join(''), maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`fast-import failed: ${r.stderr}`);
  execFileSync('git', ['reset', '-q', '--hard', 'main'], { cwd: dir });
  writeFileSync(marker, stamp);
  return dir;
}

/** A repository with a 10-file commit staged. */
export function makeStaged(dir, seed = 3) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const g = makeGen(seed);
  execFileSync('git', ['init', '-q'], { cwd: dir });
  for (let i = 0; i < 10; i++) writeFileSync(join(dir, `file${i}.ts`), sourceFile(g, 'ts', 4000, 0));
  git(dir, 'add', '-A');
  return dir;
}

/**
 * An OCI image layout of `layers` gzip layers holding about `megabytes` MB of files in all,
 * built with the system's tar and gzip. The files are the tree corpus (source text with the
 * same keyword density): the worst case for a scanner, which must read every byte of text,
 * while binaries would be skipped after their first 8000 bytes.
 */
export function makeImage(dir, megabytes, layers, seed = 4) {
  const marker = join(dir, '.bench-image');
  const stamp = `image ${megabytes} ${layers} ${seed} v1`;
  if (existsSync(marker) && readFileSync(marker, 'utf8') === stamp) return dir;
  rmSync(dir, { recursive: true, force: true });
  const blobs = join(dir, 'layout', 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const g = makeGen(seed);
  const descriptors = [];
  const diffIds = [];
  const history = [];
  for (let l = 0; l < layers; l++) {
    const root = join(dir, `rootfs${l}`);
    let total = 0;
    let n = 0;
    while (total < (megabytes * 1024 * 1024) / layers) {
      const ext = EXT[n % EXT.length];
      const sub = join(root, 'srv', `app${l}`, `pkg${n % 30}`);
      mkdirSync(sub, { recursive: true });
      const text = sourceFile(g, ext, 2000 + g.int(16000), 0.0005);
      writeFileSync(join(sub, `${g.ident()}${n}.${ext}`), text);
      total += text.length;
      n++;
    }
    const tarFile = join(dir, `layer${l}.tar`);
    execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '-C', root, '-cf', tarFile, '.']);
    const tar = readFileSync(tarFile);
    diffIds.push(`sha256:${createHash('sha256').update(tar).digest('hex')}`);
    execFileSync('gzip', ['-n', '-6', tarFile]);
    const gz = readFileSync(`${tarFile}.gz`);
    const hex = createHash('sha256').update(gz).digest('hex');
    renameSync(`${tarFile}.gz`, join(blobs, hex));
    descriptors.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${hex}`, size: gz.length });
    history.push({ created_by: `COPY app${l} /srv/app${l}` });
    rmSync(root, { recursive: true, force: true });
  }
  const blob = (text) => {
    const hex = createHash('sha256').update(text).digest('hex');
    writeFileSync(join(blobs, hex), text);
    return { digest: `sha256:${hex}`, size: Buffer.byteLength(text) };
  };
  const config = blob(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/usr/bin'] }, rootfs: { type: 'layers', diff_ids: diffIds }, history }));
  const manifest = blob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: descriptors,
    }),
  );
  writeFileSync(join(dir, 'layout', 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(dir, 'layout', 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }],
    }),
  );
  writeFileSync(marker, stamp);
  return dir;
}
