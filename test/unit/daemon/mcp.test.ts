import { describe, expect, it } from 'vitest';
import { builtinProviders } from '../../../daemon/providers/builtin.js';
import { browserSignal, mcpPermission, mcpProfile, mcpTarget, splitMcpPath } from '../../../daemon/proxy/mcp.js';
import type { VaultEntry } from '../../../daemon/vault/vault.js';

const entry = (attributes: Record<string, string>, name = 'github-mcp'): VaultEntry => ({
  name,
  provider: 'generic',
  created: '2025-01-01T00:00:00Z',
  source: 'migrate',
  attributes: { helper: 'mcp-http', server: 'github', ...attributes },
});
const good = { upstream: 'https://api.githubcopilot.com', header: 'authorization', prefix: 'Bearer ' };
const provider = (name: string) => builtinProviders.find((p) => p.name === name)!;

describe('the MCP route, pure parts', () => {
  it('splits /_mcp/<server>/<rest> and leaves other paths alone', () => {
    expect(splitMcpPath('/_mcp/github/mcp/')).toEqual({ server: 'github', rest: '/mcp/' });
    expect(splitMcpPath('/_mcp/github')).toEqual({ server: 'github', rest: '/' });
    expect(splitMcpPath('/_mcp/my%20server/x')).toEqual({ server: 'my server', rest: '/x' });
    expect(splitMcpPath('/_mcp')).toEqual({ server: '', rest: '/' });
    expect(splitMcpPath('/_mcpx/github')).toBeUndefined();
    expect(splitMcpPath('/openai/v1/models')).toBeUndefined();
  });

  it('reads the entry attributes, with the upstream as an origin', () => {
    expect(mcpTarget([entry(good)], 'github')).toEqual({
      server: 'github',
      credential: 'github-mcp',
      upstream: 'https://api.githubcopilot.com',
      header: 'authorization',
      prefix: 'Bearer ',
    });
    expect(mcpTarget([entry({ ...good, upstream: 'http://127.0.0.1:8080/', header: 'x-api-key', prefix: '' })], 'github')).toMatchObject({
      upstream: 'http://127.0.0.1:8080',
      header: 'x-api-key',
      prefix: '',
    });
    expect(mcpTarget([entry({ upstream: good.upstream, header: 'authorization' })], 'github').prefix).toBe('');
  });

  it.each([
    [{ upstream: 'https://api.example.com/mcp' }, 'no valid upstream'],
    [{ upstream: 'https://user:pw@api.example.com' }, 'no valid upstream'],
    [{ upstream: 'ftp://api.example.com' }, 'no valid upstream'],
    [{ upstream: 'https://api.example.com?x=1' }, 'no valid upstream'],
    [{ upstream: '' }, 'no valid upstream'],
    [{ header: 'Authorization' }, 'no usable header name'],
    [{ header: 'host' }, 'no usable header name'],
    [{ header: 'content-length' }, 'no usable header name'],
    [{ header: 'x bad' }, 'no usable header name'],
    [{ prefix: 'Bearer\r\nX-Evil: 1 ' }, 'a prefix that is not plain printable text'],
    [{ prefix: 'x{secret}' }, 'a prefix that is not plain printable text'],
  ])('refuses an entry with %o', (attributes, why) => {
    expect(() => mcpTarget([entry({ ...good, ...attributes })], 'github')).toThrow(why);
  });

  it('says what to do when no entry or several match', () => {
    expect(() => mcpTarget([], 'github')).toThrow(
      expect.objectContaining({ status: 404, code: 'unknown_mcp_server', details: { hint: expect.stringContaining('keyward migrate') } }),
    );
    expect(() => mcpTarget([entry(good, 'a'), entry(good, 'b')], 'github')).toThrow(expect.objectContaining({ status: 409, message: expect.stringContaining('a, b') }));
  });

  it('grants a permission that covers streamable HTTP (GET, POST, DELETE on any path)', () => {
    expect(mcpPermission(provider('generic'))).toBe('write');
    expect(mcpPermission({ ...provider('generic'), permissions: { read: provider('generic').permissions.read, all: provider('generic').permissions.all } })).toBe('all');
    expect(mcpPermission({ ...provider('generic'), permissions: { read: provider('generic').permissions.read } })).toBeUndefined();
    // github's named permissions are per repository; its `all` covers everything.
    expect(mcpPermission(provider('github'))).toBe('all');
    expect(mcpPermission({ ...provider('github'), permissions: { 'repo:write': provider('github').permissions['repo:write'] } })).toBeUndefined();
  });

  it('builds a profile that injects prefix + key into the header', () => {
    const profile = mcpProfile(provider('generic'), mcpTarget([entry(good)], 'github'));
    expect(profile).toMatchObject({ name: 'mcp:github', upstream: 'https://api.githubcopilot.com', basePath: '', inject: { header: 'authorization', value: 'Bearer {secret}' } });
    expect(profile.ca).toBeUndefined();
  });

  it('recognises browser requests, but not Node fetch', () => {
    expect(browserSignal({ origin: 'https://evil.example' })).toBe('an Origin header');
    expect(browserSignal({ 'sec-fetch-site': 'cross-site' })).toBe('a Sec-Fetch-Site header');
    expect(browserSignal({ 'sec-fetch-mode': 'cors', 'user-agent': 'node', accept: '*/*' })).toBeUndefined();
  });
});
