import { resolve } from 'node:path';
import { writeFileAtomic } from '../../kernel/atomic-file.js';
import { writeBaseline } from '../../scanners/baseline.js';
import { renderReport, REPORT_FORMATS, type ReportFormat } from '../../scanners/report/index.js';
import { DEFAULT_MAX_FILE_SIZE, runScan } from '../../scanners/scan.js';
import { gitToplevel } from '../../scanners/sources/git.js';
import type { HistoryLog } from '../../scanners/sources/history-log.js';
import type { ScanResult } from '../../scanners/types.js';
import { KeywardError } from '../../kernel/errors.js';
import { ProgressLine } from '../progress.js';
import { parseCount, parseSize } from '../../kernel/units.js';
import type { HomeFlags, ImageFlags, ScanFlags } from '../scan-flags.js';

/** Exit codes of `keyward scan`, as documented. */
export const EXIT_CLEAN = 0;
export const EXIT_FINDINGS = 1;
export const EXIT_ERROR = 2;

export interface ScanIo {
  cwd: string;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  /** A history `git log` the caller already started (the fast path does). */
  historyLog?: HistoryLog;
}

export function exitCodeFor(result: ScanResult): number {
  if (result.findings.length > 0) return EXIT_FINDINGS;
  return result.partial ? EXIT_ERROR : EXIT_CLEAN;
}

function useColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

/** --decode-depth and --archive-depth, checked. */
export function depthFlags(flags: { 'decode-depth'?: string; 'archive-depth'?: string }): { decodeDepth: number; archiveDepth: number } {
  const decodeDepth = parseCount(flags['decode-depth'] ?? '2', 0, 8);
  if (decodeDepth === undefined) throw new KeywardError(`--decode-depth ${flags['decode-depth']} is not a depth`, { hint: 'Use a whole number from 0 (no decoding) to 8.' });
  const archiveDepth = parseCount(flags['archive-depth'] ?? '3', 0, 16);
  if (archiveDepth === undefined)
    throw new KeywardError(`--archive-depth ${flags['archive-depth']} is not a depth`, { hint: 'Use a whole number from 0 (do not open archives) to 16.' });
  return { decodeDepth, archiveDepth };
}

/** `keyward scan [target]`: flags in, report out, exit code back. */
export async function executeScan(target: string | undefined, flags: ScanFlags, io: ScanIo): Promise<number> {
  const format = (flags.json ? 'json' : (flags.format ?? 'text')) as ReportFormat;
  if (!REPORT_FORMATS.includes(format)) {
    throw new KeywardError(`unknown format "${flags.format}"`, { hint: `Use one of: ${REPORT_FORMATS.join(', ')}.` });
  }
  const maxFileSize = flags['max-file-size'] !== undefined ? parseSize(flags['max-file-size']) : DEFAULT_MAX_FILE_SIZE;
  if (maxFileSize === undefined || maxFileSize <= 0) {
    throw new KeywardError(`--max-file-size ${flags['max-file-size']} is not a size`, { hint: 'Use a number with an optional unit, e.g. 64MB or 512KB.' });
  }
  let threads: number | undefined;
  if (flags.threads !== undefined) {
    threads = Number(flags.threads);
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
      throw new KeywardError(`--threads ${flags.threads} is not a thread count`, { hint: 'Use a whole number from 1 to 256.' });
    }
  }
  const { decodeDepth, archiveDepth } = depthFlags(flags);
  if ((flags.staged || flags.history) && target !== undefined && target !== '.') {
    // A path narrows nothing for git modes; run in that directory instead.
    io.cwd = resolve(io.cwd, target);
    target = '.';
  }

  const progress = ProgressLine.forStderr(!flags['no-progress'] && format === 'text' && !flags.output && io.stderr.isTTY === true);
  let result: ScanResult;
  try {
    result = await runScan({
      target: target ?? '.',
      cwd: io.cwd,
      staged: flags.staged,
      history: flags.history,
      since: flags.since,
      branch: flags.branch,
      configFile: flags.config,
      baselineFile: flags.baseline,
      showSecrets: flags['show-secrets'],
      maxFileSize,
      threads,
      decodeDepth,
      archiveDepth,
      stdin: io.stdin,
      historyLog: io.historyLog,
      verify: flags.verify === true,
      onProgress: progress ? (p) => progress.update(p) : undefined,
    });
  } finally {
    progress?.done();
  }

  return finishScan(result, flags, io, format, maxFileSize);
}

/** Writes the baseline or the report of a finished scan; returns the exit code. */
export async function finishScan(
  result: ScanResult,
  flags: { 'write-baseline'?: string; output?: string },
  io: ScanIo,
  format: ReportFormat,
  maxFileSize: number,
): Promise<number> {
  if (flags['write-baseline']) {
    const file = resolve(io.cwd, flags['write-baseline']);
    writeBaseline(file, result.findings);
    io.stderr.write(`Wrote ${result.findings.length} finding(s) to the baseline ${flags['write-baseline']}; scans with --baseline ${flags['write-baseline']} will ignore them.\n`);
    return result.partial ? EXIT_ERROR : EXIT_CLEAN;
  }

  const report = await renderReport(format, result, {
    color: !flags.output && useColor(io.stdout, io.env),
    maxFileSize,
    cwd: io.cwd,
    sarifRoot: format === 'sarif' ? (gitToplevel(io.cwd) ?? io.cwd) : undefined,
  });
  if (flags.output) {
    writeFileAtomic(resolve(io.cwd, flags.output), report);
    const n = result.findings.length;
    io.stderr.write(`${n === 0 ? 'No secrets found' : `${n} finding(s)`}${result.partial ? ' (partial scan)' : ''}; ${format} report written to ${flags.output}\n`);
  } else {
    io.stdout.write(report);
  }
  return exitCodeFor(result);
}

