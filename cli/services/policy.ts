import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { daemonFiles } from '../../daemon/files.js';
import { keywardPaths } from '../../kernel/paths.js';
import { loadPolicyFile } from '../../daemon/policy/load.js';
import { loadProviders } from '../../daemon/providers/registry.js';
import * as terminal from '../../kernel/terminal.js';

export function checkPolicy(file?: string) {
  const target = file ? resolve(file) : daemonFiles().policy;
  const loaded = loadPolicyFile(target);
  const providers = file ? { problems: [] } : loadProviders(keywardPaths().config);
  return {
    file: target,
    exists: existsSync(target),
    rules: loaded.policy?.rules.length ?? 0,
    defaults: loaded.policy?.defaults.decision,
    problems: [...loaded.problems, ...providers.problems],
  };
}

export interface PendingConfig {
  id: string;
  detected: string;
  problems: string[];
  files: { path: string; change: string; diff: string[] }[];
}

/** The change to keyward's configuration on disk that waits for a person, if any. */
export async function pendingConfig(): Promise<PendingConfig | null> {
  const { call, ensureDaemon } = await import('../daemon-client.js');
  await ensureDaemon();
  return (await call<{ pending: PendingConfig | null }>('admin', 'GET', '/v1/config/pending')).pending;
}

/** Puts the pending change with this id in force (the daemon refuses if the files changed since). */
export async function applyConfig(id: string): Promise<{ applied: string }> {
  const { call } = await import('../daemon-client.js');
  return call<{ applied: string }>('admin', 'POST', '/v1/config/apply', { id });
}

/**
 * The change as a person reads it: each file and its diff. The files may have been written by an
 * agent, so every line is escaped before it reaches the terminal.
 */
export function describeChange(pending: PendingConfig, color = false): string[] {
  const { safeText } = terminal;
  const paint = (code: string, s: string) => (color ? `\u001b[${code}m${s}\u001b[0m` : s);
  const out = [`Configuration changed on disk (${pending.id}, seen ${pending.detected}); the confirmed version stays in force until you apply it.`];
  for (const f of pending.files) {
    out.push('', paint('1', `${f.change} ${safeText(f.path)}`));
    for (const line of f.diff) out.push(line.startsWith('+') ? paint('32', safeText(line)) : line.startsWith('-') ? paint('31', safeText(line)) : safeText(line));
  }
  for (const p of pending.problems) out.push('', `problem: ${safeText(p)}`);
  return out;
}
