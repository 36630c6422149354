import { createReadStream, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { LayerSource } from './source.js';
import { ImageError, MAX_JSON_BLOB, checkDigest, type BlobStore } from './store.js';

/** An OCI image layout directory: `index.json`, `oci-layout`, `blobs/<alg>/<hex>`. */
export class LayoutStore implements BlobStore {
  constructor(
    private readonly dir: string,
    readonly name: string,
  ) {}

  static isLayout(dir: string): boolean {
    try {
      return statSync(join(dir, 'index.json')).isFile() && statSync(join(dir, 'oci-layout')).isFile();
    } catch {
      return false;
    }
  }

  index(): Buffer {
    try {
      return readFileSync(join(this.dir, 'index.json'));
    } catch {
      throw new ImageError(`${this.name}: cannot read index.json`);
    }
  }

  private path(digest: string): string {
    const [alg, hex] = checkDigest(digest, 'a descriptor').split(':');
    return join(this.dir, 'blobs', alg, hex);
  }

  async readBlob(digest: string, maxSize = MAX_JSON_BLOB): Promise<Buffer> {
    const path = this.path(digest);
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      throw new ImageError(`blob ${digest} is missing from the layout`);
    }
    if (size > maxSize) throw new ImageError(`blob ${digest} is ${size} bytes, too large for a manifest or config`);
    return readFileSync(path);
  }

  layerSource(digest: string): LayerSource {
    return { kind: 'file', path: this.path(digest), missing: `blob ${digest} is missing from the layout` };
  }

  async openBlob(digest: string): Promise<AsyncIterable<Buffer>> {
    const path = this.path(digest);
    try {
      statSync(path);
    } catch {
      throw new ImageError(`blob ${digest} is missing from the layout`);
    }
    return createReadStream(path, { highWaterMark: 1024 * 1024 });
  }
}
