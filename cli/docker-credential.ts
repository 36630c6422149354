import { call, ensureDaemon } from './daemon-client.js';
import { formatError } from '../kernel/errors.js';
import { readStdin } from './prompt.js';
import { releaseSecret } from './services/release.js';

/**
 * The Docker credential helper protocol (docker/docker-credential-helpers): one operation as the
 * argument, its input on stdin. Entries are named docker-<registry host> and hold
 * {"username", "secret"}; `get` goes through a release grant for the agent docker:<host>.
 */
import { dockerEntry as entryFor } from './services/migrate/names.js';

export { entryFor };

export async function main(argv: string[]): Promise<number> {
  const operation = argv[0];
  try {
    const input = (await readStdin()).trim();
    switch (operation) {
      case 'get': {
        const entry = entryFor(input);
        let value: string;
        try {
          value = (await releaseSecret(`docker:${entry.slice(7)}`, entry, { ttl: '1m' })).value;
        } catch (error) {
          if (/no vault entry named/.test(String((error as Error).message))) {
            // The protocol's own words for "not here": docker then tries without credentials.
            process.stdout.write('credentials not found in native keychain\n');
            return 1;
          }
          throw error;
        }
        const stored = JSON.parse(value) as { username: string; secret: string };
        process.stdout.write(JSON.stringify({ ServerURL: input, Username: stored.username, Secret: stored.secret }) + '\n');
        return 0;
      }
      case 'store': {
        const creds = JSON.parse(input) as { ServerURL: string; Username: string; Secret: string };
        await ensureDaemon();
        await call('admin', 'POST', '/v1/vault', {
          name: entryFor(creds.ServerURL),
          provider: 'generic',
          value: JSON.stringify({ username: creds.Username, secret: creds.Secret }),
          source: 'docker login',
          replace: true,
          attributes: { helper: 'docker', server: creds.ServerURL, username: creds.Username },
        });
        return 0;
      }
      case 'erase': {
        await ensureDaemon();
        await call('admin', 'DELETE', `/v1/vault/${encodeURIComponent(entryFor(input))}`).catch(() => undefined);
        return 0;
      }
      case 'list': {
        await ensureDaemon();
        const { entries } = await call<{ entries: { attributes?: Record<string, string> }[] }>('admin', 'GET', '/v1/vault');
        const out: Record<string, string> = {};
        for (const e of entries) if (e.attributes?.helper === 'docker' && e.attributes.server) out[e.attributes.server] = e.attributes.username ?? '';
        process.stdout.write(JSON.stringify(out) + '\n');
        return 0;
      }
      default:
        process.stderr.write('usage: docker-credential-keyward get|store|erase|list (input on stdin)\n');
        return 1;
    }
  } catch (error) {
    process.stdout.write(formatError(error).replace(/^keyward: /, '') + '\n');
    return 1;
  }
}
