/**
 * The flags of `keyward scan`, described once. The oclif command builds its flags from this, and
 * the start-up fast path (bin/run.js → cli/scan-main.ts, which must not load oclif) parses the
 * same table with node:util, so both accept exactly the same command line.
 */
export interface FlagSpec {
  type: 'boolean' | 'string';
  description: string;
  char?: string;
  options?: readonly string[];
  default?: string;
  helpValue?: string;
  /** A string flag that may be given more than once. */
  multiple?: boolean;
}

export const SCAN_FLAGS = {
  staged: { type: 'boolean', description: 'Scan only the lines the staged changes add (for a pre-commit hook).' },
  history: { type: 'boolean', description: 'Scan every commit on every ref; each secret is reported once, where it first appeared.' },
  since: { type: 'string', description: 'With --history: only commits not reachable from REV (a tag, branch or commit).', helpValue: 'REV' },
  branch: { type: 'string', description: 'With --history: only commits reachable from REF instead of every ref.', helpValue: 'REF' },
  format: { type: 'string', char: 'f', description: 'Report format.', options: ['text', 'json', 'sarif'], default: 'text' },
  json: { type: 'boolean', description: 'Same as --format json.' },
  output: { type: 'string', char: 'o', description: 'Write the report to FILE instead of standard output.', helpValue: 'FILE' },
  baseline: { type: 'string', char: 'b', description: 'Ignore findings whose fingerprints are in this baseline file.', helpValue: 'FILE' },
  'write-baseline': { type: 'string', description: 'Write every current finding to a baseline FILE (accepting them) and exit 0.', helpValue: 'FILE' },
  config: { type: 'string', char: 'c', description: 'Config file to use instead of .keyward.yaml at the repository root.', helpValue: 'FILE' },
  'show-secrets': { type: 'boolean', description: 'Print secrets in full instead of redacted.' },
  'no-progress': { type: 'boolean', description: 'Never show the progress line (it is only shown on a terminal anyway).' },
  'max-file-size': { type: 'string', description: 'Skip (and count) files larger than this, e.g. 64MB.', default: '64MB', helpValue: 'SIZE' },
  threads: { type: 'string', description: 'Worker threads (default: one per core).', helpValue: 'N' },
  'decode-depth': { type: 'string', description: 'Decode base64 and percent-encoded runs and rescan them this many levels deep (0: off).', default: '2', helpValue: 'N' },
  verify: {
    type: 'boolean',
    description: 'Ask each provider whether its keys are live: one read-only request per unique key to its documented API host (off by default).',
  },
  'archive-depth': { type: 'string', description: 'Open zip, tar and gzip archives nested this many levels deep (0: do not open archives).', default: '3', helpValue: 'N' },
} as const satisfies Record<string, FlagSpec>;

/** Flags of every scan command: report, baseline, config, limits. */
const { staged: _s, history: _h, since: _si, branch: _b, threads: _t, verify: _v, ...COMMON } = SCAN_FLAGS;
export const COMMON_SCAN_FLAGS = COMMON;

const { 'archive-depth': _a, ...HOME_COMMON } = COMMON;

export const HOME_FLAGS = {
  ...HOME_COMMON,
  project: {
    type: 'string',
    char: 'p',
    multiple: true,
    description: 'Also look through this directory for .env files, .npmrc and project MCP/agent configs (repeatable).',
    helpValue: 'DIR',
  },
  home: { type: 'string', description: 'Home directory to look in instead of your own.', helpValue: 'DIR' },
} as const satisfies Record<string, FlagSpec>;

export const IMAGE_FLAGS = {
  ...COMMON,
  threads: SCAN_FLAGS.threads,
  platform: {
    type: 'string',
    description: "Platform to scan in a multi-platform image, e.g. linux/arm64 (default: linux and this machine's architecture).",
    helpValue: 'OS/ARCH[/VARIANT]',
  },
  insecure: { type: 'boolean', description: 'Talk to the registry over plain HTTP.' },
  authfile: { type: 'string', description: 'Registry credentials: a containers auth.json or Docker config.json.', helpValue: 'FILE' },
  timeout: { type: 'string', description: 'Give up on a registry request that has not answered after this many seconds.', default: '30', helpValue: 'SECONDS' },
  'max-image-size': { type: 'string', description: 'Refuse an image whose layers declare more than this in all, e.g. 8GB.', default: '8GB', helpValue: 'SIZE' },
} as const satisfies Record<string, FlagSpec>;

export type HomeFlags = { [K in keyof typeof HOME_FLAGS]?: K extends 'project' ? string[] : (typeof HOME_FLAGS)[K]['type'] extends 'boolean' ? boolean : string };
export type ImageFlags = { [K in keyof typeof IMAGE_FLAGS]?: (typeof IMAGE_FLAGS)[K]['type'] extends 'boolean' ? boolean : string };

export type ScanFlagName = keyof typeof SCAN_FLAGS;
export type ScanFlags = {
  [K in ScanFlagName]?: (typeof SCAN_FLAGS)[K]['type'] extends 'boolean' ? boolean : string;
};
