import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MIN_BASE64_RUN, encodedSegments } from '../../../scanners/detect/decode.js';
import { Detector } from '../../../scanners/detect/detector.js';
import { builtinRules } from '../../../scanners/rules/index.js';
import { githubToken, randomAlnum } from '../../helpers/secrets.js';

const detector = new Detector(builtinRules);
const detect = (text: string, depth?: number) => detector.detect({ path: 'src/app.txt', data: Buffer.from(text) }, depth);
const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('encoded segments', () => {
  it('finds a base64 run of text at every alignment, including the shortest one', () => {
    const run = b64('abcdefghijklmnopqrstuvwx'); // 32 characters, the minimum
    expect(run).toHaveLength(MIN_BASE64_RUN);
    for (let pad = 0; pad < 2 * MIN_BASE64_RUN; pad++) {
      const data = Buffer.from(`${'x '.repeat(pad)}${run} tail`);
      const segments = encodedSegments(data);
      expect(segments.map((s) => s.data.toString())).toEqual(['abcdefghijklmnopqrstuvwx']);
      expect(segments[0].start).toBe(pad * 2);
    }
  });

  it('leaves alone what decodes to binary, hex digests, identifiers and short runs', () => {
    const noise = [
      randomBytes(48).toString('base64'),
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      'some_very_long_snake_case_identifier_name_here',
      b64('short'),
    ].join('\n');
    expect(encodedSegments(Buffer.from(noise))).toEqual([]);
  });

  it('decodes percent-encoded runs', () => {
    const [s] = encodedSegments(Buffer.from('see https://x.example/cb?q=a%3Db%26c%3Dd then'));
    expect(s).toMatchObject({ encoding: 'percent' });
    expect(s.data.toString()).toBe('https://x.example/cb?q=a=b&c=d');
  });
});

describe('decoded content is rescanned', () => {
  it('reports a secret inside base64, at the run, saying it was decoded', () => {
    const token = githubToken();
    const [m] = detect(`line one\nconfig: ${b64(`GITHUB_TOKEN=${token}\n`)}\n`);
    expect(m).toMatchObject({ ruleId: 'github-classic-pat', secret: token, line: 2, column: 9, decoded: 'base64' });
  });

  it('reports a secret inside a percent-encoded URL', () => {
    const token = githubToken();
    const [m] = detect(`redirect=https%3A%2F%2Fapi.example.com%2F%3Faccess_token%3D${token}`);
    expect(m).toMatchObject({ ruleId: 'github-classic-pat', secret: token, decoded: 'percent' });
  });

  it('goes two levels deep by default, and only as deep as asked', () => {
    const token = githubToken();
    const twice = `blob = "${b64(b64(`token: ${token}`))}"`;
    expect(detect(twice)).toMatchObject([{ secret: token, decoded: 'base64+base64' }]);
    expect(detect(twice, 1)).toEqual([]);
    expect(detect(`x ${b64(`token: ${token}`)}`, 0)).toEqual([]);
  });

  it('does not repeat a secret the plain scan already found', () => {
    const token = githubToken();
    const text = `A=${token}\nB=${b64(`GITHUB_TOKEN=${token}`)}\n`;
    expect(detect(text).map((m) => m.decoded)).toEqual([undefined]);
  });

  it('honours keyward:allow on the line of the encoded run', () => {
    const [m] = detect(`x = "${b64(`GITHUB_TOKEN=${githubToken()}`)}" # keyward:allow`);
    expect(m.inlineAllowed).toBe(true);
  });

  it('finds nothing in random base64 blobs', () => {
    const blob = Array.from({ length: 50 }, () => randomBytes(200).toString('base64')).join('\n');
    expect(detect(`${blob}\nid=${randomAlnum(8)}`)).toEqual([]);
  });
});
