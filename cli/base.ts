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
        process.stderr.write(`keyward: ${error.message.split('\n')[0]}\n  See \`keyward ${this.id?.replace(/:/g, ' ')} --help\`.\n`);
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
