#!/usr/bin/env node
// keyward entry point. `keyward scan` takes a path that does not load oclif, because the
// pre-commit hook runs it on every commit and start-up is most of its cost; every other command
// (and `scan --help`) goes through oclif.
import module from 'node:module';

// Node 22.1+ caches compiled code between runs; older versions simply go without.
module.enableCompileCache?.();

const argv = process.argv.slice(2);
const scanSubcommands = new Set(['home', 'image']);
const fastScan =
  argv[0] === 'scan' && !scanSubcommands.has(argv[1]) && !argv.some((a) => a === '--help' || a === '-h');

try {
  if (fastScan) {
    const { main } = await import('../dist/cli/scan-main.js');
    process.exitCode = await main(argv.slice(1));
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
