import { createReadStream, statSync } from 'node:fs';
import { RegistryStore, type Credentials, type RegistryRef } from './registry.js';
import { ImageError } from './store.js';

/**
 * Where a layer's bytes are, as plain data: a worker thread can open it as well as the main
 * thread (layers of one image are scanned in parallel).
 */
export type LayerSource =
  | { kind: 'file'; path: string; start?: number; size?: number; missing: string }
  | { kind: 'registry'; ref: RegistryRef; digest: string; insecure?: boolean; timeout: number; credentials?: Credentials; authorization?: string }
  | { kind: 'missing'; message: string };

export async function openLayerSource(source: LayerSource): Promise<AsyncIterable<Buffer>> {
  switch (source.kind) {
    case 'missing':
      throw new ImageError(source.message);
    case 'file': {
      try {
        statSync(source.path);
      } catch {
        throw new ImageError(source.missing);
      }
      if (source.size === 0) return (async function* () {})();
      const start = source.start ?? 0;
      return createReadStream(source.path, { start, ...(source.size !== undefined ? { end: start + source.size - 1 } : {}), highWaterMark: 1024 * 1024 });
    }
    case 'registry': {
      const store = new RegistryStore(source.ref, { insecure: source.insecure, timeout: source.timeout, credentials: source.credentials, authorization: source.authorization });
      return store.openBlob(source.digest);
    }
  }
}
