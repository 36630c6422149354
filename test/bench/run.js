#!/usr/bin/env node
// `npm run bench`: keyward against the floors it cannot beat, measured in the same run on the
// same machine (ratios, not absolute times, are what carry across machines).
//
//   tree     keyward scan vs ripgrep searching the same tree for the union of rule keywords
//   history  keyward scan --history vs `git log -p --all -U0` and `git cat-file --batch-all-objects --batch`
//   staged   keyward scan --staged on a 10-file commit vs `node -e 0`
//   image    keyward scan image on a 10-layer gzip image vs `tar -xzOf` of the same layers to /dev/null
//   watch    keyward watch on 50,000 files: RSS once settled (≤ 100 MB), write-to-report time (< 1 s)
//   mint     grant latency p50/p99 minting from AWS STS, a GitHub App and PostgreSQL (local doubles / a private cluster) vs a release grant of a stored key
//
// Usage: npm run bench [-- --only tree,history,staged,broker,mint,proxy,image,watch] [--tree-mb 200] [--commits 2000] [--image-mb 320] [--runs 3]
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeHistory, makeImage, makeStaged, makeTree } from './corpus.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'run.js');
const { values } = parseArgs({
  options: {
    only: { type: 'string', default: 'tree,history,staged,broker,mint,proxy,image,watch' },
    'image-mb': { type: 'string', default: '320' },
    'tree-mb': { type: 'string', default: '200' },
    commits: { type: 'string', default: '2000' },
    runs: { type: 'string', default: '3' },
    threads: { type: 'string', default: String(availableParallelism()) },
    work: { type: 'string', default: join(ROOT, '.bench') },
  },
});
const only = new Set(values.only.split(','));
const runs = Number(values.runs);
const threads = Number(values.threads);
const work = resolve(values.work);
mkdirSync(work, { recursive: true });
const env = { ...process.env, KEYWARD_HOME: join(work, 'home'), NO_COLOR: '1' };

/** Median wall time in ms of `runs` runs of a command (after one warm-up). */
function time(cmd, args, options = {}) {
  const once = () => {
    const t = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { stdio: ['ignore', options.stdout ?? 'ignore', 'pipe'], env, cwd: options.cwd, maxBuffer: 1 << 30 });
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    if (r.status !== 0 && !(options.ok ?? [0]).includes(r.status)) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    return ms;
  };
  once();
  const samples = Array.from({ length: options.runs ?? runs }, once).sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

const results = { machine: { cpus: cpus()[0]?.model, cores: availableParallelism(), memGB: Math.round(totalmem() / 2 ** 30), node: process.version }, threads };
const fmt = (ms) => `${(ms / 1000).toFixed(3)} s`;

if (only.has('tree')) {
  const dir = makeTree(join(work, 'tree'), Number(values['tree-mb']));
  const bytes = Number(execFileSync('du', ['-sb', '--exclude=.git', dir], { encoding: 'utf8' }).split('\t')[0]);
  const rules = JSON.parse(execFileSync(process.execPath, [BIN, 'rules', 'list', '--json'], { env, encoding: 'utf8' }));
  const keywords = join(work, 'keywords.txt');
  writeFileSync(keywords, [...new Set(rules.flatMap((r) => r.keywords))].join('\n') + '\n');
  const keyward = time(process.execPath, [BIN, 'scan', dir, '--format', 'json', '--threads', String(threads)], { ok: [0, 1] });
  const rg = time('rg', ['-c', '-i', '-F', '-f', keywords, '--threads', String(threads), dir], { ok: [0, 1] });
  results.tree = {
    megabytes: +(bytes / 2 ** 20).toFixed(1),
    keywardSeconds: +(keyward / 1000).toFixed(3),
    ripgrepSeconds: +(rg / 1000).toFixed(3),
    ratioToRipgrep: +(keyward / rg).toFixed(2),
    mbPerSecondPerCore: +(bytes / 2 ** 20 / (keyward / 1000) / threads).toFixed(1),
  };
  console.log(
    `tree: ${results.tree.megabytes} MB  keyward ${fmt(keyward)}  rg ${fmt(rg)}  ratio ${results.tree.ratioToRipgrep}x (target ≤ 4x)  ${results.tree.mbPerSecondPerCore} MB/s/core`,
  );
}

