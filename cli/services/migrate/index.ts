import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runScan } from '../../../scanners/scan.js';
import { buildRuleSet } from '../../../scanners/ruleset.js';
import { builtinProviders } from '../../../daemon/providers/builtin.js';
import type { Finding } from '../../../scanners/types.js';
import { call, ensureDaemon } from '../../daemon-client.js';
import { KeywardError } from '../../errors.js';
import { planMigration, type MigrationPlan, type RawFinding } from './plan.js';

/** How rewritten configs start keyward: this Node and this copy of keyward, by absolute path. */
export function launcher(): string[] {
  return [process.execPath, fileURLToPath(new URL('../../../../bin/run.js', import.meta.url))];
}

export interface CollectOptions {
  paths: string[];
  fromReport?: string;
  cwd: string;
}

const rules = () => buildRuleSet();

function withProfile(f: Finding): RawFinding {
  return { ...f, profile: rules().byId.get(f.ruleId)?.migrate };
}

/** Findings with their raw secrets: the files are scanned again, since reports are redacted. */
export async function collectFindings(options: CollectOptions): Promise<RawFinding[]> {
  if (options.fromReport) {
    let report: { findings?: Finding[] };
    try {
      report = JSON.parse(readFileSync(resolve(options.cwd, options.fromReport), 'utf8'));
    } catch (error) {
      throw new KeywardError(`cannot read the report ${options.fromReport}: ${(error as Error).message}`, { hint: 'Make one with: keyward scan . --json > findings.json' });
    }
    if (!Array.isArray(report.findings)) throw new KeywardError(`${options.fromReport} is not a keyward JSON report (no "findings")`);
    const wanted = new Set(report.findings.map((f) => f.fingerprint));
    const files = [...new Set(report.findings.filter((f) => !f.commit && !f.image && f.source !== 'stdin').map((f) => f.file))];
    // History and image findings cannot be rewritten; they are reported as exposed.
    const out: RawFinding[] = report.findings.filter((f) => f.commit || f.image).map((f) => withProfile({ ...f, secret: '' }));
    for (const file of files) {
      const r = await runScan({ target: file, cwd: options.cwd, showSecrets: true });
      out.push(...r.findings.filter((f) => wanted.has(f.fingerprint)).map(withProfile));
    }
    return out;
  }
  if (options.paths.length === 0) {
    throw new KeywardError('name the files or directories to migrate', { hint: 'For example: keyward migrate .env .mcp.json, or keyward scan . --json > r.json; keyward migrate --from-report r.json' });
  }
  const out: RawFinding[] = [];
  for (const path of options.paths) {
    const r = await runScan({ target: path, cwd: options.cwd, showSecrets: true });
    out.push(...r.findings.map(withProfile));
  }
  return out;
}

export async function buildPlan(findings: RawFinding[], choices?: Map<string, string | null>): Promise<MigrationPlan> {
  await ensureDaemon();
  const { entries } = await call<{ entries: { name: string }[] }>('admin', 'GET', '/v1/vault');
  const keysUrls = new Map(builtinProviders.map((p) => [p.name, p.keysUrl]));
  return planMigration(findings, {
    launcher: launcher(),
    existing: new Set(entries.map((e) => e.name)),
    keysUrl: (provider) => keysUrls.get(provider),
    choices,
  });
}
