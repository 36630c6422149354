/**
 * Archive limits and names, apart from the archive reader so that a scan that meets no archive
 * (the pre-commit path above all) never loads zlib, the tar and zip readers.
 */

export interface ArchiveLimits {
  /** Levels of archives opened: 1 opens the archive named, 2 also the archives inside it. */
  depth: number;
  /** Entries read from one top-level archive, nested ones included. */
  entries: number;
  /** Bytes expanded from one top-level archive, nested ones included. */
  expandedBytes: number;
  /** Largest expansion ratio of a member or stream once it is past `ratioFloor` bytes. */
  ratio: number;
  ratioFloor: number;
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = {
  depth: 3,
  entries: 100_000,
  expandedBytes: 4 * 1024 ** 3,
  ratio: 100,
  ratioFloor: 1024 * 1024,
};

/** File names that are opened as archives when a tree or a layer holds them. */
export const ARCHIVE_NAME = /\.(?:zip|jar|war|ear|whl|nupkg|vsix|tar|tgz|tar\.gz|gz|tar\.zst|tzst)$/i;
