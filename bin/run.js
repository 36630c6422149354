#!/usr/bin/env node
// keyward entry point. `keyward scan` takes a path that does not load oclif, because the
// pre-commit hook runs it on every commit and start-up is most of its cost; every other command
// (and `scan --help`) goes through oclif.
import module from 'node:module';

// Node 22.1+ caches compiled code between runs; older versions simply go without.
module.enableCompileCache?.();

const argv = process.argv.slice(2);
const scanSubcommands = new Set(['home', 'image']);
const fastScan = argv[0] === 'scan' && !scanSubcommands.has(argv[1]) && !argv.some((a) => a === '--help' || a === '-h');
// The daemon itself (what `keyward daemon start` and the systemd unit run) does without oclif
// too: a long-lived process should not carry the command framework in memory.
const daemonForeground = argv[0] === 'daemon' && argv[1] === 'start' && argv.includes('--foreground') && argv.slice(2).every((a) => a === '--foreground' || a === '--debug');

try {
  if (fastScan) {
    const { main } = await import('../dist/cli/scan-main.js');
    process.exitCode = await main(argv.slice(1));
  } else if (daemonForeground) {
    const { runForeground } = await import('../dist/cli/services/daemon.js');
    try {
      await runForeground({ debug: argv.includes('--debug') });
    } catch (error) {
      const { formatError, isKeywardError } = await import('../dist/kernel/errors.js');
      process.stderr.write(formatError(error) + '\n');
      if (!isKeywardError(error) && process.env.KEYWARD_DEBUG) process.stderr.write(String(error?.stack) + '\n');
      process.exitCode = isKeywardError(error) ? error.exitCode : 2;
    }
  } else {
    const { execute } = await import('@oclif/core');
    await execute({ dir: import.meta.url });
  }
} catch (error) {
  if (error && error.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('/dist/')) {
    process.stderr.write('keyward: this copy is not built yet\n  Run `npm install` (or `npm run build`) in its directory.\n');
    process.exitCode = 2;
  } else {
    throw error;
  }
}
