import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listTree } from '../../../scanners/sources/tree.js';
import { tempDir, writeTree } from '../../helpers/cli.js';

/**
 * The walk used outside git must list exactly what `git ls-files --others --exclude-standard`
 * lists for the same tree: each tree below is walked, then turned into a repository and asked.
 */
const trees: Record<string, Record<string, string>> = {
  'a negation in a subdirectory re-includes a file a parent ignored': {
    '.gitignore': '*.env\n',
    'app/.gitignore': '!keep.env\n',
    'app/keep.env': 'x',
    'app/drop.env': 'x',
    'top.env': 'x',
  },
  'a deeper pattern ignores what a parent re-included': {
    '.gitignore': '*.log\n!important.log\n',
    'important.log': 'x',
    'a/important.log': 'x',
    'a/.gitignore': 'important.log\n',
    'a/b/important.log': 'x',
    'a/b/.gitignore': '!important.log\n',
  },
  'a file inside an ignored directory cannot be re-included': {
    '.gitignore': 'build/\n!build/keep.txt\n',
    'build/keep.txt': 'x',
    'build/other.txt': 'x',
    'src/build.txt': 'x',
  },
  'contents ignored with /* can be re-included': {
    '.gitignore': 'vendor/*\n!vendor/own/\n',
    'vendor/lib/a.js': 'x',
    'vendor/own/b.js': 'x',
    'vendor/c.js': 'x',
  },
  'anchored and middle-slash patterns are relative to their .gitignore': {
    'pkg/.gitignore': '/gen\ndocs/*.html\n**/tmp\n',
    'pkg/gen/a.txt': 'x',
    'pkg/sub/gen/b.txt': 'x',
    'pkg/docs/i.html': 'x',
    'pkg/sub/docs/i.html': 'x',
    'pkg/x/y/tmp/z.txt': 'x',
    'gen/c.txt': 'x',
  },
  'later lines win within one file; escaped and trailing-space patterns': {
    '.gitignore': '*.key\n!*.pub.key\nsecret.pub.key\n\\!bang\nspace\\ \n',
    'a.key': 'x',
    'b.pub.key': 'x',
    'secret.pub.key': 'x',
    '!bang': 'x',
    'space ': 'x',
    space: 'x',
  },
};

describe('tree walk outside git', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  for (const [name, files] of Object.entries(trees)) {
    it(`lists what git lists: ${name}`, async () => {
      dir = tempDir();
      writeTree(dir, files);
      const walked = (await listTree(dir, dir, false)).items.map((i) => i.path).sort();
      execFileSync('git', ['init', '-q', dir]);
      const git = execFileSync('git', ['-c', 'core.excludesFile=/dev/null', 'ls-files', '-z', '--others', '--exclude-standard'], { cwd: dir, encoding: 'utf8' })
        .split('\0')
        .filter(Boolean)
        .sort();
      expect(walked).toEqual(git);
      expect(walked.length).toBeGreaterThan(0);
      expect(join(dir, walked[0])).toContain(dir);
    });
  }
});
