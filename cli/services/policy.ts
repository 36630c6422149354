import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { daemonFiles } from '../../daemon/files.js';
import { keywardPaths } from '../../kernel/paths.js';
import { loadPolicyFile } from '../../daemon/policy/load.js';
import { loadProviders } from '../../daemon/providers/registry.js';

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
