import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { builtinProviders } from '../../../daemon/providers/builtin.js';
import { loadProviders } from '../../../daemon/providers/registry.js';
import { removeDir, tempDir, writeTree } from '../../helpers/cli.js';

describe('providers/*.yaml', () => {
  let dir: string | undefined;
  afterEach(() => dir && removeDir(dir));

  const load = (files: Record<string, string>) => {
    dir = tempDir('keyward-providers-');
    writeTree(dir, files);
    return loadProviders(dir);
  };

  it('gives a new provider exactly the permissions it lists, not generic catch-alls beside them', () => {
    const registry = load({
      'providers/acme.yaml': 'upstream: https://api.acme.example\nenv: { key: ACME_API_KEY }\npermissions:\n  read: [{ methods: [GET], paths: ["/v1/**"] }]\n',
    });
    expect(registry.problems).toEqual([]);
    const acme = registry.get('acme')!;
    expect(Object.keys(acme.permissions)).toEqual(['read']);
    expect(acme.permissions.read).toEqual([{ methods: ['GET'], paths: ['/v1/**'] }]);
    expect(acme.inject).toEqual({ header: 'Authorization', value: 'Bearer {secret}' });
  });

  it("gives a new provider that lists no permissions generic's read, write and all", () => {
    const registry = load({ 'providers/plain.yaml': 'upstream: https://plain.example\n' });
    expect(Object.keys(registry.get('plain')!.permissions).sort()).toEqual(['all', 'read', 'write']);
  });

  it('overrides a built-in key by key: the listed permission changes, the others stay', () => {
    const registry = load({ 'providers/openai.yaml': 'permissions:\n  models: [{ methods: [GET], paths: ["/v1/models"] }]\n' });
    const openai = registry.get('openai')!;
    expect(openai.permissions.models).toEqual([{ methods: ['GET'], paths: ['/v1/models'] }]);
    expect(openai.permissions.chat.length).toBeGreaterThan(0);
    expect(openai.env.key).toBe('OPENAI_API_KEY');
  });

  it('reports a malformed file as a problem and keeps the built-ins', () => {
    const registry = load({ 'providers/bad.yaml': 'permissions: [not, a, map]\n' });
    expect(registry.problems.length).toBeGreaterThan(0);
    expect(registry.get('bad')).toBeUndefined();
    expect(registry.get('openai')).toBeDefined();
  });
});

describe('docs/providers.md', () => {
  const page = readFileSync(new URL('../../../docs/providers.md', import.meta.url), 'utf8');
  /** The permission table's rows: `| provider | permission(s) | …`, the provider cell empty after its first row. */
  const documented = new Map<string, Set<string>>();
  let current = '';
  for (const line of page.slice(page.indexOf('## Permissions')).split('\n')) {
    const cells = /^\|([^|]*)\|([^|]*)\|/.exec(line);
    if (!cells || cells[1].trim().startsWith('-') || cells[1].trim() === 'provider') continue;
    if (cells[1].trim()) current = cells[1].trim().replace(/`/g, '');
    for (const name of cells[2].matchAll(/`([^`]+)`/g)) (documented.get(current) ?? documented.set(current, new Set()).get(current)!).add(name[1]);
  }

  it('names every built-in provider in its table', () => {
    for (const p of builtinProviders) expect(page, p.name).toContain(`| \`${p.name}\` |`);
  });

  it('lists every permission of every built-in HTTP provider, and none that does not exist', () => {
    for (const p of builtinProviders) {
      const names = Object.keys(p.permissions);
      if (names.length === 0) continue;
      expect([...(documented.get(p.name) ?? [])].sort(), p.name).toEqual(names.sort());
    }
  });
});
