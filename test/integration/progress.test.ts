import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, removeDir, runCli, tempDir, testHome, writeTree } from '../helpers/cli.js';
import { Image, writeLayout } from '../helpers/oci.js';

/** Runs keyward under `script`, which gives it a pseudo-terminal like an interactive shell. */
function onTerminal(args: string[], cwd: string): string {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ');
  const r = spawnSync('script', ['-qec', command, '/dev/null'], { cwd, encoding: 'utf8', env: { ...process.env, KEYWARD_HOME: testHome(), COLUMNS: '120' } });
  return r.stdout;
}

describe('progress', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
    const files: Record<string, string> = {};
    for (let i = 0; i < 300; i++) files[`src/f${i}.ts`] = `export const v${i} = ${i};\n`.repeat(50);
    writeTree(dir, files);
  });
  afterAll(() => removeDir(dir));

  it('shows a progress line on a terminal and clears it', () => {
    const out = onTerminal(['scan', '.'], dir);
    expect(out).toMatch(/scanning: [\d,]+\/300 files · /);
    expect(out).toContain('\r\u001b[K'); // the line is erased before the report
    expect(out).toContain('No secrets found');
  });

  it('shows progress for image and home scans too', () => {
    const work = tempDir();
    writeLayout(join(work, 'layout'), 'v1', Image.empty().add({ 'srv/a.txt': 'hello\n'.repeat(1000) }));
    const image = onTerminal(['scan', 'image', 'layout:v1'], work);
    expect(image).toMatch(/scanning: [\d,]+ files · /);
    expect(image).toContain('No secrets found');
    writeTree(work, { 'home/.aws/credentials': '[default]\nregion = x\n' });
    expect(onTerminal(['scan', 'home', '--home', 'home'], work)).toMatch(/scanning: [\d,]+ files · /);
    removeDir(work);
  });

  it('stays quiet when piped, and with machine formats', async () => {
    const piped = await runCli(['scan', '.'], { cwd: dir });
    expect(piped.stderr).toBe('');
    // Each run did scan (its report is there): only the progress line is missing.
    const json = onTerminal(['scan', '.', '--format', 'json'], dir);
    expect(json).not.toContain('scanning:');
    expect(json).toMatch(/"findings": ?\[\]/);
    const quiet = onTerminal(['scan', '.', '--no-progress'], dir);
    expect(quiet).not.toContain('scanning:');
    expect(quiet).toContain('No secrets found');
  });
});
