import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { gzipSync } from 'node:zlib';

/**
 * Container images written by the tests themselves, without umoci, skopeo or Docker: tar and
 * zstd framing in a few lines, gzip from node:zlib, and the three on-disk forms keyward reads
 * (an OCI layout, a `docker save` archive, an OCI archive). The images are built the way a
 * build tool builds them: one layer per step, deletions as whiteouts, config steps recorded in
 * the history as empty layers.
 */

export interface TarEntry {
  path: string;
  type?: 'file' | 'dir' | 'symlink';
  content?: string | Buffer;
  linkname?: string;
  mode?: number;
}

/** A fixed modification time, so the same files always give the same bytes (and digest). */
const MTIME = Date.parse('2026-01-01T00:00:00Z') / 1000;
const BLOCK = 512;

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, options: { type: string; size: number; mode: number; linkname?: string }): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(options.mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(options.size, 12), 124, 'ascii');
  h.write(octal(MTIME, 12), 136, 'ascii');
  h.write(options.type, 156, 'ascii');
  if (options.linkname) h.write(options.linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write('root', 265, 'ascii');
  h.write('root', 297, 'ascii');
  // The checksum is computed with its own field as eight spaces.
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

function padded(data: Buffer): Buffer[] {
  const rest = data.length % BLOCK;
  return rest ? [data, Buffer.alloc(BLOCK - rest)] : [data];
}

/** A PAX record `LEN key=value\n`, whose length counts its own digits. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length++;
  return `${length}${body}`;
}

/** A POSIX tar (ustar; a PAX header carries names longer than 100 bytes). */
export function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    const name = type === 'dir' && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path;
    const data = type === 'file' ? Buffer.from(entry.content ?? '') : Buffer.alloc(0);
    if (Buffer.byteLength(name) > 100) {
      const pax = Buffer.from(paxRecord('path', name));
      parts.push(header('PaxHeader', { type: 'x', size: pax.length, mode: 0o644 }), ...padded(pax));
    }
    const flag = type === 'dir' ? '5' : type === 'symlink' ? '2' : '0';
    parts.push(header(name, { type: flag, size: data.length, mode: entry.mode ?? (type === 'dir' ? 0o755 : 0o644), linkname: entry.linkname }));
    if (data.length) parts.push(...padded(data));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

/**
 * A valid zstd frame holding `data` in raw (stored) blocks. Node 20 cannot compress zstd; a
 * reader must still parse the frame and block headers, which is what a layer test exercises.
 */
export function zstdStored(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  const frame = Buffer.alloc(4 + 1 + 8);
  frame.writeUInt32LE(0xfd2fb528, 0);
  // Frame header descriptor: an 8-byte content size, single segment, no checksum, no dictionary.
  frame[4] = 0b1110_0000;
  frame.writeBigUInt64LE(BigInt(data.length), 5);
  parts.push(frame);
  const max = 128 * 1024;
  let offset = 0;
  do {
    const size = Math.min(max, data.length - offset);
    const last = offset + size >= data.length ? 1 : 0;
    // Block header: Last_Block (bit 0), Block_Type 0 = raw (bits 1-2), Block_Size (bits 3-23).
    const value = last | (size << 3);
    parts.push(Buffer.from([value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff]), data.subarray(offset, offset + size));
    offset += size;
  } while (offset < data.length);
  return Buffer.concat(parts);
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface ContainerConfig {
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  Labels?: Record<string, string>;
  WorkingDir?: string;
}

export interface HistoryEntry {
  created: string;
  created_by: string;
  empty_layer?: boolean;
}

/** One layer: its uncompressed tar, as a build step leaves it. */
export interface Layer {
  tar: Buffer;
  diffId: string;
}

/**
 * Files for a layer: a path ending in `/` is a directory; `null` deletes what a lower layer
 * holds (a `.wh.` whiteout). Parent directories are added as a build tool adds them.
 */
export function layer(files: Record<string, string | Buffer | null>): Layer {
  const entries: TarEntry[] = [];
  const dirs = new Set<string>();
  const addParents = (path: string) => {
    const parent = posix.dirname(path);
    if (parent === '.' || parent === '/' || dirs.has(parent)) return;
    addParents(parent);
    dirs.add(parent);
    entries.push({ path: parent, type: 'dir' });
  };
  for (const [path, content] of Object.entries(files)) {
    const clean = path.replace(/\/+$/, '');
    addParents(clean);
    if (path.endsWith('/')) {
      if (!dirs.has(clean)) entries.push({ path: clean, type: 'dir' });
      dirs.add(clean);
    } else if (content === null) {
      entries.push({ path: posix.join(posix.dirname(clean), `.wh.${posix.basename(clean)}`), mode: 0 });
    } else {
      entries.push({ path: clean, content });
    }
  }
  const bytes = tar(entries);
  return { tar: bytes, diffId: `sha256:${sha256(bytes)}` };
}

/** An image: immutable, each step returns a new one that shares the layers below it. */
export class Image {
  private constructor(
    readonly layers: readonly Layer[],
    readonly config: ContainerConfig,
    readonly history: readonly HistoryEntry[],
    readonly platform: { os: string; architecture: string },
  ) {}

  /** An image with no layers yet (as `umoci new` or `FROM scratch`). */
  static empty(platform = { os: 'linux', architecture: process.arch === 'arm64' ? 'arm64' : 'amd64' }): Image {
    return new Image([], {}, [], platform);
  }

  /** A build step that adds a layer. */
  add(files: Record<string, string | Buffer | null>, createdBy = 'ADD . /'): Image {
    return new Image([...this.layers, layer(files)], this.config, [...this.history, { created: '2026-01-01T00:00:00Z', created_by: createdBy }], this.platform);
  }

  /** A build step that changes only the config (ENV, LABEL, ENTRYPOINT…): an empty layer in the history. */
  configure(config: ContainerConfig, createdBy = 'config'): Image {
    const merged: ContainerConfig = { ...this.config, ...config };
    if (config.Env) merged.Env = [...(this.config.Env ?? []), ...config.Env];
    if (config.Labels) merged.Labels = { ...this.config.Labels, ...config.Labels };
    return new Image(this.layers, merged, [...this.history, { created: '2026-01-01T00:00:00Z', created_by: createdBy, empty_layer: true }], this.platform);
  }

  for(platform: { os: string; architecture: string }): Image {
    return new Image(this.layers, this.config, this.history, platform);
  }

  /** The image config blob (OCI image config, which `docker save` carries as it is). */
  configJson(): string {
    return JSON.stringify({
      created: '2026-01-01T00:00:00Z',
      ...this.platform,
      config: this.config,
      rootfs: { type: 'layers', diff_ids: this.layers.map((l) => l.diffId) },
      history: this.history,
    });
  }
}

export type Compression = 'gzip' | 'zstd' | 'none';

const MEDIA = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: { gzip: 'application/vnd.oci.image.layer.v1.tar+gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd', none: 'application/vnd.oci.image.layer.v1.tar' },
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string };
  annotations?: Record<string, string>;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

/** The blobs of one image in OCI form: manifest, config and compressed layers, by digest. */
function ociBlobs(image: Image, compression: Compression): { manifest: Descriptor; blobs: Map<string, Buffer> } {
  const blobs = new Map<string, Buffer>();
  const put = (mediaType: string, data: Buffer): Descriptor => {
    const digest = `sha256:${sha256(data)}`;
    blobs.set(digest, data);
    return { mediaType, digest, size: data.length };
  };
  const compress = (data: Buffer) => (compression === 'gzip' ? gzipSync(data) : compression === 'zstd' ? zstdStored(data) : data);
  const config = put(MEDIA.config, Buffer.from(image.configJson()));
  const layers = image.layers.map((l) => put(MEDIA.layer[compression], compress(l.tar)));
  const manifest: Manifest = { schemaVersion: 2, mediaType: MEDIA.manifest, config, layers };
  return { manifest: { ...put(MEDIA.manifest, Buffer.from(JSON.stringify(manifest))), platform: image.platform }, blobs };
}

function writeBlobs(layout: string, blobs: Map<string, Buffer>): void {
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  for (const [digest, data] of blobs) writeFileSync(join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length)), data);
}

