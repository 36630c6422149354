import { Command } from '@oclif/core';
import { formatError, isKeywardError } from '../kernel/errors.js';
import { safeMultiline } from '../kernel/terminal.js';

/**
 * Base of every command: errors are shown in one place, as `keyward: message` plus what to do
 * next; bugs say they are bugs. Nothing but the entry point sets the exit status.
 */
export abstract class BaseCommand extends Command {
  protected override async catch(error: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<void> {
    // oclif's own exits (help, version, flag errors) keep their behaviour.
    if (!isKeywardError(error) && (error.oclif !== undefined || error.name === 'ExitError')) {
      if (error.oclif?.exit !== undefined && error.oclif.exit !== 0 && error.message && !error.name.includes('Exit')) {
        process.stderr.write(`${formatParseError(error.message, `keyward ${this.id?.replace(/:/g, ' ')}`)}\n`);
        process.exitCode = 2;
        return;
      }
      throw error;
    }
    if (this.jsonEnabled()) {
      process.stdout.write(JSON.stringify({ error: { code: isKeywardError(error) ? error.code : 'bug', message: error.message } }) + '\n');
    } else {
      // Error messages quote what agents and daemons sent (names, resources, reasons): escaped.
      process.stderr.write(safeMultiline(formatError(error)) + '\n');
      if (!isKeywardError(error) && process.env.KEYWARD_DEBUG) process.stderr.write(String(error.stack) + '\n');
    }
    process.exitCode = isKeywardError(error) ? error.exitCode : 2;
  }
}

/**
 * oclif's parse errors as keyward prints errors: the whole message (which flag or argument is
 * missing or wrong, on the lines after the first), indented under `keyward:`, and one pointer to
 * the command's help in place of oclif's own.
 */
export function formatParseError(message: string, command: string): string {
  const lines = message
    // oclif dims the details on a colour terminal; a message keeps its text, not its colours.
    .replace(/\u001b\[[0-9;]*m/g, '')
    .split('\n')
    .filter((line) => !/^See more help with --help$/.test(line.trim()));
  while (lines.length > 1 && lines[lines.length - 1].trim() === '') lines.pop();
  let [first, ...rest] = lines.map((line) => line.trim().replace(/^Missing required flag (\w[\w-]*)$/, 'Missing required flag --$1'));
  // "The following error occurred:" over a single error says nothing the error does not.
  if (/^The following errors? occurred:$/.test(first) && rest.filter(Boolean).length === 1) [first, ...rest] = rest.filter(Boolean);
  const details = rest.map((line) => (line === '' ? '' : `  ${line}`));
  return [`keyward: ${first.replace(/:$/, rest.length ? ':' : '')}`, ...details, `  See \`${command} --help\`.`].join('\n');
}
