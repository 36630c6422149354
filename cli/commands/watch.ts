import { Args, Flags } from '@oclif/core';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BaseCommand } from '../base.js';
import { KeywardError } from '../../kernel/errors.js';

export default class Watch extends BaseCommand {
  static override summary = 'Report secrets as soon as they are written to files: watch directories and files, rescan what changes.';
  static override description = `Scans the paths once, then rescans each file that is written (after 200 ms of quiet) and reports every secret that was not there before: redacted, on the terminal, with m to move it into the vault (keyward migrate) and q to quit. A secret that stays in a file is reported once.

With the daemon running, each new finding is also a "finding" record in the audit log (rule, file, line, fingerprint; never the secret), which keyward approve shows as it happens. Without it, findings are printed only, and watch says so.

Without paths it watches the current directory (unless it is the home directory itself), the credential and agent-config files keyward scan home reads (those not there yet are waited for), and the paths listed under watch: in config.yaml (which the daemon also watches by itself). Directories named .git and node_modules, editors' swap and backup files, symbolic links and files over --max-file-size are skipped.`;
  static override examples = ['<%= config.bin %> watch', '<%= config.bin %> watch ~/projects/app ~/.aws/credentials', '<%= config.bin %> watch . --json'];
  static override strict = false;
  static override args = {
    paths: Args.string({
      description: "Directories and files to watch (default: the current directory, the home credential and agent-config files, and config.yaml's watch: list).",
    }),
  };
  static override flags = {
    json: Flags.boolean({ description: 'Print one JSON object per finding (status, rule, file, line, redacted secret, fingerprint).' }),
    'max-file-size': Flags.string({ description: 'Skip files larger than this (default 64MB).', helpValue: 'SIZE' }),
    debounce: Flags.integer({ description: 'Milliseconds of quiet after a write before the file is rescanned.', default: 200, min: 0, max: 10_000 }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Watch);
    const { runWatch } = await import('../services/watch.js');
    const { terminalKeys } = await import('../ui/keys.js');
    let maxFileSize: number | undefined;
    if (flags['max-file-size'] !== undefined) {
      const { parseSize } = await import('../../kernel/units.js');
      maxFileSize = parseSize(flags['max-file-size']);
      if (maxFileSize === undefined || maxFileSize <= 0)
        throw new KeywardError(`--max-file-size ${flags['max-file-size']} is not a size`, { hint: 'Use a number with an optional unit, e.g. 64MB or 512KB.' });
    }
    const bin = fileURLToPath(new URL('../../../bin/run.js', import.meta.url));
    const hasMigrate = this.config.findCommand('migrate') !== undefined;
    const signalled = new Promise<string>((resolve) => {
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, () => resolve(s));
    });
    await runWatch(
      { paths: argv as string[], json: flags.json, maxFileSize, debounceMs: flags.debounce },
      {
        cwd: process.cwd(),
        env: process.env,
        stdout: process.stdout,
        stderr: process.stderr,
        keys: process.stdout.isTTY && !flags.json ? terminalKeys(process.stdin) : undefined,
        migrate: hasMigrate
          ? (file) =>
              new Promise<number>((resolve, reject) => {
                const child = spawn(process.execPath, [bin, 'migrate', file], { stdio: 'inherit' });
                child.on('error', reject);
                child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
              })
          : undefined,
        signalled,
      },
    );
  }
}
