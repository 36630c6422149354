import type { VaultEntry } from '../../vault/vault.js';
import { awsStsMinter } from './aws-sts.js';
import { githubAppMinter } from './github-app.js';
import { postgresMinter } from './postgres.js';
import type { Minter } from './types.js';

/** Every minter keyward has; a new one is a file beside these and a line here. */
export const minters: Minter[] = [awsStsMinter, githubAppMinter, postgresMinter];

/** The minter that serves a vault entry, if any: an entry can opt out with the attribute `mint: none`. */
export function minterFor(entry: VaultEntry): Minter | undefined {
  if (entry.attributes?.mint === 'none') return undefined;
  return minters.find((m) => m.applies(entry));
}

export type { MintedCredential, Minter, MintRequest, MintRoot } from './types.js';
