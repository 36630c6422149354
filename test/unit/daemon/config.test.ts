import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, loadDaemonConfig } from '../../../daemon/config.js';
import { keywardPaths } from '../../../kernel/paths.js';
import { tempDir } from '../../helpers/cli.js';

function load(text: string | undefined) {
  const paths = keywardPaths({ KEYWARD_HOME: tempDir('keyward-config-') });
  mkdirSync(paths.config, { recursive: true });
  if (text !== undefined) writeFileSync(join(paths.config, 'config.yaml'), text);
  return loadDaemonConfig(paths);
}

describe('config.yaml', () => {
  it('puts the proxy on port 7419 unless told otherwise', () => {
    expect(load(undefined).config.proxyPort).toBe(7419);
    expect(load('consent: { timeout: 5s }\n').config.proxyPort).toBe(7419);
    expect(DEFAULTS.proxyPort).toBe(7419);
  });

  it('takes proxy.port 0 (any free port) and 1..65535', () => {
    for (const port of [0, 1, 8080, 65535]) {
      const { config, problems } = load(`proxy: { port: ${port}, maxBody: 1MB }\n`);
      expect(problems).toEqual([]);
      expect(config).toMatchObject({ proxyPort: port, proxyMaxBody: 1024 * 1024 });
    }
  });

  it.each([
    ['70000', 'must be 0 (any free port) or 1..65535'],
    ['-1', 'must be 0 (any free port) or 1..65535'],
    ['80.5', 'must be a whole number'],
    ['"7419"', 'must be a port number'],
    ['auto', 'must be a port number'],
  ])('refuses proxy.port %s with its line, and falls back to the defaults', (value, message) => {
    const { config, problems } = load(`consent: { timeout: 5s }\nproxy:\n  port: ${value}\n`);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ line: 3, message: `proxy.port: ${message}` });
    expect(config).toEqual(DEFAULTS);
  });
});