if (only.has('history')) {
  const dir = makeHistory(join(work, 'history'), Number(values.commits));
  // Default threads: keyward leaves one core to git itself.
  const keyward = time(process.execPath, [BIN, 'scan', '--history', '--format', 'json'], { cwd: dir, ok: [0, 1] });
  const log = time('git', ['log', '-p', '--all', '-U0'], { cwd: dir });
  const blobs = time('git', ['cat-file', '--batch-all-objects', '--batch'], { cwd: dir });
  const logBytes = spawnSync('git', ['log', '-p', '--all', '-U0'], { cwd: dir, maxBuffer: 1 << 30 }).stdout.length;
  const blobBytes = spawnSync('git', ['cat-file', '--batch-all-objects', '--batch'], { cwd: dir, maxBuffer: 1 << 30 }).stdout.length;
  results.history = {
    commits: Number(values.commits),
    logMegabytes: +(logBytes / 2 ** 20).toFixed(1),
    blobMegabytes: +(blobBytes / 2 ** 20).toFixed(1),
    keywardSeconds: +(keyward / 1000).toFixed(3),
    gitLogSeconds: +(log / 1000).toFixed(3),
    catFileSeconds: +(blobs / 1000).toFixed(3),
    ratioToGitLog: +(keyward / log).toFixed(2),
    ratioToCatFile: +(keyward / blobs).toFixed(2),
  };
  console.log(
    `history: ${values.commits} commits, ${results.history.logMegabytes} MB of diffs, ${results.history.blobMegabytes} MB of blobs  keyward ${fmt(keyward)}  git log ${fmt(log)} (ratio ${results.history.ratioToGitLog}x, target ≤ 1.2x)  cat-file ${fmt(blobs)} (ratio ${results.history.ratioToCatFile}x)`,
  );
}

if (only.has('staged')) {
  const dir = makeStaged(join(work, 'staged'));
  const keyward = time(process.execPath, [BIN, 'scan', '--staged'], { cwd: dir, runs: Math.max(runs, 15) });
  const node = time(process.execPath, ['-e', '0'], { runs: Math.max(runs, 15) });
  results.staged = { keywardMs: +keyward.toFixed(1), nodeMs: +node.toFixed(1), ratioToNode: +(keyward / node).toFixed(2) };
  console.log(`staged: keyward ${keyward.toFixed(1)} ms  node -e 0 ${node.toFixed(1)} ms  ratio ${results.staged.ratioToNode}x (target ≤ 2.5x)`);
}

if (only.has('watch')) {
  const { benchWatch } = await import('./watch.js');
  const w = await benchWatch({ bin: BIN, work, root: ROOT });
  results.watch = {
    files: w.files,
    directories: w.directories,
    firstScanSeconds: +w.readySeconds.toFixed(2),
    settledRssMB: Math.round(w.settledMB),
    rssAfterChangesMB: Math.round(w.afterChangesMB),
    peakRssMB: Math.round(w.peakMB),
    changeMedianMs: Math.round(w.changeMedianMs),
    changeMaxMs: Math.round(w.changeMaxMs),
    changes: w.changes,
  };
  const r = results.watch;
  console.log(
    `watch: ${r.files} files in ${r.directories} directories, ready in ${r.firstScanSeconds} s  RSS settled ${r.settledRssMB} MB (target ≤ 100), after changes ${r.rssAfterChangesMB} MB, peak ${r.peakRssMB} MB  write → report median ${r.changeMedianMs} ms (target < 1000), max ${r.changeMaxMs} ms over ${r.changes} writes`,
  );
}

if (only.has('broker')) {
  const { benchBroker } = await import('./broker.js');
  const b = await benchBroker({ bin: BIN });
  const f = (x) => x.toFixed(2);
  results.broker = {
    concurrency: b.concurrency,
    healthP50Ms: +f(b.health.p50),
    healthP99Ms: +f(b.health.p99),
    grantP50Ms: +f(b.grants.p50),
    grantP99Ms: +f(b.grants.p99),
    p99RatioToHealth: +(b.grants.p99 / b.health.p99).toFixed(2),
    grantsPerSecond: Math.round(b.grants.perSecond),
    healthPerSecond: Math.round(b.health.perSecond),
    idleRssMB: Math.round(b.idleRssMB),
    peakRssMB: Math.round(b.peakRssMB),
  };
  const r = results.broker;
  console.log(
    `broker: ${r.concurrency} clients  grant p50 ${r.grantP50Ms} ms p99 ${r.grantP99Ms} ms  health p50 ${r.healthP50Ms} ms p99 ${r.healthP99Ms} ms  (p99 ratio ${r.p99RatioToHealth}x, target ≤ 3x)  ${r.grantsPerSecond} grants/s (target ≥ 2000)  RSS idle ${r.idleRssMB} MB (target ≤ 80) peak ${r.peakRssMB} MB`,
  );
}

if (only.has('mint')) {
  const { benchMint } = await import('./mint.js');
  const r = (results.mint = await benchMint({ bin: BIN }));
  const line = (name, x) => (x ? `  ${name} p50 ${x.p50} ms p99 ${x.p99} ms (p50 ${x.p50RatioToBaseline}x the baseline)` : `  ${name}: skipped (PostgreSQL binaries missing)`);
  console.log(
    [
      `mint: ${r.total} grants each, one at a time; baseline (release of a stored key) p50 ${r.baseline.p50} ms p99 ${r.baseline.p99} ms`,
      line('aws-sts', r.awsSts),
      line('github-app', r.githubApp),
      line('postgres-role', r.postgresRole),
    ].join('\n'),
  );
}

