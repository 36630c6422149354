import { isKeywardError, KeywardError } from '../kernel/errors.js';

/**
 * Every refusal and failure the daemon answers with, by code. Both sockets and the proxy answer
 * `{error: {code, message, hint?, ...}}` with the status this table gives, so a code means the
 * same thing wherever it comes from. docs/socket-api.md lists them.
 */
const STATUS = {
  // The request itself is wrong.
  bad_request: 400,
  bad_json: 400,
  bad_path: 400,
  aborted: 400,
  absolute_form: 400,
  ambiguous_length: 400,
  host_mismatch: 400,
  resource_required: 400,
  unknown_permission: 400,
  unknown_provider: 400,
  // No valid capability.
  invalid_session: 401,
  invalid_grant: 401,
  no_grant_token: 401,
  // Refused: who is asking, or what they ask for.
  admin_refused: 403,
  bad_host: 403,
  browser_request: 403,
  consent_timeout: 403,
  denied: 403,
  egress_denied: 403,
  foreign_session: 403,
  foreign_user: 403,
  method_override: 403,
  out_of_scope: 403,
  peer_lookup_unsupported: 403,
  proxy_loop: 403,
  proxy_only: 403,
  release_grant: 403,
  session_ended: 403,
  unknown_caller: 403,
  wrong_credential: 403,
  wrong_host: 403,
  // Nothing by that name.
  not_found: 404,
  unknown_consent: 404,
  unknown_credential: 404,
  unknown_grant: 404,
  unknown_mcp_server: 404,
  method_not_allowed: 405,
  timeout: 408,
  // State does not allow it.
  already_answered: 409,
  always_ineffective: 409,
  ambiguous_mcp_server: 409,
  conflict: 409,
  already_running: 409,
  too_large: 413,
  invalid_policy: 422,
  too_many_connections: 429,
  // The daemon or what it depends on.
  internal: 500,
  unsupported: 501,
  bad_mcp_entry: 502,
  mint_failed: 502,
  no_upstream: 502,
  proxy_error: 502,
  upstream_error: 502,
  audit_unavailable: 503,
  keychain_error: 503,
  vault_damaged: 503,
  vault_error: 503,
  vault_locked: 503,
  vault_missing: 503,
  upstream_timeout: 504,
} as const satisfies Record<string, number>;

export type DaemonErrorCode = keyof typeof STATUS;

/**
 * A refusal or failure the daemon reports to its caller. `details` go into the JSON error beside
 * `code` and `message` (`hint` says what to do next; the proxy adds `needs` and `consent`).
 * Never put a secret or a token in either.
 */
export class DaemonError extends KeywardError {
  readonly details: { hint?: string } & Record<string, unknown>;

  constructor(code: DaemonErrorCode, message: string, details: { hint?: string } & Record<string, unknown> = {}) {
    super(message, { code, hint: details.hint });
    this.details = details;
  }

  get status(): number {
    return STATUS[this.code as DaemonErrorCode];
  }
}

/** The HTTP status for any error a handler threw: the table for known codes, 500 for bugs. */
export function statusOf(error: unknown): number {
  if (isKeywardError(error)) return STATUS[error.code as DaemonErrorCode] ?? 503;
  return 500;
}

/** The JSON body for an error: `{error: {code, message, hint?, ...details}}`. */
export function errorBody(error: KeywardError): { error: Record<string, unknown> } {
  const details = error instanceof DaemonError ? error.details : error.hint ? { hint: error.hint } : {};
  return { error: { code: error.code, message: error.message, ...details } };
}
