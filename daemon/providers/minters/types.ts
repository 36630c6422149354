import type { VaultEntry } from '../../vault/vault.js';
import type { ProviderProfile } from '../types.js';

/**
 * A minter turns a vault entry's long-lived root credential into a short-lived upstream
 * credential scoped to one grant, and revokes that credential upstream when the grant ends.
 * One file per kind in this folder; `index.ts` lists them. docs/minting.md documents each.
 */
export interface MintPermission {
  /** Whether the permission applies to one named resource (a bucket, a repository). */
  resource: boolean;
  /** One line for `keyward grants` and the docs: what the minted credential may do. */
  summary: string;
}

/** Where a minter runs: the root secret, its entry and the provider profile (upstream, CA). */
export interface MintRoot {
  /** The vault value: never logged, never put in an error message. */
  root: string;
  entry: VaultEntry;
  profile: ProviderProfile;
  /** Who this keyward instance is (`user@host`): marks what it created upstream. */
  owner: string;
}

export interface MintRequest extends MintRoot {
  grant: string;
  permission: string;
  resource?: string;
  /** Epoch milliseconds. */
  issued: number;
  expires: number;
}

export interface MintedCredential {
  kind: string;
  /** What the proxy injects or a release hands out: the minted credential, never the root. */
  secret: string;
  /** The upstream's own expiry (epoch ms); may be later than the grant's (STS's 15-minute floor). */
  expires: number;
  /** Upstream identifiers for the audit log and `keyward grants`: never a secret. */
  ids: Record<string, string | string[]>;
  /** Variables a process gets when the credential is released into its environment. */
  env: Record<string, string>;
  /** Revokes the credential upstream; absent where the upstream cannot revoke (STS). */
  revoke?: () => Promise<void>;
}

export interface Minter {
  kind: string;
  /** Whether the proxy can inject the minted secret (an HTTP API); otherwise grants are release grants. */
  proxy: boolean;
  /** Whether this minter serves the entry (its provider and attributes). */
  applies(entry: VaultEntry): boolean;
  /** Named permissions the minter can scope a credential to; `release` (the entry's full scope) is implicit. */
  permissions(profile: ProviderProfile): Record<string, MintPermission>;
  /** Mints; throws a DaemonError `mint_failed` naming the upstream's answer when refused. */
  mint(request: MintRequest): Promise<MintedCredential>;
  /**
   * Removes what an earlier run of this keyward created and could not revoke (a crash), skipping
   * what belongs to grants of this run (`live`); returns the ids removed.
   */
  sweep?(root: MintRoot, live: (grant: string) => boolean): Promise<string[]>;
}
