import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { LayoutStore } from './layout.js';
import { RegistryStore, credentialsFor, parseRegistryRef, type RegistryOptions } from './registry.js';
import type { LayerSource } from './source.js';
import { ImageError, MEDIA, checkDigest, parseJsonBlob, type BlobStore, type Descriptor } from './store.js';
import { TarFile, TarLayoutStore } from './tarfile.js';

/** The image config fields keyward reads. */
export interface ImageConfig {
  config?: { Env?: string[]; Labels?: Record<string, string>; Cmd?: string[]; Entrypoint?: string[] };
  history?: { created_by?: string; empty_layer?: boolean }[];
  rootfs?: { diff_ids?: string[] };
}

export interface LayerRef {
  index: number;
  /** Digest shown in findings: the blob digest (registry, OCI), or the diff id (docker archive). */
  digest: string;
  size: number;
  /** The history command that created it. */
  command?: string;
  source: LayerSource;
}

export interface OpenedImage {
  name: string;
  digest?: string;
  platform?: string;
  /** The raw config blob (scanned as JSON) and what it says. */
  configRaw?: Buffer;
  config?: ImageConfig;
  /** History entry index → layer index, for findings in `created_by`. */
  historyLayer: Map<number, number>;
  layers: LayerRef[];
  /** Problems that did not stop the image (a missing config). */
  warnings: string[];
}

export interface OpenOptions {
  cwd: string;
  platform: { os: string; architecture: string; variant?: string };
  registry: Omit<RegistryOptions, 'credentials'>;
  authfile?: string;
}

/** linux and this machine's architecture, as OCI names it. */
export function hostPlatform(): { os: string; architecture: string; variant?: string } {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return { os: 'linux', architecture: arch[process.arch] ?? process.arch };
}

