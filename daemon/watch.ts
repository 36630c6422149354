import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { AuditLog, AuditRecord } from './audit/log.js';

/**
 * New findings in the audit log: reported by `keyward watch` (POST /v1/findings on admin.sock)
 * and by the daemon's own watcher (`watch:` in config.yaml). Each is one `finding` record with
 * the rule, file, line and fingerprint: never the secret.
 */
export interface FindingReport {
  rule: string;
  provider?: string;
  /** Absolute path of the file. */
  file: string;
  line: number;
  column?: number;
  /** sha256 of rule id and secret, as in scan reports and baselines. */
  fingerprint: string;
  /** Who saw it: `keyward watch` or the daemon. */
  by: string;
  pid?: number;
}

/** How many recorded (file, fingerprint) pairs are remembered to drop repeats. */
const REMEMBERED = 10_000;

export class FindingRecorder {
  /** Insertion-ordered: the oldest is forgotten first. */
  private readonly recorded = new Set<string>();

  constructor(private readonly audit: AuditLog) {}

  /**
   * Appends a `finding` record, unless this secret in this file was recorded already (the
   * daemon and a `keyward watch` may both see the same write). Resolves with the record, or
   * undefined for a repeat.
   */
  async record(report: FindingReport): Promise<AuditRecord | undefined> {
    const key = `${report.file}\0${report.fingerprint}`;
    if (this.recorded.has(key)) return undefined;
    this.recorded.add(key);
    if (this.recorded.size > REMEMBERED) this.recorded.delete(this.recorded.values().next().value!);
    try {
      return await this.audit.append({
        event: 'finding',
        ...(report.pid !== undefined ? { pid: report.pid } : {}),
        reason: `${report.by} saw a new secret written to a file`,
        detail: {
          rule: report.rule,
          ...(report.provider ? { provider: report.provider } : {}),
          file: report.file,
          line: report.line,
          ...(report.column !== undefined ? { column: report.column } : {}),
          fingerprint: report.fingerprint,
          by: report.by,
        },
      });
    } catch (error) {
      // Not recorded: a retry must be able to record it.
      this.recorded.delete(key);
      throw error;
    }
  }
}

/** `~/x` and relative paths in config.yaml's `watch:` list, made absolute. */
export function expandWatchPath(path: string, home = homedir()): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return join(home, path.slice(2));
  return isAbsolute(path) ? path : resolve(home, path);
}

export interface DaemonWatch {
  status(): { paths: string[]; directories: number; files: number; rescanned: number; present: number; new: number; scanning: boolean };
  close(): void;
}

/**
 * The daemon's watcher over config.yaml's `watch:` paths: the first scan runs in the background
 * (in slices, so requests keep being answered) and what it finds is counted, not audited; every
 * secret written after that is a `finding` record.
 */
export async function startDaemonWatch(options: { paths: string[]; recorder: FindingRecorder; log: (entry: Record<string, unknown>) => void }): Promise<DaemonWatch> {
  const { SecretWatch } = await import('../scanners/watch.js');
  const paths = options.paths.map((p) => expandWatchPath(p));
  let scanning = true;
  const watch = new SecretWatch({
    paths,
    cwd: '/',
    persistent: false,
    rescanOnWorker: true,
    onProblem: (problem) => options.log({ level: 'warn', msg: 'watch problem', problem }),
    onFinding: ({ status, finding, absolute }) => {
      if (status !== 'new') return;
      options.log({ msg: 'new finding', rule: finding.ruleId, file: absolute, line: finding.line });
      options.recorder
        .record({
          rule: finding.ruleId,
          provider: finding.provider,
          file: absolute,
          line: finding.line,
          column: finding.column,
          fingerprint: finding.fingerprint,
          by: 'the daemon (watch: in config.yaml)',
          pid: process.pid,
        })
        .catch((error: unknown) => options.log({ level: 'error', msg: 'could not record a finding in the audit log', file: absolute, error: String(error) }));
    },
  });
  const started = Date.now();
  void watch
    .start()
    .then(() => {
      scanning = false;
      options.log({ msg: 'watching', paths, directories: watch.directories, files: watch.counts.files, present: watch.counts.present, ms: Date.now() - started });
    })
    .catch((error: unknown) => {
      scanning = false;
      options.log({ level: 'error', msg: 'watch could not start', error: error instanceof Error ? error.message : String(error) });
      watch.close();
    });
  return {
    status: () => ({ paths, directories: watch.directories, ...watch.counts, scanning }),
    close: () => watch.close(),
  };
}