if (only.has('proxy')) {
  const { benchProxy } = await import('./proxy.js');
  const p = await benchProxy({ bin: BIN });
  const f = (x) => +x.toFixed(2);
  results.proxy = {
    concurrency: p.concurrency,
    direct: { p50Ms: f(p.direct.p50), p99Ms: f(p.direct.p99), perSecond: Math.round(p.direct.perSecond) },
    baseUrl: {
      p50Ms: f(p.base.p50),
      p99Ms: f(p.base.p99),
      perSecond: Math.round(p.base.perSecond),
      addedP50Ms: f(p.base.p50 - p.direct.p50),
      throughputRatio: f(p.base.perSecond / p.direct.perSecond),
      loadedP50Ms: f(p.base.loadedP50),
    },
    directTls: { p50Ms: f(p.directTls.p50), p99Ms: f(p.directTls.p99), perSecond: Math.round(p.directTls.perSecond) },
    intercept: {
      p50Ms: f(p.intercept.p50),
      p99Ms: f(p.intercept.p99),
      perSecond: Math.round(p.intercept.perSecond),
      addedP50Ms: f(p.intercept.p50 - p.directTls.p50),
      throughputRatio: f(p.intercept.perSecond / p.directTls.perSecond),
      loadedP50Ms: f(p.intercept.loadedP50),
    },
  };
  const r = results.proxy;
  console.log(`proxy (latency one request at a time; throughput with ${r.concurrency} clients):`);
  console.log(
    `  base-URL     p50 ${r.baseUrl.p50Ms} ms vs direct ${r.direct.p50Ms} ms → added ${r.baseUrl.addedP50Ms} ms (target ≤ 1)  p99 ${r.baseUrl.p99Ms} ms  ${r.baseUrl.perSecond}/s vs ${r.direct.perSecond}/s → ${r.baseUrl.throughputRatio}x (target ≥ 0.5)`,
  );
  console.log(
    `  interception p50 ${r.intercept.p50Ms} ms vs direct TLS ${r.directTls.p50Ms} ms → added ${r.intercept.addedP50Ms} ms  p99 ${r.intercept.p99Ms} ms  ${r.intercept.perSecond}/s vs ${r.directTls.perSecond}/s → ${r.intercept.throughputRatio}x`,
  );
}

if (only.has('image')) {
  const dir = makeImage(join(work, 'image'), Number(values['image-mb']), 10);
  const index = JSON.parse(readFileSync(join(dir, 'layout', 'index.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(join(dir, 'layout', 'blobs', 'sha256', index.manifests[0].digest.split(':')[1]), 'utf8'));
  const blobs = manifest.layers.map((l) => join(dir, 'layout', 'blobs', 'sha256', l.digest.split(':')[1]));
  const compressed = manifest.layers.reduce((sum, l) => sum + l.size, 0);
  let expanded = 0;
  for (const blob of blobs) expanded += spawnSync('sh', ['-c', `gzip -dc '${blob}' | wc -c`], { encoding: 'utf8' }).stdout.trim() * 1;
  // The floor: decompress and unpack every layer, writing the files nowhere.
  const script = blobs.map((b) => `tar -xzOf '${b}' > /dev/null`).join(' && ');
  const tar = time('sh', ['-c', script]);
  const keyward = time(process.execPath, [BIN, 'scan', 'image', join(dir, 'layout') + ':bench', '--format', 'json'], { ok: [0, 1] });
  results.image = {
    layers: blobs.length,
    megabytes: +(expanded / 2 ** 20).toFixed(1),
    compressedMegabytes: +(compressed / 2 ** 20).toFixed(1),
    keywardSeconds: +(keyward / 1000).toFixed(3),
    tarSeconds: +(tar / 1000).toFixed(3),
    ratioToTar: +(keyward / tar).toFixed(2),
    keywardMBps: +(expanded / 2 ** 20 / (keyward / 1000)).toFixed(1),
    tarMBps: +(expanded / 2 ** 20 / (tar / 1000)).toFixed(1),
  };
  console.log(
    `image: ${results.image.layers} layers, ${results.image.megabytes} MB (${results.image.compressedMegabytes} MB gzip)  keyward ${fmt(keyward)} (${results.image.keywardMBps} MB/s)  tar -xzOf ${fmt(tar)} (${results.image.tarMBps} MB/s)  ratio ${results.image.ratioToTar}x (target ≤ 2x)`,
  );
}

writeFileSync(join(work, 'results.json'), JSON.stringify(results, null, 2) + '\n');
console.log(
  `\nmachine: ${results.machine.cpus}, ${results.machine.cores} cores, ${results.machine.memGB} GB, node ${results.machine.node}; results in ${join(work, 'results.json')}`,
);