function initLayout(layout: string): void {
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  if (!existsSync(join(layout, 'oci-layout'))) writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  if (!existsSync(join(layout, 'index.json'))) writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [] }));
}

function addTag(layout: string, name: string, descriptor: Descriptor): void {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  index.manifests = index.manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] !== name);
  index.manifests.push({ ...descriptor, annotations: { 'org.opencontainers.image.ref.name': name } });
  writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
}

/**
 * Writes `image` into the OCI layout directory `layout` (created if needed) under `tagName`;
 * layers already there are shared. Returns the manifest's descriptor.
 */
export function writeLayout(layout: string, tagName: string, image: Image, options: { compression?: Compression } = {}): Descriptor {
  initLayout(layout);
  const { manifest, blobs } = ociBlobs(image, options.compression ?? 'gzip');
  writeBlobs(layout, blobs);
  const { platform: _, ...descriptor } = manifest;
  addTag(layout, tagName, descriptor);
  return descriptor;
}

/** A multi-platform image index in the layout, tagged `tagName`, over one image per platform. */
export function writeIndex(layout: string, tagName: string, images: Image[], options: { compression?: Compression } = {}): Descriptor {
  initLayout(layout);
  const manifests: Descriptor[] = [];
  for (const image of images) {
    const { manifest, blobs } = ociBlobs(image, options.compression ?? 'gzip');
    writeBlobs(layout, blobs);
    manifests.push(manifest);
  }
  const data = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests }));
  const descriptor = { mediaType: MEDIA.index, digest: `sha256:${sha256(data)}`, size: data.length };
  writeBlobs(layout, new Map([[descriptor.digest, data]]));
  addTag(layout, tagName, descriptor);
  return descriptor;
}

