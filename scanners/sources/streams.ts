import { Readable, pipeline } from 'node:stream';
import * as zlib from 'node:zlib';

/** Compressed streams: gzip through zlib (decompressed off the main thread), zstd through zlib when Node has it, else fzstd. */
export type Compression = 'gzip' | 'zstd' | 'none';

export function compressionOf(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

export class ExpansionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExpansionError';
  }
}

/** How much a compressed stream may expand before it is taken for a bomb. */
export interface ExpansionLimit {
  /** Expanded bytes past which `ratio` applies. */
  floor: number;
  /** Largest expanded/compressed ratio past `floor`. */
  ratio: number;
  /** Largest expanded size, whatever the ratio. */
  maxBytes: number;
}

const CHUNK = 64 * 1024;

/** Decompresses a byte stream; throws `ExpansionError` when it expands past the limit, a plain Error when it is corrupt. */
export async function* decompress(source: AsyncIterable<Buffer>, compression: Compression, limit?: ExpansionLimit): AsyncGenerator<Buffer> {
  if (compression === 'none') {
    yield* source;
    return;
  }
  let compressed = 0;
  const counted = (async function* () {
    for await (const chunk of source) {
      compressed += chunk.length;
      yield chunk;
    }
  })();
  let expanded = 0;
  const check = (n: number) => {
    expanded += n;
    if (!limit) return;
    if (expanded > limit.maxBytes) throw new ExpansionError(`expands past ${limit.maxBytes} bytes: refused`);
    if (expanded > limit.floor && expanded > limit.ratio * Math.max(1, compressed)) {
      throw new ExpansionError(`expands more than ${limit.ratio} times (${compressed} bytes to over ${expanded}): refused as a possible decompression bomb`);
    }
  };
  if (compression === 'zstd' && typeof (zlib as { createZstdDecompress?: unknown }).createZstdDecompress !== 'function') {
    for await (const chunk of zstdFallback(counted)) {
      check(chunk.length);
      yield chunk;
    }
    return;
  }
  const inflater =
    compression === 'gzip'
      ? zlib.createGunzip({ chunkSize: CHUNK })
      : (zlib as unknown as { createZstdDecompress(o: object): NodeJS.ReadWriteStream }).createZstdDecompress({ chunkSize: CHUNK });
  const out = pipeline(Readable.from(counted), inflater as NodeJS.ReadWriteStream, () => {}) as unknown as Readable;
  try {
    for await (const chunk of out as AsyncIterable<Buffer>) {
      check(chunk.length);
      yield chunk;
    }
  } catch (error) {
    if (error instanceof ExpansionError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code.startsWith('Z_') || code.startsWith('ERR_ZSTD') || code === 'ERR__ZLIB_INITIALIZATION_FAILED') {
      throw new Error(`corrupt ${compression} data (${(error as Error).message})`);
    }
    throw error;
  } finally {
    (out as Readable).destroy();
  }
}

/** zstd in pure JavaScript (fzstd) for Node versions without zlib's zstd. */
async function* zstdFallback(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const { Decompress } = await import('fzstd');
  let ready: Buffer[] = [];
  const decoder = new Decompress((data) => {
    // A copy: the decoder may hand out views of its window, which it reuses.
    if (data.length > 0) ready.push(Buffer.from(data));
  });
  const step = function* (chunk: Uint8Array, final: boolean) {
    try {
      decoder.push(chunk, final);
    } catch (error) {
      throw new Error(`corrupt zstd data (${(error as Error).message})`);
    }
    const out = ready;
    ready = [];
    yield* out;
  };
  for await (const chunk of source) yield* step(chunk, false);
  yield* step(new Uint8Array(0), true);
}
