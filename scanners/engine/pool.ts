import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { ScanConfig } from '../config.js';
import type { RuleSetOptions } from '../ruleset.js';
import type { WorkerTask } from './worker.js';

type Pending = { task: WorkerTask; resolve: (v: unknown) => void; reject: (e: Error) => void; onProgress?: (n: number) => void };
type TaskInput = WorkerTask extends infer T ? (T extends { id: number } ? Omit<T, 'id'> : never) : never;

/** Where the compiled worker lives; under the test runner the sources are TypeScript. */
function workerUrl(): URL | undefined {
  const here = new URL('./worker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  const built = new URL(import.meta.url.replace(/\/scanners\/engine\/pool\.ts$/, '/dist/scanners/engine/worker.js'));
  return existsSync(fileURLToPath(built)) ? built : undefined;
}

/** Threads to use when the user did not say: every core. */
export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

/**
 * A fixed set of scan workers. Each task goes to an idle worker or waits its turn; `close()`
 * ends them all. Workers are unref'd only through `close`: a scan always closes its pool.
 */
export class ScanPool {
  private readonly idle: Worker[] = [];
  private readonly all: Worker[] = [];
  private readonly queue: Pending[] = [];
  private readonly running = new Map<number, Pending>();
  private nextId = 1;
  private waiters: { max: number; resolve: () => void }[] = [];

  private constructor(size: number, config: ScanConfig, options: RuleSetOptions, url: URL, resourceLimits?: ResourceLimits) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(url, { workerData: { config, options }, ...(resourceLimits ? { resourceLimits } : {}) });
      worker.on('message', (msg: { id: number; result?: unknown; error?: string; progress?: number }) => {
        if (msg.progress !== undefined) {
          this.running.get(msg.id)?.onProgress?.(msg.progress);
          return;
        }
        const job = this.running.get(msg.id);
        this.running.delete(msg.id);
        this.idle.push(worker);
        if (job) msg.error !== undefined ? job.reject(new Error(msg.error)) : job.resolve(msg.result);
        this.pump();
      });
      worker.on('error', (error) => {
        for (const job of this.running.values()) job.reject(error);
        this.running.clear();
      });
      this.all.push(worker);
      this.idle.push(worker);
    }
  }

  /**
   * A pool, or undefined when the compiled worker is not available (run inline instead).
   * `resourceLimits` bound each worker's heap where memory matters more than speed.
   */
  static create(size: number, config: ScanConfig, options: RuleSetOptions = {}, resourceLimits?: ResourceLimits): ScanPool | undefined {
    const url = workerUrl();
    return url && size >= 1 ? new ScanPool(size, config, options, url, resourceLimits) : undefined;
  }

  get size(): number {
    return this.all.length;
  }

  /** Tasks queued or running. */
  get load(): number {
    return this.queue.length + this.running.size;
  }

  run<T>(task: TaskInput, onProgress?: (n: number) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ task: { ...task, id: this.nextId++ } as WorkerTask, resolve: resolve as (v: unknown) => void, reject, onProgress });
      this.pump();
    });
  }

  /** Resolves once no more than `max` tasks are queued or running. */
  capacity(max: number): Promise<void> {
    if (this.load <= max) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ max, resolve }));
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const worker = this.idle.pop()!;
      const job = this.queue.shift()!;
      this.running.set(job.task.id, job);
      worker.postMessage(job.task);
    }
    this.waiters = this.waiters.filter((w) => (this.load <= w.max ? (w.resolve(), false) : true));
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((w) => w.terminate()));
  }
}
