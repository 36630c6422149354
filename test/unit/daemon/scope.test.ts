import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { decide, type Policy } from '../../../daemon/policy/policy.js';
import { canonicalResource } from '../../../daemon/providers/resource.js';
import { allowedBy, checkFraming } from '../../../daemon/proxy/rules.js';
import { KeyScrubber, keyForms } from '../../../daemon/proxy/scrubber.js';

describe('canonical resources', () => {
  const github = { segments: 2, caseInsensitive: true };
  it('take exactly the provider’s number of segments', () => {
    expect(canonicalResource('acme/app', github)).toEqual({ ok: true, resource: 'acme/app' });
    expect(canonicalResource('acme/secret/contents', github).ok).toBe(false);
    expect(canonicalResource('acme', github).ok).toBe(false);
    expect(canonicalResource('acme//app', github).ok).toBe(false);
    expect(canonicalResource('one', {}).ok).toBe(true);
    expect(canonicalResource('one/two', {}).ok).toBe(false);
    // GitLab: one encoded segment, nested groups allowed.
    expect(canonicalResource('group/sub/project', { encoded: true }).ok).toBe(true);
  });

  it('are lower-cased where the provider ignores case, and kept as written elsewhere', () => {
    expect(canonicalResource('ACME/Secret', github)).toEqual({ ok: true, resource: 'acme/secret' });
    expect(canonicalResource('Model-X', {})).toEqual({ ok: true, resource: 'Model-X' });
  });
});

describe('policy resources without regard to case', () => {
  const policy: Policy = {
    defaults: { decision: 'allow', maxTtl: 60_000 },
    egress: 'allow',
    rules: [{ credential: 'github', resource: 'Acme/Secret', decision: 'deny' }],
  };
  const request = { chain: ['a'], credential: 'github', permission: 'repo:read', mode: 'proxy' as const };
  it('a rule in any case holds for a resource in any case when the provider says so', () => {
    expect(decide(policy, { ...request, resource: 'acme/secret', resourceCaseInsensitive: true }).decision).toBe('deny');
    expect(decide(policy, { ...request, resource: 'acme/secret' }).decision).toBe('allow');
  });
});

describe('path rules for case-insensitive providers', () => {
  const rules = [{ methods: ['GET'], paths: ['/repos/{resource}/**'] }];
  it('match the resource in any case, and nothing else', () => {
    const style = { segments: 2, caseInsensitive: true };
    expect(allowedBy(rules, 'GET', '/repos/ACME/App/issues', 'acme/app', style)).toBe(true);
    expect(allowedBy(rules, 'GET', '/repos/acme/apps/issues', 'acme/app', style)).toBe(false);
    expect(allowedBy(rules, 'GET', '/repos/ACME/App/issues', 'acme/app', { segments: 2 })).toBe(false);
  });
});

describe('method overrides in the query', () => {
  it('are refused when they name another method, in any case', () => {
    for (const q of ['?_method=DELETE', '?_METHOD=put', '?x-http-method-override=PATCH', '?a=1&$httpMethod=DELETE']) {
      expect(() => checkFraming({}, 'GET', q), q).toThrow(/method/);
    }
    expect(() => checkFraming({}, 'GET', '?_method=GET&page=2')).not.toThrow();
    expect(() => checkFraming({}, 'GET', '?method=artist.getInfo')).not.toThrow();
    expect(() => checkFraming({ 'x-original-method': 'DELETE' }, 'GET')).toThrow(/x-original-method/);
  });
});

describe('the echo scrubber', () => {
  const key = 'sk-test-0123456789abcdefghij/+=';
  const run = async (chunks: string[]) => {
    const out: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      Readable.from(chunks.map((c) => Buffer.from(c)))
        .pipe(new KeyScrubber(key, 'PLACEHOLDER'))
        .on('data', (d: Buffer) => out.push(d))
        .on('end', resolve)
        .on('error', reject);
    });
    return Buffer.concat(out).toString();
  };

  it('replaces every listed form, also when split across chunks', async () => {
    for (const form of keyForms(key).map((f) => f.toString())) {
      const text = `before ${form} after`;
      for (let cut = 1; cut < text.length; cut += 7) {
        const out = await run([text.slice(0, cut), text.slice(cut)]);
        expect(out, `${form} cut at ${cut}`).toBe('before PLACEHOLDER after');
      }
    }
  });

  it('finds base64 of the key inside longer base64 at every alignment', async () => {
    for (const prefix of ['', 'a', 'ab', 'abc']) {
      const encoded = Buffer.from(`${prefix}${key}!!`).toString('base64');
      expect(await run([encoded])).toContain('PLACEHOLDER');
    }
  });

  it('leaves text without the key as it was', async () => {
    const text = 'nothing secret here: sk-test-0123 and c2stdGVzdA==';
    expect(await run([text.slice(0, 10), text.slice(10)])).toBe(text);
  });
});
