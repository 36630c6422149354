#!/usr/bin/env node
// docker-credential-keyward: the Docker credential helper protocol, answered from keyward's vault.
// Docker runs it by name when config.json says "credHelpers": {"<registry>": "keyward"}.
import module from 'node:module';

module.enableCompileCache?.();
try {
  const { main } = await import('../dist/cli/docker-credential.js');
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (error && error.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('/dist/')) {
    process.stderr.write('docker-credential-keyward: keyward is not built; run `npm install` in its directory\n');
    process.exitCode = 1;
  } else throw error;
}
