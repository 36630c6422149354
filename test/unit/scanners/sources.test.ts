import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIni } from '../../../scanners/sources/home/ini.js';
import { parseJson } from '../../../scanners/sources/home/json.js';
import { parseNetrc } from '../../../scanners/sources/home/lines.js';
import { formatKeyPath } from '../../../scanners/sources/home/parsed.js';
import { parseToml } from '../../../scanners/sources/home/toml.js';
import { parseYaml } from '../../../scanners/sources/home/yaml.js';
import { deletedIn, type LayerOutcome } from '../../../scanners/sources/image/layers.js';
import { parseRegistryRef } from '../../../scanners/sources/image/registry.js';
import { TarError, TarParser, type TarEntry } from '../../../scanners/sources/tar.js';
import { ZipError, bufferAccess, overlappingEntry, readZipDirectory } from '../../../scanners/sources/zip.js';
import { removeDir, tempDir, writeTree } from '../../helpers/cli.js';

const at = (text: string, needle: string) => Buffer.from(text.slice(0, text.indexOf(needle))).length;

describe('TarParser', () => {
  let dir: string;
  let tar: Buffer;
  const long = `${'deep/'.repeat(30)}file-with-a-name-longer-than-one-hundred-bytes.env`;
  beforeAll(() => {
    dir = tempDir();
    writeTree(dir, { 'src/a.txt': 'alpha\n', [`src/${long}`]: 'TOKEN=x\n', 'src/empty': '' });
    execFileSync('tar', ['--format=pax', '-C', join(dir, 'src'), '-cf', join(dir, 'a.tar'), 'a.txt', long, 'empty']);
    tar = readFileSync(join(dir, 'a.tar'));
  });
  afterAll(() => removeDir(dir));

  const read = (chunkSize: number) => {
    const files: { path: string; data: string }[] = [];
    let current: TarEntry | undefined;
    let data = '';
    const parser = new TarParser({
      entry: (e) => ((current = e), (data = '')),
      data: (c) => (data += c.toString()),
      end: () => current?.type === 'file' && files.push({ path: current.path, data }),
    });
    for (let i = 0; i < tar.length; i += chunkSize) parser.push(tar.subarray(i, i + chunkSize));
    parser.finish();
    return files;
  };

  it('reads pax long names and content the same whatever the chunking', () => {
    const whole = read(tar.length);
    expect(whole).toEqual([
      { path: 'a.txt', data: 'alpha\n' },
      { path: long, data: 'TOKEN=x\n' },
      { path: 'empty', data: '' },
    ]);
    for (const size of [1, 7, 511, 513]) expect(read(size)).toEqual(whole);
  });

  it('rejects a damaged header and a cut archive', () => {
    const bad = Buffer.from(tar);
    bad[0] ^= 0xff;
    expect(() => new TarParser({ entry() {}, data() {}, end() {} }).push(bad)).toThrow(/bad header checksum/);
    const parser = new TarParser({ entry() {}, data() {}, end() {} });
    parser.push(tar.subarray(0, 600));
    expect(() => parser.finish()).toThrow(TarError);
  });
});

describe('zip reader', () => {
  it('refuses overlapping entries (a non-recursive zip bomb) and a zip without a directory', () => {
    const dir = tempDir();
    writeTree(dir, { 'a.txt': 'a'.repeat(1000), 'b.txt': 'b'.repeat(1000) });
    execFileSync('zip', ['-q', 'x.zip', 'a.txt', 'b.txt'], { cwd: dir });
    const zip = readFileSync(join(dir, 'x.zip'));
    const ra = bufferAccess(zip);
    const entries = readZipDirectory(ra, 10);
    expect(entries.map((e) => [e.name, e.size])).toEqual([
      ['a.txt', 1000],
      ['b.txt', 1000],
    ]);
    expect(overlappingEntry(ra, entries)).toBeUndefined();
    // Point the second entry at the first one's data, as overlapping bombs do.
    expect(overlappingEntry(ra, [entries[0], { ...entries[1], headerOffset: entries[0].headerOffset }])).toBe('b.txt');
    expect(() => readZipDirectory(ra, 1)).toThrow(/2 entries, more than the limit of 1/);
    expect(() => readZipDirectory(bufferAccess(Buffer.from('not a zip at all')), 10)).toThrow(ZipError);
    removeDir(dir);
  });
});

