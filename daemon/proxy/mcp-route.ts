import type { IncomingMessage, ServerResponse } from 'node:http';
import { DaemonError } from '../errors.js';
import { PEER_LOOKUP_SUPPORTED, processOwner } from '../server/identity.js';
import { MCP_HELPER, MCP_SERVER, type McpClients, browserSignal, mcpPermission, mcpProfile, mcpTarget } from './mcp.js';
import type { ProxyContext, RecordContext } from './proxy.js';
import { allowedBy, checkFraming } from './rules.js';

/**
 * `/_mcp/<server>/<rest>`: an HTTP MCP server's requests, from a client that holds no token.
 * Who may use it is decided from who is calling: a process of this user (never a browser),
 * granted access by the policy or a person as agent `mcp:<server>` (see mcp.ts).
 */
export async function handleMcp(
  ctx: ProxyContext,
  clients: McpClients,
  req: IncomingMessage,
  res: ServerResponse,
  request: { method: string; server: string; rest: string; query: string },
  context: RecordContext,
): Promise<void> {
  const { method, server, rest, query } = request;
  const port = ctx.port();
  // A web page must not borrow the key: the browser is a process of this user too.
  const browser = browserSignal(req.headers);
  if (browser)
    throw new DaemonError('browser_request', `refused: the request carries ${browser}, so it comes from a web browser; web pages may not use MCP keys`, {
      hint: 'MCP clients send neither Origin nor Sec-Fetch-Site; call this route from the MCP client, not from a web page.',
    });
  // DNS rebinding: a page on evil.example re-pointed at 127.0.0.1 still sends its own host name.
  const host = String(req.headers.host ?? '').toLowerCase();
  if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
    throw new DaemonError('bad_host', `refused: the Host header must be 127.0.0.1:${port} or localhost:${port}`);
  }
  if (!MCP_SERVER.test(server)) {
    throw new DaemonError('unknown_mcp_server', `"${server.slice(0, 100)}" is not an MCP server name`, {
      hint: `Use the URL keyward migrate wrote: http://127.0.0.1:${port}/_mcp/<server>/<path>.`,
    });
  }
  checkFraming(req.headers, method, query);

  // The caller: a live process of this OS user, from the kernel's socket table. Fail closed.
  if (!PEER_LOOKUP_SUPPORTED) {
    throw new DaemonError('peer_lookup_unsupported', 'the MCP route needs to identify the calling process, which keyward can do only on Linux', {
      hint: 'On this platform, start the MCP server through keyward run instead (see docs/integrations/mcp-clients.md).',
    });
  }
  const peer = await ctx.peerOf(req);
  if (peer.pid === undefined)
    throw new DaemonError('unknown_caller', 'the calling process could not be identified', {
      hint: 'keyward reads it from /proc/net/tcp and /proc/<pid>/fd; a process that has exited, or one of another user, is not identified.',
    });
  context.pid = peer.pid;
  peer.owner ??= processOwner(peer.pid) ?? null;
  const uid = process.getuid?.();
  if (!peer.owner || peer.owner.uids.some((u) => u !== uid)) {
    throw new DaemonError('foreign_user', `process ${peer.pid} is not a live process of the user the daemon runs as`);
  }

  const { vault, providers: registry } = ctx.deps;
  const target = mcpTarget(vault.find({ helper: MCP_HELPER, server }), server);
  context.credential = target.credential;
  context.host = new URL(target.upstream).hostname;
  context.path = rest;
  const entry = vault.describe(target.credential);
  const providers = registry();
  const base = (entry && providers.get(entry.provider)) ?? providers.get('generic')!;
  const permission = mcpPermission(base);
  if (!permission) {
    throw new DaemonError('bad_mcp_entry', `vault entry ${target.credential} has provider ${base.name}, which has no permission allowing GET, POST and DELETE on every path`, {
      hint: 'Store MCP keys with the generic provider: run keyward migrate again for this MCP client.',
    });
  }
  const profile = mcpProfile(base, target);

  const access = await clients.access({ target, permission, pid: peer.pid, start: peer.owner.start, ancestors: peer.ancestors });
  context.session = access.session;
  if (!access.ok) throw access.error;
  context.grant = access.grant;
  if (!allowedBy(profile.permissions[permission] ?? [], method, rest)) {
    throw new DaemonError('out_of_scope', `${method} is not allowed by permission ${permission} of ${target.credential}`);
  }
  const secret = await ctx.secretFor(target.credential);
  await ctx.forwarder.forward(req, res, { path: rest, query, host: context.host, profile, secret, grant: access.grant, session: access.session });
}
