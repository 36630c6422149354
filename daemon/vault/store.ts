/** Where secret values live. Metadata (provider, dates) is kept apart, in the vault index. */
export interface SecretStore {
  readonly kind: 'keychain' | 'file';
  set(name: string, value: string): Promise<void>;
  /** null when there is no such entry. */
  get(name: string): Promise<string | null>;
  delete(name: string): Promise<boolean>;
  check(): Promise<void>;
}