describe('key paths', () => {
  it('quotes keys that are not plain names', () => {
    expect(formatKeyPath(['projects', '/home/ada/app', 'mcpServers', 'gh', 'args', 2])).toBe('projects["/home/ada/app"].mcpServers.gh.args[2]');
  });

  it('JSON with comments: the value holding an offset, byte offsets after multi-byte text', () => {
    const text = '// ünïcödé comment\n{ "a": { "b": ["x", "secret-here"] }, "c": "ok", }\n';
    const parsed = parseJson(Buffer.from(text));
    expect(parsed.error).toBeUndefined();
    expect(parsed.keyPathAt(at(text, 'secret-here') + 3)).toBe('a.b[1]');
    expect(parsed.keyPathAt(at(text, '"ok"'))).toBe('c');
    expect(parseJson(Buffer.from('{ "a": }')).error).toMatch(/^not valid JSON: ValueExpected at line 1, column 8$/);
  });

  it('YAML: block and flow collections', () => {
    const text = 'users:\n- name: a\n  user:\n    token: abc123\n    args: [--key, v4lue]\n';
    const parsed = parseYaml(Buffer.from(text));
    expect(parsed.keyPathAt(at(text, 'abc123'))).toBe('users[0].user.token');
    expect(parsed.views).toContainEqual(expect.objectContaining({ keyPath: 'users[0].user.args[1]', text: 'key=v4lue\n' }));
  });

  it('TOML: tables, arrays of tables, dotted and quoted keys, inline tables, multi-line values', async () => {
    const text = [
      'top = "t"',
      '[mcp_servers.github]',
      'env = { "GITHUB_TOKEN" = "g1", OTHER = "o1" }',
      'args = [',
      '  "--token",',
      '  "multi",',
      ']',
      '[[profiles]]',
      'name = "p0"',
      '[[profiles]]',
      'a.b = "p1"',
      '"quoted key" = "q"',
    ].join('\n');
    const parsed = await parseToml(Buffer.from(text));
    expect(parsed.error).toBeUndefined();
    expect(parsed.keyPathAt(at(text, '"t"'))).toBe('top');
    expect(parsed.keyPathAt(at(text, '"g1"'))).toBe('mcp_servers.github.env.GITHUB_TOKEN');
    expect(parsed.keyPathAt(at(text, '"o1"'))).toBe('mcp_servers.github.env.OTHER');
    expect(parsed.keyPathAt(at(text, '"multi"'))).toBe('mcp_servers.github.args');
    expect(parsed.keyPathAt(at(text, '"p0"'))).toBe('profiles[0].name');
    expect(parsed.keyPathAt(at(text, '"p1"'))).toBe('profiles[1].a.b');
    expect(parsed.keyPathAt(at(text, '"q"'))).toBe('profiles[1]["quoted key"]');
  });

  it('INI: sections, git subsections, npm registry keys, and _auth decoded', () => {
    const text = '[http "https://git.acme.io"]\n\textraheader = AUTHORIZATION: basic abc\n';
    expect(parseIni(Buffer.from(text)).keyPathAt(at(text, 'AUTH'))).toBe('http["https://git.acme.io"].extraheader');
    const npmrc = `//npm.acme.io/:_auth=${Buffer.from('ci:s3cr3t-pass').toString('base64')}\n`;
    const parsed = parseIni(Buffer.from(npmrc), { npmrc: true });
    expect(parsed.views).toEqual([expect.objectContaining({ keyPath: '["//npm.acme.io/:_auth"]', text: 'username: ci\npassword: s3cr3t-pass\n', decoded: 'base64' })]);
  });

  it('netrc: tokens in any layout, macdef bodies skipped', () => {
    const text = 'machine a.io login me password p1\nmacdef init\npassword fake\n\nmachine b.io\n  password p2\n';
    const parsed = parseNetrc(Buffer.from(text));
    expect(parsed.views.map((v) => [v.keyPath, v.text])).toEqual([
      ['["a.io"].password', 'password = p1\n'],
      ['["b.io"].password', 'password = p2\n'],
    ]);
  });
});

describe('whiteouts', () => {
  const layer = (whiteouts: string[] = [], opaque: string[] = []): LayerOutcome => ({ items: [], whiteouts: new Set(whiteouts), opaque, issues: [], bytes: 0 });
  it('finds the first later layer deleting a file, its directory, or hiding it behind an opaque directory', () => {
    const layers = [layer(), layer(['other']), layer(['app/.env']), layer(['app'])];
    expect(deletedIn('app/.env', 0, layers)).toBe(2);
    expect(deletedIn('app/x.js', 0, layers)).toBe(3);
    expect(deletedIn('app/.env', 2, layers)).toBe(3);
    expect(deletedIn('etc/passwd', 0, layers)).toBeUndefined();
    expect(deletedIn('srv/a/b.txt', 0, [layer(), layer([], ['srv/'])])).toBe(1);
    expect(deletedIn('app/bundle.zip!/inner/.env', 0, layers)).toBe(3);
  });
});

describe('registry references', () => {
  it('parses host, port, nested names, tags and digests', () => {
    expect(parseRegistryRef('registry://127.0.0.1:5000/app')).toEqual({ host: '127.0.0.1:5000', name: 'app', reference: 'latest' });
    expect(parseRegistryRef('registry://ghcr.io/acme/tools/app:1.2')).toEqual({ host: 'ghcr.io', name: 'acme/tools/app', reference: '1.2' });
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(parseRegistryRef(`registry://localhost:5000/app@${digest}`).reference).toBe(digest);
    expect(() => parseRegistryRef('registry://noslash')).toThrow(/expected registry:\/\/HOST/);
    expect(() => parseRegistryRef('registry://h/Upper')).toThrow(/not a repository name/);
  });
});
