import { parentPort, workerData } from 'node:worker_threads';
import type { ScanConfig } from '../config.js';
import { buildRuleSet, type RuleSetOptions } from '../ruleset.js';
import { emptyStats } from '../types.js';
import type { ArchiveLimits } from '../sources/archive.js';
import type { LayerJob } from '../sources/image/layers.js';
import { scanDiff, scanDirectory, scanFiles, type DirectoryTask, type FileItem } from './tasks.js';

/** A scan worker: builds the same rule set as the main thread, then runs tasks until closed. */
export type WorkerTask =
  | { id: number; type: 'files'; items: FileItem[]; maxSize: number }
  | { id: number; type: 'diff'; data: Uint8Array; commits: boolean }
  | { id: number; type: 'layer'; layer: LayerJob; limits: ArchiveLimits; maxFileSize: number }
  | ({ id: number; type: 'directory' } & DirectoryTask);

/** Bytes of layer data between two progress messages. */
const PROGRESS_EVERY = 4 * 1024 * 1024;

const data = workerData as { config: ScanConfig; options?: RuleSetOptions };
const ruleset = buildRuleSet(data.config, data.options);

parentPort!.on('message', async (task: WorkerTask) => {
  try {
    if (task.type === 'layer') {
      // Image layers: loaded only by image scans, so tree scans start no slower.
      const { scanLayer } = await import('../sources/image/layers.js');
      const stats = emptyStats();
      let unreported = 0;
      const outcome = await scanLayer(task.layer, {
        detector: ruleset.detector,
        limits: task.limits,
        maxFileSize: task.maxFileSize,
        stats,
        onBytes: (n) => {
          unreported += n;
          if (unreported < PROGRESS_EVERY) return;
          parentPort!.postMessage({ id: task.id, progress: unreported });
          unreported = 0;
        },
      });
      if (unreported > 0) parentPort!.postMessage({ id: task.id, progress: unreported });
      parentPort!.postMessage({ id: task.id, result: { outcome, stats } });
      return;
    }
    const result =
      task.type === 'files'
        ? scanFiles(ruleset, task.items, task.maxSize)
        : task.type === 'directory'
          ? scanDirectory(ruleset, task)
          : scanDiff(ruleset, Buffer.from(task.data.buffer, task.data.byteOffset, task.data.byteLength), task.commits);
    parentPort!.postMessage({ id: task.id, result });
  } catch (error) {
    parentPort!.postMessage({ id: task.id, error: error instanceof Error ? error.message : String(error) });
  }
});
