import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import AjvModule from 'ajv-draft-04';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, runCli, tempDir, writeTree } from '../helpers/cli.js';
import { Image, writeLayout } from '../helpers/oci.js';
import { githubToken } from '../helpers/secrets.js';

// A CommonJS module: its class is the default export under some loaders and `.default` under others.
const Ajv = ((AjvModule as unknown as { default?: typeof AjvModule.default }).default ?? AjvModule) as typeof AjvModule.default;

function validator() {
  const require = createRequire(import.meta.url);
  const schema = JSON.parse(readFileSync(require.resolve('@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json'), 'utf8'));
  return new Ajv({ allErrors: true, strict: false, unicodeRegExp: false }).compile(schema);
}

describe('SARIF for home and image scans', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
    writeTree(dir, { 'home/.cursor/mcp.json': JSON.stringify({ mcpServers: { gh: { env: { GITHUB_TOKEN: githubToken() } } } }) });
    writeLayout(join(dir, 'layout'), 'v1', Image.empty().add({ 'srv/app config/.env': `GITHUB_TOKEN=${githubToken()}\n` }));
  });
  afterAll(() => removeDir(dir));

  it('places home findings under HOME and image findings under the image root, valid SARIF 2.1.0', async () => {
    const validate = validator();
    const home = await runCli(['scan', 'home', '--home', 'home', '--format', 'sarif'], { cwd: dir });
    const homeSarif = JSON.parse(home.stdout);
    expect(validate(homeSarif), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    expect(homeSarif.runs[0].results[0].locations[0].physicalLocation.artifactLocation).toEqual({ uri: '.cursor/mcp.json', uriBaseId: 'HOME' });
    expect(homeSarif.runs[0].originalUriBaseIds.HOME.uri).toBe(`file://${join(dir, 'home')}/`);
    expect(homeSarif.runs[0].results[0].properties.keyPath).toBe('mcpServers.gh.env.GITHUB_TOKEN');

    const image = await runCli(['scan', 'image', 'layout:v1', '--format', 'sarif'], { cwd: dir });
    const imageSarif = JSON.parse(image.stdout);
    expect(validate(imageSarif), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    const result = imageSarif.runs[0].results[0];
    expect(result.locations[0].physicalLocation.artifactLocation).toEqual({ uri: 'srv/app%20config/.env', uriBaseId: 'IMAGEROOT' });
    expect(result.properties).toMatchObject({ image: 'layout:v1', layerIndex: 0 });
  });
});
