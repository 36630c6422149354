import { randomBytes } from 'node:crypto';
import type { Client } from 'pg';
import { base62FromBytes } from '../../../kernel/checksum.js';
import { DaemonError } from '../../errors.js';
import type { MintedCredential, Minter, MintRequest, MintRoot } from './types.js';

/**
 * PostgreSQL: a login role per grant. The vault entry (provider `postgres`) holds an admin
 * connection URL whose role has CREATEROLE (and pg_signal_backend, to end the grant's
 * connections). A grant creates `kw_<random>` with a random password, VALID UNTIL the grant's
 * expiry and membership in the role its permission names; the grant's end terminates the role's
 * connections and drops it. The role's comment marks it as keyward's, so roles a crashed daemon
 * left behind are dropped at the next start.
 */
const ROLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const MARK = 'keyward grant';

/** Attributes on the entry override these: `readRole`, `writeRole`. */
export const DEFAULT_ROLES = { read: 'pg_read_all_data', write: 'pg_write_all_data' };

function rolesFor(root: MintRoot, permission: string): string[] {
  const read = root.entry.attributes?.readRole ?? DEFAULT_ROLES.read;
  const write = root.entry.attributes?.writeRole ?? DEFAULT_ROLES.write;
  const roles = permission === 'read' ? [read] : [read, write];
  for (const r of roles) {
    if (!ROLE_NAME.test(r))
      throw new DaemonError('bad_request', `vault entry ${root.entry.name}: "${r}" is not a role name`, { hint: 'Set readRole / writeRole to plain role names.' });
  }
  return [...new Set(roles)];
}

async function connect(root: MintRoot): Promise<Client> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: root.root, connectionTimeoutMillis: 5000, statement_timeout: 10_000, application_name: 'keyward' });
  try {
    await client.connect();
  } catch (error) {
    throw upstreamError(root, 'could not connect with the admin URL', error);
  }
  return client;
}

/** The server's answer (its message and SQLSTATE), never the connection URL. */
function upstreamError(root: MintRoot, what: string, error: unknown): DaemonError {
  const e = error as { message?: string; code?: string };
  const answer = e.code ? `${e.message} (SQLSTATE ${e.code})` : (e.message ?? String(error));
  return new DaemonError('mint_failed', `PostgreSQL (${root.entry.name}): ${what}: ${answer.replaceAll(root.root, '<admin url>')}`, {
    hint: 'The admin role needs CREATEROLE, and pg_signal_backend to end grants; check the URL with: keyward vault add --replace',
  });
}

async function dropRole(client: Client, role: string): Promise<void> {
  const id = client.escapeIdentifier(role);
  // No new logins, then end the open ones (a grant's end is not only for new connections).
  await client.query(`ALTER ROLE ${id} NOLOGIN`);
  await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
  await client.query(`DROP ROLE ${id}`);
}

export const postgresMinter: Minter = {
  kind: 'postgres-role',
  proxy: false,
  applies: (entry) => entry.provider === 'postgres' || entry.attributes?.mint === 'postgres-role',
  permissions: () => ({
    read: { resource: false, summary: 'a login role in the read role (default pg_read_all_data)' },
    write: { resource: false, summary: 'a login role in the read and write roles (default pg_read_all_data, pg_write_all_data)' },
  }),

  async mint(r: MintRequest): Promise<MintedCredential> {
    const permission = r.permission === 'release' ? 'read' : r.permission;
    const roles = rolesFor(r, permission);
    const role = `kw_${base62FromBytes(randomBytes(9)).toLowerCase()}`;
    const password = base62FromBytes(randomBytes(24));
    const until = new Date(r.expires).toISOString();
    const client = await connect(r);
    try {
      const id = client.escapeIdentifier(role);
      await client.query('BEGIN');
      await client.query(
        `CREATE ROLE ${id} LOGIN PASSWORD ${client.escapeLiteral(password)} VALID UNTIL ${client.escapeLiteral(until)} IN ROLE ${roles.map((x) => client.escapeIdentifier(x)).join(', ')}`,
      );
      await client.query(`COMMENT ON ROLE ${id} IS ${client.escapeLiteral(`${MARK} ${r.grant} of ${r.owner} until ${until}`)}`);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      await client.end().catch(() => {});
      throw upstreamError(r, `could not create a role for grant ${r.grant}`, error);
    }
    const { host, port, database } = client;
    await client.end().catch(() => {});
    const socket = host.startsWith('/');
    const url = new URL(`postgresql://${socket ? 'localhost' : host.includes(':') ? `[${host}]` : host}:${port}/`);
    url.username = role;
    url.password = password;
    url.pathname = `/${encodeURIComponent(database ?? '')}`;
    if (socket) url.searchParams.set('host', host);
    const env = { DATABASE_URL: url.toString(), PGHOST: host, PGPORT: String(port), PGUSER: role, PGPASSWORD: password, PGDATABASE: database ?? '' };
    return {
      kind: this.kind,
      secret: url.toString(),
      expires: r.expires,
      ids: { role, memberOf: roles },
      env,
      revoke: async () => {
        const admin = await connect(r);
        try {
          await dropRole(admin, role);
        } catch (error) {
          throw upstreamError(r, `could not drop role ${role}`, error);
        } finally {
          await admin.end().catch(() => {});
        }
      },
    };
  },

  async sweep(root: MintRoot, live: (grant: string) => boolean): Promise<string[]> {
    const client = await connect(root);
    const dropped: string[] = [];
    try {
      const found = await client.query<{ rolname: string; comment: string }>(
        "SELECT rolname, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname LIKE 'kw\\_%' AND shobj_description(oid, 'pg_authid') LIKE $1",
        [`${MARK} % of ${root.owner.replace(/[\\%_]/g, (c) => `\\${c}`)} until %`],
      );
      for (const { rolname, comment } of found.rows) {
        // A grant this run issued while the sweep was under way is not a leftover.
        if (live(comment.slice(MARK.length + 1).split(' ')[0])) continue;
        await dropRole(client, rolname);
        dropped.push(rolname);
      }
    } catch (error) {
      throw upstreamError(root, 'could not drop roles left by an earlier run', error);
    } finally {
      await client.end().catch(() => {});
    }
    return dropped;
  },
};
