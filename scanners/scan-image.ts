import { DEFAULT_ARCHIVE_LIMITS } from './sources/archive.js';
import { parseJson } from './sources/home/json.js';
import { detectInConfig } from './sources/home/parsed.js';
import { hostPlatform, openImage, parsePlatform, type OpenedImage } from './sources/image/image.js';
import { deletedIn, scanLayer, type LayerJob, type LayerOutcome } from './sources/image/layers.js';
import { ScanPool, defaultThreads } from './engine/pool.js';
import { ImageError } from './sources/image/store.js';
import { DEFAULT_MAX_FILE_SIZE, isPartial, prepareScan, sortFindings, type Prepared, type ScanProgress } from './scan.js';
import { formatBytes } from './report/text.js';
import type { FindingOrigin, ScanResult, ScanStats, ScannedImage } from './types.js';

export interface ImageScanOptions {
  cwd: string;
  /** Images as named on the command line. */
  targets: string[];
  /** `os/arch[/variant]` for multi-platform images (default: linux and this machine's architecture). */
  platform?: string;
  insecure?: boolean;
  authfile?: string;
  /** Milliseconds before a registry request or a stalled download is given up (default 30 s). */
  timeout?: number;
  /** An image whose layers declare more bytes than this in all is refused (default 8 GiB). */
  maxImageSize?: number;
  configFile?: string;
  baselineFile?: string;
  showSecrets?: boolean;
  maxFileSize?: number;
  decodeDepth?: number;
  archiveDepth?: number;
  /** Worker threads for layers (default: one per core; 1 scans on the main thread). */
  threads?: number;
  onProgress?: (progress: ScanProgress) => void;
}

export const DEFAULT_MAX_IMAGE_SIZE = 8 * 1024 ** 3;
/** Where findings in the image config are shown. */
export const CONFIG_FILE_NAME = '(image config)';

/**
 * `keyward scan image`: every layer's files (streamed, never unpacked to disk), the image config
 * (`Env`, `Labels`, `Cmd`, `Entrypoint`) and the build history. A layer already scanned in this
 * run (same digest) is not read again. A file deleted by a whiteout in a later layer is still in
 * the image, and its findings say which layer deleted it.
 */
