import { spawnSync } from 'node:child_process';

/** Whether `command` is on PATH. */
export function installed(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v '${command}'`], { stdio: 'ignore' }).status === 0;
}

/**
 * For tests whose subject is an external tool (a registry, skopeo): true when every tool is
 * installed. Otherwise it prints one line naming what is missing and returns false, so the
 * tests skip; with KEYWARD_REQUIRE_TOOLS=1 (CI, which installs everything) it fails instead.
 */
export function haveTools(subject: string, tools: string[]): boolean {
  const missing = tools.filter((t) => !installed(t));
  if (missing.length === 0) return true;
  const line = `${subject}: skipped, ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not installed`;
  if (process.env.KEYWARD_REQUIRE_TOOLS === '1') throw new Error(`${line} (KEYWARD_REQUIRE_TOOLS=1)`);
  process.stderr.write(`${line}\n`);
  return false;
}
