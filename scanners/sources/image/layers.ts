import { posix } from 'node:path';
import type { Detector } from '../../detect/detector.js';
import type { Match, ScanIssue, ScanStats } from '../../types.js';
import { scanTarStream, type ArchiveLimits, type ContentContext } from '../archive.js';
import { ExpansionError, compressionOf } from '../streams.js';
import { TarError } from '../tar.js';
import { ImageError } from './store.js';
import { openLayerSource, type LayerSource } from './source.js';

/** What one layer holds: matches by path, and what its whiteouts delete from the layers below. */
export interface LayerOutcome {
  items: { path: string; matches: Match[] }[];
  /** Paths deleted by `.wh.NAME` entries. */
  whiteouts: Set<string>;
  /** Directories (with a trailing `/`) made opaque by `.wh..wh..opq`: lower layers' contents are hidden. */
  opaque: string[];
  issues: ScanIssue[];
  /** Layer bytes read (as stored: compressed). */
  bytes: number;
}

/**
 * A layer is a tar, compressed or not (gzip, zstd, plain: told by its first bytes, whatever the
 * media type says). A gzip layer may expand at most this much: a layer of zeros that expands
 * 1000 times is a decompression bomb, not an image.
 */
const LAYER_EXPANSION = { floor: 256 * 1024 * 1024, ratio: 500, maxBytes: 256 * 1024 ** 3 };

export interface LayerContext {
  detector: Detector;
  limits: ArchiveLimits;
  maxFileSize: number;
  stats: ScanStats;
  onBytes?: (n: number) => void;
}

/** What scanLayer needs of a layer: plain data, so that a worker thread can be given it. */
export interface LayerJob {
  digest: string;
  size: number;
  source: LayerSource;
}

export async function scanLayer(layer: LayerJob, base: LayerContext): Promise<LayerOutcome> {
  const outcome: LayerOutcome = { items: [], whiteouts: new Set(), opaque: [], issues: [], bytes: 0 };
  const ctx: ContentContext = {
    detector: base.detector,
    limits: base.limits,
    maxFileSize: base.maxFileSize,
    stats: base.stats,
    issues: outcome.issues,
    report: (path, matches) => outcome.items.push({ path, matches }),
  };
  try {
    const source = await openLayerSource(layer.source);
    const counted = (async function* () {
      for await (const chunk of source) {
        outcome.bytes += chunk.length;
        if (layer.size > 0 && outcome.bytes > layer.size) throw new ImageError(`larger than the ${layer.size} bytes its manifest declares: stopped`);
        base.onBytes?.(chunk.length);
        yield chunk;
      }
    })();
    const { compression, chunks } = await peek(counted);
    await scanTarStream(ctx, '', chunks, compression, 0, undefined, layer.size, {
      tarOnly: true,
      limit: LAYER_EXPANSION,
      memberPath: (entry) => entry.path,
      onEntry: (entry) => {
        const name = posix.basename(entry.path);
        if (!name.startsWith('.wh.')) return;
        const dir = posix.dirname(entry.path);
        if (name === '.wh..wh..opq') outcome.opaque.push(dir === '.' ? '' : `${dir}/`);
        else outcome.whiteouts.add(dir === '.' ? name.slice(4) : `${dir}/${name.slice(4)}`);
      },
    });
  } catch (error) {
    outcome.issues.push({ message: layerMessage(error) });
  }
  return outcome;
}

function layerMessage(error: unknown): string {
  if (error instanceof ImageError || error instanceof TarError || error instanceof ExpansionError) return error.message;
  const message = (error as Error).message ?? String(error);
  if (message.startsWith('corrupt ')) return message;
  return `cannot read: ${message}`;
}

/** The first chunk says how the stream is compressed; it is handed on with the rest. */
async function peek(source: AsyncGenerator<Buffer>): Promise<{ compression: ReturnType<typeof compressionOf>; chunks: AsyncIterable<Buffer> }> {
  const first = await source.next();
  if (first.done) return { compression: 'none', chunks: (async function* () {})() };
  const head = first.value;
  return {
    compression: compressionOf(head),
    chunks: (async function* () {
      yield head;
      yield* source;
    })(),
  };
}

/** The first layer after `from` whose whiteouts delete `path` (or a directory above it). */
export function deletedIn(path: string, from: number, layers: LayerOutcome[]): number | undefined {
  const file = path.split('!/')[0];
  const parents: string[] = [];
  for (let at = file.indexOf('/'); at !== -1; at = file.indexOf('/', at + 1)) parents.push(file.slice(0, at));
  for (let m = from + 1; m < layers.length; m++) {
    const l = layers[m];
    if (l.whiteouts.has(file) || parents.some((p) => l.whiteouts.has(p)) || l.opaque.some((d) => file.startsWith(d))) return m;
  }
  return undefined;
}