/** The flags every scan command shares, checked. */
export function commonOptions(flags: { json?: boolean; format?: string; 'max-file-size'?: string; 'decode-depth'?: string; 'archive-depth'?: string }): {
  format: ReportFormat;
  maxFileSize: number;
  decodeDepth: number;
  archiveDepth: number;
} {
  const format = (flags.json ? 'json' : (flags.format ?? 'text')) as ReportFormat;
  if (!REPORT_FORMATS.includes(format)) throw new KeywardError(`unknown format "${flags.format}"`, { hint: `Use one of: ${REPORT_FORMATS.join(', ')}.` });
  const maxFileSize = flags['max-file-size'] !== undefined ? parseSize(flags['max-file-size']) : DEFAULT_MAX_FILE_SIZE;
  if (maxFileSize === undefined || maxFileSize <= 0) {
    throw new KeywardError(`--max-file-size ${flags['max-file-size']} is not a size`, { hint: 'Use a number with an optional unit, e.g. 64MB or 512KB.' });
  }
  return { format, maxFileSize, ...depthFlags(flags) };
}

/** `keyward scan home [--project DIR]…`. */
export async function executeHomeScan(flags: HomeFlags, io: ScanIo): Promise<number> {
  const { format, maxFileSize, decodeDepth } = commonOptions(flags);
  const { runHomeScan } = await import('../../scanners/scan-home.js');
  const progress = ProgressLine.forStderr(!flags['no-progress'] && format === 'text' && !flags.output && io.stderr.isTTY === true);
  let result: ScanResult;
  try {
    result = await runHomeScan({
      cwd: io.cwd,
      home: flags.home ? resolve(io.cwd, flags.home) : undefined,
      // Another home directory is looked at as its owner would: this user's overrides
      // (AWS_SHARED_CREDENTIALS_FILE, KUBECONFIG, XDG_CONFIG_HOME…) do not apply to it.
      env: flags.home ? {} : io.env,
      projects: flags.project,
      configFile: flags.config,
      baselineFile: flags.baseline,
      showSecrets: flags['show-secrets'],
      maxFileSize,
      decodeDepth,
      onProgress: progress ? (p) => progress.update(p) : undefined,
    });
  } finally {
    progress?.done();
  }
  return finishScan(result, flags, io, format, maxFileSize);
}

/** `keyward scan image IMAGE…`. */
export async function executeImageScan(targets: string[], flags: ImageFlags, io: ScanIo): Promise<number> {
  const { format, maxFileSize, decodeDepth, archiveDepth } = commonOptions(flags);
  if (targets.length === 0) throw new KeywardError('no image given', { hint: 'Name an OCI layout (dir:tag), an archive (app.tar) or registry://HOST/NAME:TAG.' });
  const timeout = Number(flags.timeout ?? '30');
  if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 3600)
    throw new KeywardError(`--timeout ${flags.timeout} is not a number of seconds`, { hint: 'Use a number from 0.1 to 3600.' });
  const maxImageSize = parseSize(flags['max-image-size'] ?? '8GB');
  if (maxImageSize === undefined || maxImageSize <= 0)
    throw new KeywardError(`--max-image-size ${flags['max-image-size']} is not a size`, { hint: 'Use a number with a unit, e.g. 8GB.' });
  if (flags.platform !== undefined && !/^[a-z0-9]+\/[a-z0-9]+(?:\/[a-z0-9]+)?$/.test(flags.platform)) {
    throw new KeywardError(`--platform ${flags.platform} is not a platform`, { hint: 'Use OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8.' });
  }
  const threads = flags.threads !== undefined ? parseCount(flags.threads, 1, 256) : undefined;
  if (flags.threads !== undefined && threads === undefined)
    throw new KeywardError(`--threads ${flags.threads} is not a thread count`, { hint: 'Use a whole number from 1 to 256.' });
  const { runImageScan } = await import('../../scanners/scan-image.js');
  const progress = ProgressLine.forStderr(!flags['no-progress'] && format === 'text' && !flags.output && io.stderr.isTTY === true);
  let result: ScanResult;
  try {
    result = await runImageScan({
      cwd: io.cwd,
      targets,
      platform: flags.platform,
      insecure: flags.insecure,
      authfile: flags.authfile,
      timeout: timeout * 1000,
      maxImageSize,
      configFile: flags.config,
      baselineFile: flags.baseline,
      showSecrets: flags['show-secrets'],
      maxFileSize,
      decodeDepth,
      archiveDepth,
      threads,
      onProgress: progress ? (p) => progress.update(p) : undefined,
    });
  } finally {
    progress?.done();
  }
  return finishScan(result, flags, io, format, maxFileSize);
}
