import type { LayerSource } from './source.js';

/**
 * Where an image's blobs come from: an OCI layout directory, an OCI or docker archive (a tar
 * read in place), or a registry. Manifests and configs are small and read whole; layers are
 * streamed and never written anywhere.
 */

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
  annotations?: Record<string, string>;
}

/** A problem with one image that stops it being scanned (not a bug): shown as an issue. */
export class ImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageError';
  }
}

/** Largest manifest, index or config read into memory. */
export const MAX_JSON_BLOB = 16 * 1024 * 1024;

export interface BlobStore {
  /** How the store names itself in messages. */
  readonly name: string;
  /** A small blob (manifest, config), whole. */
  readBlob(digest: string, maxSize?: number): Promise<Buffer>;
  /** A layer, streamed. */
  openBlob(digest: string, size: number): Promise<AsyncIterable<Buffer>>;
  /** Where a layer is, as data (see source.ts). */
  layerSource(digest: string): LayerSource;
}

export function parseJsonBlob<T>(data: Buffer, what: string): T {
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch {
    throw new ImageError(`${what} is not valid JSON`);
  }
}

export function checkDigest(digest: unknown, what: string): string {
  if (typeof digest !== 'string' || !/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/.test(digest)) throw new ImageError(`${what} has no valid digest`);
  return digest;
}
