/** One HTTP rule of a permission: any of these methods on any of these paths. */
export interface HttpRule {
  methods: string[];
  /** Path patterns: `*` matches one segment, `**` any number; `{resource}` is the grant's resource. */
  paths: string[];
}

export type Injection =
  | { header: string; value: string } // `{secret}` is replaced by the key
  | { basic: { username: string; password: string } } // either may be `{secret}`
  | { query: string }; // the key goes in this query parameter

export interface ProviderProfile {
  name: string;
  description?: string;
  /** Base URL of the real API (scheme and host, no path); interception hosts derive from it. */
  upstream: string;
  /** Path prefix that SDK base URLs include (OpenAI's `/v1`). */
  basePath?: string;
  /** Extra CA certificate (PEM file) to trust for this upstream. */
  ca?: string;
  inject: Injection;
  env: {
    /** Variable the SDK reads the key from. */
    key?: string;
    /** Variable the SDK reads its base URL from. */
    baseUrl?: string;
    /** Other variables that tools read the same key from. */
    aliases?: string[];
  };
  permissions: Record<string, HttpRule[]>;
  /** How `{resource}` appears in paths (see proxy/rules.ts). */
  resource?: { segments?: number; encoded?: boolean; caseInsensitive?: boolean };
  /** Where the user rotates keys of this provider. */
  keysUrl?: string;
}
