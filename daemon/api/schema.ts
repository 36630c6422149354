import { z } from 'zod';

/**
 * The socket API's request bodies, shared by the daemon (which validates every request) and the
 * CLI client. Strict objects: an unknown field is an error, not something silently ignored.
 * Documented in docs/socket-api.md.
 */
const name = z.string().min(1).max(64);
const ttl = z.union([z.number().int().positive(), z.string().min(1).max(16)]);

export const openSessionBody = z.strictObject({
  agent: z.string().min(1).max(64),
  task: z.string().max(500).optional(),
  /** The root process of the session (keyward run); its descendants belong to the session. */
  pid: z.number().int().positive().optional(),
});

/** `keyward vault unlock`: the file vault's passphrase, typed by a person. */
export const unlockBody = z.strictObject({ passphrase: z.string().min(1).max(1024) });

export const grantBody = z
  .strictObject({
    /** `credential:permission[:resource]` as typed after --grant; the daemon splits it. */
    spec: z.string().min(1).max(300).optional(),
    credential: name.optional(),
    permission: z.string().min(1).max(64).optional(),
    resource: z.string().min(1).max(200).optional(),
    /** Seconds, or a duration such as "15m". */
    ttl: ttl.optional(),
    mode: z.enum(['proxy', 'release']).optional(),
  })
  .refine((b) => (b.spec !== undefined) !== (b.credential !== undefined), { message: 'give either spec or credential (and permission)' })
  .refine((b) => b.spec !== undefined || b.mode === 'release' || b.permission !== undefined, { message: 'permission is required' });

export const resolveBody = z.strictObject({ grant: z.string().min(1).max(100) });

export const vaultAddBody = z.strictObject({
  name,
  provider: z.string().min(1).max(64),
  value: z
    .string()
    .min(1)
    .max(64 * 1024),
  source: z.string().max(300).optional(),
  replace: z.boolean().optional(),
  /** Lookup keys for credential helpers: `{ helper: "git", host: "github.com", username: "ada" }`. */
  attributes: z.record(z.string().regex(/^[a-z][a-zA-Z0-9_-]{0,31}$/), z.string().max(300)).optional(),
});

/** Turns an entry into a minting root (or changes its lookup keys): provider and attributes, never the value. */
export const vaultUpdateBody = z.strictObject({
  provider: z.string().min(1).max(64).optional(),
  attributes: z.record(z.string().regex(/^[a-z][a-zA-Z0-9_-]{0,31}$/), z.string().max(300)).optional(),
});

export const revokeBody = z
  .strictObject({
    grant: z.string().min(1).max(64).optional(),
    session: z.string().min(1).max(64).optional(),
    agent: z.string().min(1).max(64).optional(),
    all: z.boolean().optional(),
  })
  .refine((b) => [b.grant, b.session, b.agent, b.all].filter((x) => x !== undefined && x !== false).length === 1, {
    message: 'give exactly one of grant, session, agent or all',
  });

/** Bytes to seal or unseal (migration backups), base64; config files of up to 16 MiB. */
export const SEAL_LIMIT = 24 * 1024 * 1024;
/** `context`: what the backup belongs to (migration id and file path); unsealing needs the same. */
export const sealBody = z.strictObject({ data: z.string().max(SEAL_LIMIT), context: z.string().min(1).max(4096) });

/**
 * `POST /v1/vault/:name/backup`: the entry (value, provider, attributes) sealed inside the daemon
 * for `context`; the value never leaves it in the clear. `keyward migrate` keeps one before it
 * replaces an entry.
 */
export const vaultBackupBody = z.strictObject({ context: z.string().min(1).max(4096) });

/** A sealed entry backup, base64 (a 64 KiB value and its metadata, sealed). */
const sealedEntry = z
  .string()
  .min(1)
  .max(128 * 1024);

/**
 * `POST /v1/vault/:name/restore`: puts the entry back as `backup` holds it. With `expect` (a
 * backup of what the entry should hold now), it refuses with `conflict` when the entry changed
 * since, unless `force`.
 */
export const vaultRestoreBody = z.strictObject({
  backup: sealedEntry,
  context: z.string().min(1).max(4096),
  expect: sealedEntry.optional(),
  expectContext: z.string().min(1).max(4096).optional(),
  force: z.boolean().optional(),
});

/** What `keyward migrate` records in the audit log (names, paths and counts; never values). */
export const migrationEventBody = z.strictObject({
  event: z.enum(['migrate.apply', 'migrate.undo', 'migrate.exposed']),
  credential: z.string().max(64).optional(),
  reason: z.string().max(500).optional(),
  detail: z.record(z.string(), z.union([z.string().max(500), z.number(), z.boolean(), z.array(z.string().max(500)).max(100)])).optional(),
});

/** A new finding seen by `keyward watch`, for the audit log: never the secret. */
export const findingBody = z.strictObject({
  rule: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/, 'is not a rule id'),
  provider: z.string().min(1).max(64).optional(),
  file: z
    .string()
    .min(1)
    .max(4096)
    .refine((f) => f.startsWith('/') || /^[A-Za-z]:[\\/]/.test(f), { message: 'must be an absolute path' }),
  line: z.number().int().positive(),
  column: z.number().int().positive().optional(),
  fingerprint: z.string().regex(/^[0-9a-f]{64}$/, 'is not a sha256 fingerprint'),
});

export const consentAnswerBody = z.strictObject({ answer: z.enum(['allow-once', 'allow-session', 'always', 'deny']) });

export type OpenSessionBody = z.infer<typeof openSessionBody>;
export type GrantBody = z.infer<typeof grantBody>;
export type VaultAddBody = z.infer<typeof vaultAddBody>;
export type RevokeBody = z.infer<typeof revokeBody>;
export type FindingBody = z.infer<typeof findingBody>;

/** Every error the API returns has this shape. */
export interface ApiError {
  error: { code: string; message: string; hint?: string };
}

/** Confirms the pending configuration change with this id (the one the person was shown). */
export const configApplyBody = z.strictObject({ id: z.string().regex(/^cfg_[0-9a-f]{12}$/) });
