import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KeywardError, formatError, isKeywardError } from '../kernel/errors.js';
import { SCAN_FLAGS, type ScanFlags } from './scan-flags.js';
import type { HistoryLog } from '../scanners/sources/history-log.js';

const EXIT_ERROR = 2;

/**
 * `keyward scan` without oclif: the pre-commit hook runs on every commit, so start-up time is
 * most of its cost. Same flag table and same service as cli/commands/scan.ts.
 */
export async function main(argv: string[]): Promise<number> {
  try {
    const options = Object.fromEntries(Object.entries(SCAN_FLAGS).map(([name, spec]) => [name, { type: spec.type, ...('char' in spec ? { short: spec.char } : {}) }]));
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    } catch (error) {
      const message = (error as Error).message.replace(/^Unknown option '(.+?)'.*$/s, "unknown flag '$1'");
      return fail(message, 'Run `keyward scan --help` for the flags it takes.');
    }
    if (parsed.positionals.length > 1) return fail(`unexpected argument: ${parsed.positionals[1]}`, 'Give one path to scan (a directory, a file, or - for stdin).');
    const spec = SCAN_FLAGS.format;
    const flags = parsed.values as ScanFlags;
    if (flags.format !== undefined && !spec.options.includes(flags.format as never)) {
      return fail(`--format ${flags.format} is not supported`, `Use one of: ${spec.options.join(', ')}.`);
    }
    // History scans wait on git: start it now and load the scanner while it runs.
    let historyLog: HistoryLog | undefined;
    if (flags.history && !flags.staged && !flags['write-baseline']) {
      const { spawnHistoryLog } = await import('../scanners/sources/history-log.js');
      const target = parsed.positionals[0];
      try {
        historyLog = spawnHistoryLog(target && target !== '.' ? resolve(process.cwd(), target) : process.cwd(), { since: flags.since, branch: flags.branch });
      } catch {
        // A revision that does not resolve (or no repository): the scan itself reports it.
      }
    }
    const { executeScan } = await import('./services/scan.js');
    return await executeScan(parsed.positionals[0], flags, {
      cwd: process.cwd(),
      stdout: process.stdout,
      stderr: process.stderr,
      stdin: process.stdin,
      env: process.env,
      historyLog,
    });
  } catch (error) {
    process.stderr.write(formatError(error) + '\n');
    if (!isKeywardError(error) && process.env.KEYWARD_DEBUG) process.stderr.write(String((error as Error).stack) + '\n');
    return isKeywardError(error) ? error.exitCode : EXIT_ERROR;
  }
}

function fail(message: string, hint: string): number {
  process.stderr.write(formatError(new KeywardError(message, { hint })) + '\n');
  return EXIT_ERROR;
}