export async function runImageScan(options: ImageScanOptions): Promise<ScanResult> {
  const started = Date.now();
  // An image is not the content of the repository the command runs in: that repository's
  // .keyward.yaml does not apply to it (only an explicit --config does).
  const prepared = await prepareScan({
    cwd: options.cwd,
    configFile: options.configFile,
    baselineFile: options.baselineFile,
    showSecrets: options.showSecrets,
    decodeDepth: options.decodeDepth,
  });
  const platform = options.platform ? parsePlatform(options.platform) : hostPlatform();
  const maxImageSize = options.maxImageSize ?? DEFAULT_MAX_IMAGE_SIZE;
  const images: ScannedImage[] = [];
  const { stats, issues } = prepared;
  stats.layers = 0;
  let bytesRead = 0;
  const scanned = new Map<string, Promise<LayerOutcome>>();
  const limits = { ...DEFAULT_ARCHIVE_LIMITS, depth: options.archiveDepth ?? DEFAULT_ARCHIVE_LIMITS.depth };
  const maxFileSize = options.maxFileSize ?? DEFAULT_MAX_FILE_SIZE;
  const threads = Math.max(1, options.threads ?? defaultThreads());
  let pool: ScanPool | undefined;
  const progress = (n: number) => {
    bytesRead += n;
    options.onProgress?.({ files: stats.files, bytes: bytesRead });
  };
  /** On a worker thread when there are several cores (the result is the same), else here. */
  const scanLayerAnywhere = async (layer: LayerJob): Promise<LayerOutcome> => {
    const job: LayerJob = { digest: layer.digest, size: layer.size, source: layer.source };
    if (threads > 1) pool ??= ScanPool.create(threads, prepared.config, { decodeDepth: options.decodeDepth });
    if (!pool) return scanLayer(job, { detector: prepared.ruleset.detector, limits, maxFileSize, stats, onBytes: progress });
    const { outcome, stats: delta } = await pool.run<{ outcome: LayerOutcome; stats: ScanStats }>({ type: 'layer', layer: job, limits, maxFileSize }, progress);
    addStats(stats, delta);
    return outcome;
  };
  try {
    for (const target of options.targets) {
      let image: OpenedImage;
      try {
        image = await openImage(target, { cwd: options.cwd, platform, authfile: options.authfile, registry: { insecure: options.insecure, timeout: options.timeout ?? 30_000 } });
      } catch (error) {
        if (!(error instanceof ImageError)) throw error;
        issues.push({ path: target, message: error.message.startsWith(`${target}: `) ? error.message.slice(target.length + 2) : error.message });
        continue;
      }
      for (const warning of image.warnings) issues.push({ path: target, message: warning });
      const declared = image.layers.reduce((sum, l) => sum + l.size, 0);
      const record: ScannedImage = {
        image: target,
        ...(image.digest ? { digest: image.digest } : {}),
        ...(image.platform ? { platform: image.platform } : {}),
        layers: image.layers.length,
        reusedLayers: 0,
        layerBytes: 0,
      };
      images.push(record);
      if (declared > maxImageSize) {
        issues.push({ path: target, message: `its layers declare ${formatBytes(declared)}, more than --max-image-size ${formatBytes(maxImageSize)}: not scanned` });
        continue;
      }
      scanConfig(prepared, image);

      // Layers not seen before in this run are scanned at once, one per worker thread.
      const firstIndex = new Map<string, number>();
      const pending = image.layers.map(async (layer) => {
        let outcome = scanned.get(layer.digest);
        if (outcome) {
          record.reusedLayers++;
          return outcome;
        }
        outcome = scanLayerAnywhere(layer);
        scanned.set(layer.digest, outcome);
        const done = await outcome;
        stats.layers!++;
        record.layerBytes += done.bytes;
        const where = `${target} layer #${layer.index} (${layer.digest.slice(0, 19)}…)`;
        for (const issue of done.issues) issues.push({ path: issue.path ? `${where}: ${issue.path}` : where, message: issue.message });
        return done;
      });
      for (const layer of image.layers) if (!firstIndex.has(layer.digest)) firstIndex.set(layer.digest, layer.index);
      const outcomes = await Promise.all(pending);

      image.layers.forEach((layer, i) => {
        // The same layer twice in one image is reported once, at its first position.
        if (firstIndex.get(layer.digest) !== i) return;
        for (const item of outcomes[i].items) {
          const deleted = deletedIn(item.path, i, outcomes);
          const origin: FindingOrigin = {
            source: 'image',
            image: target,
            ...(image.digest ? { imageDigest: image.digest } : {}),
            layer: layer.digest,
            layerIndex: i,
            ...(layer.command ? { layerCommand: layer.command } : {}),
            ...(deleted !== undefined ? { deletedInLayer: deleted } : {}),
            ...(item.path.includes('!/') ? { archivePath: item.path.slice(item.path.indexOf('!/') + 2) } : {}),
          };
          prepared.collector.add(item.path, item.matches, origin, false);
        }
      });
    }
  } finally {
    await pool?.close();
  }
  const findings = sortFindings(prepared.collector.findings);
  return {
    findings,
    stats,
    issues,
    partial: isPartial(issues),
    target: options.targets.join(' '),
    mode: 'image',
    durationMs: Date.now() - started,
    images,

    ...(prepared.summary ? { config: prepared.summary } : {}),
  };
}

function addStats(into: ScanStats, delta: ScanStats): void {
  into.files += delta.files;
  into.bytes += delta.bytes;
  if (delta.archives) into.archives = (into.archives ?? 0) + delta.archives;
  for (const k of Object.keys(into.skipped) as (keyof ScanStats['skipped'])[]) into.skipped[k] += delta.skipped[k];
}

/** The config blob as JSON: Env, Labels, Cmd, Entrypoint and the history's `created_by`, by key path. */
function scanConfig(prepared: Prepared, image: OpenedImage): void {
  if (!image.configRaw) return;
  const parsed = parseJson(image.configRaw);
  for (const { match, keyPath } of detectInConfig(prepared.ruleset.detector, CONFIG_FILE_NAME, image.configRaw, parsed)) {
    const history = keyPath ? /^history\[(\d+)\]/.exec(keyPath) : null;
    const layerIndex = history ? image.historyLayer.get(Number(history[1])) : undefined;
    const layer = layerIndex !== undefined ? image.layers[layerIndex] : undefined;
    const origin: FindingOrigin = {
      source: 'image',
      image: image.name,
      ...(image.digest ? { imageDigest: image.digest } : {}),
      ...(keyPath ? { keyPath } : {}),
      format: 'json',
      ...(layer ? { layer: layer.digest, layerIndex: layer.index, ...(layer.command ? { layerCommand: layer.command } : {}) } : {}),
    };
    prepared.collector.add(CONFIG_FILE_NAME, [match], origin, false);
  }
}
