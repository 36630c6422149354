import { describe, expect, it } from 'vitest';
import { entryName, keytarLoadError, parseSelection } from '../../../cli/services/import-keytar.js';

describe('keytar import helpers', () => {
  it('names vault entries service-account, or prefix + account, within what a vault name may hold', () => {
    expect(entryName('GitHub - https://api.github.com', 'ada')).toBe('GitHub-https-api.github.com-ada');
    expect(entryName('my tool', 'ada@example.org')).toBe('my-tool-ada-example.org');
    expect(entryName('svc', 'ada', 'openai-')).toBe('openai-ada');
    expect(entryName('svc', '__ada', '')).toBe('ada');
    expect(entryName('svc', '@@@', '')).toBe('keytar-entry');
    expect(entryName('s'.repeat(80), 'a')).toHaveLength(64);
  });

  it('reads a choice of entries: numbers, ranges, all, none; refuses what is not in the list', () => {
    expect(parseSelection('', 3)).toEqual([]);
    expect(parseSelection('a', 3)).toEqual([0, 1, 2]);
    expect(parseSelection('3, 1', 3)).toEqual([0, 2]);
    expect(parseSelection('2-3 1', 3)).toEqual([0, 1, 2]);
    expect(() => parseSelection('4', 3)).toThrow('4: there are entries 1 to 3');
    expect(() => parseSelection('x', 3)).toThrow('"x" is not an entry number');
  });

  it('tells apart why keytar does not load, and names the fix for each', () => {
    const missing = keytarLoadError(
      Object.assign(new Error("Cannot find package 'keytar' imported from /opt/keyward/dist/cli/services/import-keytar.js"), { code: 'ERR_MODULE_NOT_FOUND' }),
      'linux',
    );
    expect(missing.code).toBe('keytar_missing');
    expect(missing.hint).toContain('npm install keytar');
    expect(missing.hint).toContain('libsecret-1-dev, build-essential and python3');
    expect(keytarLoadError(Object.assign(new Error("Cannot find package 'keytar'"), { code: 'ERR_MODULE_NOT_FOUND' }), 'darwin').hint).not.toContain('libsecret');

    const unbuilt = keytarLoadError(
      Object.assign(new Error("Cannot find module '../build/Release/keytar.node'\nRequire stack:\n- /opt/keyward/node_modules/keytar/lib/keytar.js"), { code: 'MODULE_NOT_FOUND' }),
      'linux',
    );
    expect(unbuilt.code).toBe('keytar_not_built');
    expect(unbuilt.hint).toContain('npm rebuild keytar');

    // What the dynamic loader says on a machine without libsecret.
    const lib = keytarLoadError(Object.assign(new Error('libsecret-1.so.0: cannot open shared object file: No such file or directory'), { code: 'ERR_DLOPEN_FAILED' }), 'linux');
    expect(lib.code).toBe('libsecret_missing');
    expect(lib.message).toBe('keytar cannot load libsecret (cannot open shared object file: No such file or directory)');
    expect(lib.hint).toContain('apt-get install libsecret-1-0');

    const abi = keytarLoadError(
      Object.assign(new Error('The module keytar.node was compiled against a different Node.js version using NODE_MODULE_VERSION 115.'), { code: 'ERR_DLOPEN_FAILED' }),
      'linux',
    );
    expect(abi.code).toBe('keytar_not_built');
  });
});