export function parsePlatform(text: string): { os: string; architecture: string; variant?: string } {
  const [os, architecture, variant] = text.split('/');
  if (!os || !architecture) throw new ImageError(`--platform ${text}: expected OS/ARCH[/VARIANT], e.g. linux/arm64`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

const formatPlatform = (p?: Descriptor['platform']) => (p ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : undefined);

/**
 * Opens an image named on the command line: `registry://host/name:tag`, an OCI layout directory
 * (`dir`, `dir:tag`, `dir@sha256:…`), or an OCI or docker archive (`file.tar`, `file.tar:tag`).
 */
export async function openImage(target: string, options: OpenOptions): Promise<OpenedImage> {
  if (target.startsWith('registry://')) {
    const ref = parseRegistryRef(target);
    const credentials = options.authfile ? credentialsFor(resolve(options.cwd, options.authfile), ref.host) : undefined;
    const store = new RegistryStore(ref, { ...options.registry, credentials });
    let top = await store.manifest(ref.reference);
    let digest = top.digest ?? (ref.reference.includes(':') ? ref.reference : undefined);
    let platform: string | undefined;
    if (isIndex(top.mediaType, top.data)) {
      const chosen = pickPlatform(parseJsonBlob<{ manifests?: Descriptor[] }>(top.data, 'the index').manifests ?? [], options.platform, target);
      platform = formatPlatform(chosen.platform);
      top = await store.manifest(chosen.digest);
      digest = chosen.digest;
    }
    return fromManifest(target, store, top.data, digest ?? sha256(top.data), platform);
  }

  const { path, reference } = splitPathRef(resolve(options.cwd, target), target);
  if (statSync(path).isDirectory()) {
    if (!LayoutStore.isLayout(path)) throw new ImageError(`${target}: not an OCI image layout (no index.json and oci-layout)`);
    const store = new LayoutStore(path, target);
    return fromIndex(target, store, store.index(), reference, options);
  }
  const tar = TarFile.open(path, target);
  if (tar.has('manifest.json')) return fromDockerArchive(target, tar, reference);
  if (tar.has('index.json')) {
    const store = new TarLayoutStore(tar, target);
    return fromIndex(target, store, store.index(), reference, options);
  }
  throw new ImageError(`${target}: not an image archive (neither manifest.json nor index.json inside)`);
}

/** `dir:tag` and `file@sha256:…` → the path and the reference, when the whole string is not itself a path. */
function splitPathRef(absolute: string, target: string): { path: string; reference?: string } {
  if (exists(absolute)) return { path: absolute };
  const at = absolute.lastIndexOf('@');
  const colon = absolute.lastIndexOf(':');
  const cut = at > absolute.lastIndexOf('/') ? at : colon > absolute.lastIndexOf('/') ? colon : -1;
  if (cut > 0 && exists(absolute.slice(0, cut))) return { path: absolute.slice(0, cut), reference: absolute.slice(cut + 1) };
  throw new ImageError(`${target}: no such image layout, archive or file`);
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function isIndex(mediaType: string | undefined, data: Buffer): boolean {
  if (mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerList) return true;
  if (mediaType === MEDIA.ociManifest || mediaType === MEDIA.dockerManifest) return false;
  const parsed = parseJsonBlob<{ manifests?: unknown; layers?: unknown }>(data, 'the manifest');
  return Array.isArray(parsed.manifests) && !Array.isArray(parsed.layers);
}

/** From a layout's (or an index's) list of manifests: by tag or digest, else the one there is, else by platform. */
async function fromIndex(target: string, store: BlobStore, indexData: Buffer, reference: string | undefined, options: OpenOptions): Promise<OpenedImage> {
  const manifests = parseJsonBlob<{ manifests?: Descriptor[] }>(indexData, `${target}: index.json`).manifests ?? [];
  let chosen: Descriptor | undefined;
  if (reference) {
    chosen = manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === reference || m.digest === reference);
    if (!chosen) {
      const tags = manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']).filter(Boolean);
      throw new ImageError(`${target}: no image "${reference}" in the layout${tags.length ? ` (it has: ${tags.join(', ')})` : ''}`);
    }
  } else if (manifests.length === 1) chosen = manifests[0];
  else if (manifests.length === 0) throw new ImageError(`${target}: the layout holds no image`);
  else if (manifests.every((m) => m.platform)) chosen = pickPlatform(manifests, options.platform, target);
  else {
    const tags = manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']).filter(Boolean);
    throw new ImageError(`${target}: the layout holds ${manifests.length} images; name one${tags.length ? ` (${tags.join(', ')})` : ''}, e.g. ${target}:${tags[0] ?? 'TAG'}`);
  }
  checkDigest(chosen.digest, `${target}: the chosen manifest`);
  let data = await store.readBlob(chosen.digest);
  let digest = chosen.digest;
  let platform = formatPlatform(chosen.platform);
  if (isIndex(chosen.mediaType, data)) {
    const inner = pickPlatform(parseJsonBlob<{ manifests?: Descriptor[] }>(data, 'the index').manifests ?? [], options.platform, target);
    data = await store.readBlob(inner.digest);
    digest = inner.digest;
    platform = formatPlatform(inner.platform);
  }
  return fromManifest(target, store, data, digest, platform);
}

/** The manifest for the platform asked for; attestations (`unknown/unknown`) are never it. */
function pickPlatform(manifests: Descriptor[], want: OpenOptions['platform'], target: string): Descriptor {
  const candidates = manifests.filter((m) => m.platform?.os === want.os && m.platform?.architecture === want.architecture);
  const chosen = want.variant
    ? candidates.find((m) => m.platform?.variant === want.variant)
    : (candidates.find((m) => !m.platform?.variant || m.platform.variant === 'v8') ?? candidates[0]);
  if (chosen) return chosen;
  const have = manifests.map((m) => formatPlatform(m.platform)).filter((p) => p && p !== 'unknown/unknown');
  throw new ImageError(`${target}: no ${formatPlatform(want)} image in this multi-platform index (it has: ${have.join(', ') || 'none'}); pick one with --platform`);
}

async function fromManifest(target: string, store: BlobStore, data: Buffer, digest: string, platform: string | undefined): Promise<OpenedImage> {
  const manifest = parseJsonBlob<{ schemaVersion?: number; config?: Descriptor; layers?: Descriptor[] }>(data, `${target}: the manifest`);
  if (manifest.schemaVersion === 1) throw new ImageError(`${target}: Docker schema 1 manifests are not supported`);
  if (!Array.isArray(manifest.layers)) throw new ImageError(`${target}: the manifest lists no layers`);
  const warnings: string[] = [];
  let configRaw: Buffer | undefined;
  let config: ImageConfig | undefined;
  if (manifest.config?.digest) {
    try {
      configRaw = await store.readBlob(checkDigest(manifest.config.digest, 'the config'));
      config = parseJsonBlob<ImageConfig>(configRaw, 'the image config');
    } catch (error) {
      if (!(error instanceof ImageError)) throw error;
      warnings.push(`config ${manifest.config.digest}: ${error.message}`);
    }
  }
  const { commands, historyLayer } = layerCommands(config);
  const layers = manifest.layers.map((d, index): LayerRef => {
    const layerDigest = checkDigest(d.digest, `layer ${index}`);
    return { index, digest: layerDigest, size: Number(d.size) || 0, command: commands[index], source: store.layerSource(layerDigest) };
  });
  return { name: target, digest, platform, configRaw, config, historyLayer, layers, warnings };
}

/** History entries that made a layer, in order (empty_layer ones did not). */
function layerCommands(config: ImageConfig | undefined): { commands: (string | undefined)[]; historyLayer: Map<number, number> } {
  const commands: (string | undefined)[] = [];
  const historyLayer = new Map<number, number>();
  (config?.history ?? []).forEach((h, i) => {
    if (h.empty_layer) return;
    historyLayer.set(i, commands.length);
    commands.push(h.created_by);
  });
  return { commands, historyLayer };
}

/** `docker save` / skopeo docker-archive: follow manifest.json. */
function fromDockerArchive(target: string, tar: TarFile, reference: string | undefined): OpenedImage {
  const entries = parseJsonBlob<{ Config?: string; RepoTags?: string[] | null; Layers?: string[] }[]>(tar.read('manifest.json'), `${target}: manifest.json`);
  if (!Array.isArray(entries) || entries.length === 0) throw new ImageError(`${target}: manifest.json lists no image`);
  let entry = entries[0];
  if (reference) {
    const found = entries.find((e) => (e.RepoTags ?? []).some((t) => t === reference || t.endsWith(`:${reference}`)));
    if (!found) throw new ImageError(`${target}: no image tagged "${reference}" (it has: ${entries.flatMap((e) => e.RepoTags ?? []).join(', ') || 'none'})`);
    entry = found;
  } else if (entries.length > 1) {
    throw new ImageError(`${target}: the archive holds ${entries.length} images; name one, e.g. ${target}:${entries[0].RepoTags?.[0]?.split(':').pop() ?? 'TAG'}`);
  }
  const warnings: string[] = [];
  let configRaw: Buffer | undefined;
  let config: ImageConfig | undefined;
  if (entry.Config) {
    try {
      configRaw = tar.read(entry.Config);
      config = parseJsonBlob<ImageConfig>(configRaw, 'the image config');
    } catch (error) {
      if (!(error instanceof ImageError)) throw error;
      warnings.push(error.message);
    }
  }
  const { commands, historyLayer } = layerCommands(config);
  const diffIds = config?.rootfs?.diff_ids ?? [];
  const layers = (entry.Layers ?? []).map((path, index): LayerRef => {
    const named = /([a-f0-9]{64})(?:\/layer)?\.tar$/.exec(path);
    const digest = diffIds[index] ?? (named ? `sha256:${named[1]}` : path);
    const member = tar.member(path);
    return {
      index,
      digest,
      size: member?.size ?? 0,
      command: commands[index],
      source: tar.source(path, `layer ${path} is missing from the archive`),
    };
  });
  return { name: target, digest: configRaw ? sha256(configRaw) : undefined, configRaw, config, historyLayer, layers, warnings };
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