/** Every file under `dir` as tar entries, directories first, in a stable order. */
function treeEntries(dir: string, prefix = ''): TarEntry[] {
  const entries: TarEntry[] = [];
  for (const name of readdirSync(join(dir, prefix)).sort()) {
    const rel = prefix ? `${prefix}/${name}` : name;
    if (statSync(join(dir, rel)).isDirectory()) entries.push({ path: rel, type: 'dir' }, ...treeEntries(dir, rel));
    else entries.push({ path: rel, content: readFileSync(join(dir, rel)) });
  }
  return entries;
}

/** An OCI archive (`oci-archive:`): an OCI layout in one tar. */
export function writeOciArchive(file: string, tagName: string, image: Image, options: { compression?: Compression } = {}): void {
  const { manifest, blobs } = ociBlobs(image, options.compression ?? 'gzip');
  const { platform: _, ...descriptor } = manifest;
  const index = { schemaVersion: 2, mediaType: MEDIA.index, manifests: [{ ...descriptor, annotations: { 'org.opencontainers.image.ref.name': tagName } }] };
  const entries: TarEntry[] = [
    { path: 'oci-layout', content: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
    { path: 'index.json', content: JSON.stringify(index) },
    { path: 'blobs', type: 'dir' },
    { path: 'blobs/sha256', type: 'dir' },
    ...[...blobs].map(([digest, data]) => ({ path: `blobs/sha256/${digest.slice('sha256:'.length)}`, content: data })),
  ];
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, tar(entries));
}

/** Tars a directory as it is (an OCI layout written with writeLayout, for example). */
export function tarDirectory(dir: string): Buffer {
  return tar(treeEntries(dir));
}

/**
 * A `docker save` archive: manifest.json naming the config and the layers, the config as
 * `<digest>.json`, and each layer uncompressed as `<diff id>.tar`; older Docker versions also
 * write `<id>/layer.tar`, here a symlink to the same file, as Docker writes it.
 */
export function writeDockerArchive(file: string, repoTag: string, image: Image): void {
  const config = Buffer.from(image.configJson());
  const configName = `${sha256(config)}.json`;
  const layerNames = image.layers.map((l) => `${l.diffId.slice('sha256:'.length)}.tar`);
  const entries: TarEntry[] = [];
  const seen = new Set<string>();
  image.layers.forEach((l, i) => {
    if (seen.has(layerNames[i])) return;
    seen.add(layerNames[i]);
    entries.push({ path: layerNames[i], content: l.tar });
    const legacy = sha256(`${l.diffId}:${i}`);
    entries.push({ path: legacy, type: 'dir' }, { path: `${legacy}/layer.tar`, type: 'symlink', linkname: `../${layerNames[i]}` });
  });
  entries.push({ path: configName, content: config });
  entries.push({ path: 'manifest.json', content: JSON.stringify([{ Config: configName, RepoTags: [repoTag], Layers: layerNames }]) });
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, tar(entries));
}
