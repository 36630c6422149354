import { parentPort, workerData } from 'node:worker_threads';
import type { ScanConfig } from '../config.js';
import { buildRuleSet, type RuleSetOptions } from '../ruleset.js';
import { scanDiff, scanFiles, type FileItem } from './tasks.js';

/** A scan worker: builds the same rule set as the main thread, then runs tasks until closed. */
export type WorkerTask =
  | { id: number; type: 'files'; items: FileItem[]; maxSize: number }
  | { id: number; type: 'diff'; data: Uint8Array; commits: boolean };

const data = workerData as { config: ScanConfig; options?: RuleSetOptions };
const ruleset = buildRuleSet(data.config, data.options);

parentPort!.on('message', (task: WorkerTask) => {
  try {
    const result =
      task.type === 'files'
        ? scanFiles(ruleset, task.items, task.maxSize)
        : scanDiff(ruleset, Buffer.from(task.data.buffer, task.data.byteOffset, task.data.byteLength), task.commits);
    parentPort!.postMessage({ id: task.id, result });
  } catch (error) {
    parentPort!.postMessage({ id: task.id, error: error instanceof Error ? error.message : String(error) });
  }
});
