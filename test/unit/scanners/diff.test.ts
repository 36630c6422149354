import { describe, expect, it } from 'vitest';
import { commitBoundaries, parseCommitHeader, parseDiff, unquoteGitPath } from '../../../scanners/sources/diff.js';

const diff = (text: string) => parseDiff(Buffer.from(text)).map((f) => ({ path: f.path, lines: f.data.toString().split('\n'), map: f.lineMap, binary: f.binary }));

describe('parseDiff', () => {
  it('collects added lines with their new line numbers across hunks', () => {
    const out = diff(`diff --git a/app.env b/app.env
index 1..2 100644
--- a/app.env
+++ b/app.env
@@ -3,0 +4,2 @@
+A=1
+B=2
@@ -10 +12 @@
-old
+C=3
`);
    expect(out).toEqual([{ path: 'app.env', lines: ['A=1', 'B=2', 'C=3'], map: [4, 5, 12], binary: false }]);
  });

  it('treats a content line starting with "++" as content once hunks began', () => {
    const out = diff('diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -0,0 +1 @@\n+++ not a header\n');
    expect(out[0].lines).toEqual(['++ not a header']);
  });

  it('skips deleted files, marks binary files, follows renames and quoted names', () => {
    const out = diff(`diff --git a/gone.txt b/gone.txt
deleted file mode 100644
--- a/gone.txt
+++ /dev/null
@@ -1 +0,0 @@
-bye
diff --git a/logo.png b/logo.png
new file mode 100644
Binary files /dev/null and b/logo.png differ
diff --git "a/caf\\303\\251 \\"x\\".txt" "b/caf\\303\\251 \\"x\\".txt"
new file mode 100644
--- /dev/null
+++ "b/caf\\303\\251 \\"x\\".txt"\t
@@ -0,0 +1 @@
+hi
`);
    expect(out).toEqual([
      { path: 'logo.png', lines: [''], map: [], binary: true },
      { path: 'café "x".txt', lines: ['hi'], map: [1], binary: false },
    ]);
  });

  it('strips a CR before the newline', () => {
    expect(diff('diff --git a/w b/w\n--- a/w\n+++ b/w\n@@ -0,0 +1 @@\n+K=v\r\n')[0].lines).toEqual(['K=v']);
  });
});

describe('git log framing', () => {
  it('splits commits at the record separator and reads their headers', () => {
    const log = Buffer.from('\x1eabc\x1fAda\x1fada@x\x1f2024-01-01T00:00:00Z\n\ndiff --git a/a b/a\n\x1edef\x1fBob\x1fbob@x\x1f2024-01-02T00:00:00Z\n');
    const bounds = commitBoundaries(log);
    expect(bounds.length).toBe(4);
    expect(parseCommitHeader(log, bounds[0]).meta).toEqual({ commit: 'abc', author: 'Ada', email: 'ada@x', date: '2024-01-01T00:00:00Z' });
    expect(parseCommitHeader(log, bounds[2]).meta.commit).toBe('def');
  });
  it('unquotes C-style paths', () => {
    expect(unquoteGitPath('"tab\\there"')).toBe('tab\there');
    expect(unquoteGitPath('plain')).toBe('plain');
  });
});
