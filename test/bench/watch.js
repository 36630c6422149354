// Watch benchmark: `keyward watch` on a tree of 50,000 files (plus a node_modules and a .git it
// must skip), as a real process. Reports the RSS once it has settled after its first scan, and
// the time from writing a file to the finding's line on its output (median of several writes,
// each a fresh secret in a different existing file). Targets: ≤ 100 MB RSS, < 1 s per change.
// Runs without the daemon: what is measured is the watcher and the scanner, not the audit write.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { prng } from './corpus.js';

const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const hwm = (pid) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const WORDS = 'user account order invoice payment session cache config client server request response handler service model view router logger event queue worker job'.split(' ');

/** 50,000 small source files in 500 directories, 2,000 in node_modules, a few in .git; reused between runs. */
export function makeWatchTree(dir, files = 50_000, perDir = 100) {
  const marker = `${dir}.complete`;
  if (existsSync(marker) && readFileSync(marker, 'utf8') === String(files)) return dir;
  rmSync(dir, { recursive: true, force: true });
  const rand = prng(7);
  const word = () => WORDS[Math.floor(rand() * WORDS.length)];
  const body = () => Array.from({ length: 10 + Math.floor(rand() * 30) }, () => `export const ${word()}${word()} = "${word()} ${word()}";`).join('\n') + '\n';
  for (let i = 0; i < files; i++) {
    const d = join(dir, `pkg${Math.floor(i / perDir) % 25}`, `mod${Math.floor(i / perDir)}`);
    if (i % perDir === 0) mkdirSync(d, { recursive: true });
    writeFileSync(join(d, `file${i % perDir}.ts`), body());
  }
  for (let i = 0; i < 2000; i++) {
    const d = join(dir, 'node_modules', `dep${Math.floor(i / 100)}`);
    if (i % 100 === 0) mkdirSync(d, { recursive: true });
    writeFileSync(join(d, `index${i % 100}.js`), body());
  }
  mkdirSync(join(dir, '.git', 'objects'), { recursive: true });
  writeFileSync(join(dir, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  writeFileSync(marker, String(files));
  return dir;
}

export async function benchWatch({ bin, work, root, files = 50_000, changes = 9 }) {
  const tree = makeWatchTree(join(work, 'watch-tree'), files);
  const { base62Encode, crc32 } = await import(pathToFileURL(join(root, 'dist', 'scanners', 'detect', 'checksum.js')).href);
  const rand = prng(11);
  const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const token = () => {
    let r = '';
    for (let i = 0; i < 30; i++) r += ALNUM[Math.floor(Math.random() * 62)];
    return `ghp_${r}${base62Encode(crc32(r), 6)}`;
  };

  const home = mkdtempSync(join(tmpdir(), 'keyward-bench-watch-'));
  const started = performance.now();
  const child = spawn(process.execPath, [bin, 'watch', tree], { cwd: tree, env: { ...process.env, KEYWARD_HOME: home, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((r) => child.on('exit', r));
  const originals = new Map();
  try {
    while (!stderr.includes('Watching ')) {
      if (child.exitCode !== null) throw new Error(`keyward watch exited: ${stderr}`);
      await sleep(20);
    }
    const readySeconds = (performance.now() - started) / 1000;
    const watching = /Watching ([\d,]+) file\(s\) in ([\d,]+) directories/.exec(stderr);
    // Settled: the first scan's garbage collected, nothing happening.
    await sleep(3000);
    const settledMB = rss(child.pid);
    const latencies = [];
    for (let i = 0; i < changes; i++) {
      const n = Math.floor(rand() * files);
      const file = join(tree, `pkg${Math.floor(n / 100) % 25}`, `mod${Math.floor(n / 100)}`, `file${n % 100}.ts`);
      const expect = `${relative(tree, file)}:`;
      const before = stdout.length;
      const text = readFileSync(file, 'utf8');
      if (!originals.has(file)) originals.set(file, text);
      const t = performance.now();
      writeFileSync(file, `${text}export const githubToken = "${token()}";\n`);
      while (!stdout.slice(before).includes(expect)) {
        if (performance.now() - t > 10_000) throw new Error(`no finding for ${file} after 10 s`);
        await sleep(2);
      }
      latencies.push(performance.now() - t);
      await sleep(300);
    }
    const afterMB = rss(child.pid);
    const peakMB = hwm(child.pid);
    latencies.sort((a, b) => a - b);
    return {
      files: Number(watching?.[1].replace(/,/g, '')),
      directories: Number(watching?.[2].replace(/,/g, '')),
      readySeconds,
      settledMB,
      afterChangesMB: afterMB,
      peakMB,
      changeMedianMs: latencies[Math.floor(latencies.length / 2)],
      changeMaxMs: latencies[latencies.length - 1],
      changes: latencies.length,
    };
  } finally {
    child.kill('SIGINT');
    await exited;
    rmSync(home, { recursive: true, force: true });
    // Put the files back as they were generated, for the next run.
    for (const [file, text] of originals) writeFileSync(file, text);
  }
}
