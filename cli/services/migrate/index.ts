import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runScan } from '../../../scanners/scan.js';
import { runHomeScan } from '../../../scanners/scan-home.js';
import { buildRuleSet } from '../../../scanners/ruleset.js';
import { keywardPaths } from '../../../kernel/paths.js';
import { loadProviders } from '../../../daemon/providers/registry.js';
import type { Finding } from '../../../scanners/types.js';
import { call, ensureDaemon } from '../../daemon-client.js';
import { KeywardError } from '../../../kernel/errors.js';
import { planMigration, type Choice, type MigrationPlan, type RawFinding } from './plan.js';

/** How rewritten configs start keyward: this Node and this copy of keyward, by absolute path. */
export function launcher(): string[] {
  return [process.execPath, fileURLToPath(new URL('../../../../bin/run.js', import.meta.url))];
}

export interface CollectOptions {
  paths: string[];
  fromReport?: string;
  cwd: string;
  /** The home directory for the default scan (`keyward scan home --project .`). */
  home?: string;
  /** Findings accepted earlier (the wizard's "accept" adds to it); not offered again. */
  baselineFile?: string;
}

const rules = () => buildRuleSet();

function withProfile(f: Finding): RawFinding {
  return { ...f, profile: rules().byId.get(f.ruleId)?.migrate };
}

/** Home-scan findings name files as `~/…`; migration works on absolute paths. */
function absolutePath(file: string, home: string, cwd: string): string {
  if (file === '~') return home;
  if (file.startsWith('~/')) return join(home, file.slice(2));
  return resolve(cwd, file);
}

async function scanHome(options: CollectOptions): Promise<RawFinding[]> {
  const home = resolve(options.home ?? homedir());
  const r = await runHomeScan({ cwd: options.cwd, home, projects: ['.'], showSecrets: true, baselineFile: options.baselineFile });
  // A file that could not be read or parsed is not migrated: say so rather than skip it quietly.
  for (const issue of r.issues) process.stderr.write(`warning: ${issue.path ? `${issue.path}: ` : ''}${issue.message}\n`);
  return r.findings.map((f) => withProfile({ ...f, file: absolutePath(f.file, home, options.cwd) }));
}

/**
 * A report made with `keyward scan --verify` says which keys are live: those are moved first, and
 * keep what the provider said.
 */
function liveFirst(findings: RawFinding[], reported: Finding[]): RawFinding[] {
  const said = new Map(reported.filter((f) => f.verification).map((f) => [f.fingerprint, f.verification]));
  if (said.size === 0) return findings;
  for (const f of findings) if (said.has(f.fingerprint)) f.verification = said.get(f.fingerprint);
  return findings.sort((a, b) => Number(b.verification === 'live') - Number(a.verification === 'live'));
}

/** Findings with their raw secrets: the files are scanned again, since reports are redacted. */
export async function collectFindings(options: CollectOptions): Promise<RawFinding[]> {
  const baselineFile = options.baselineFile && existsSync(resolve(options.cwd, options.baselineFile)) ? options.baselineFile : undefined;
  if (options.fromReport) {
    let report: { scan?: { mode?: string }; findings?: Finding[] };
    try {
      report = JSON.parse(readFileSync(resolve(options.cwd, options.fromReport), 'utf8'));
    } catch (error) {
      throw new KeywardError(`cannot read the report ${options.fromReport}: ${(error as Error).message}`, { hint: 'Make one with: keyward scan . --json > findings.json' });
    }
    if (!Array.isArray(report.findings)) throw new KeywardError(`${options.fromReport} is not a keyward JSON report (no "findings")`);
    const wanted = new Set(report.findings.map((f) => f.fingerprint));
    // History and image findings cannot be rewritten; they are reported as exposed.
    const out: RawFinding[] = report.findings.filter((f) => f.commit || f.image).map((f) => withProfile({ ...f, secret: '' }));
    if (report.scan?.mode === 'home') {
      // The home scan knows each file's format and key paths: run it again rather than a plain file scan.
      out.push(...(await scanHome({ ...options, baselineFile })).filter((f) => wanted.has(f.fingerprint)));
      return out;
    }
    const files = [...new Set(report.findings.filter((f) => !f.commit && !f.image && f.source !== 'stdin').map((f) => f.file))];
    for (const file of files) {
      const r = await runScan({ target: file, cwd: options.cwd, showSecrets: true });
      out.push(...r.findings.filter((f) => wanted.has(f.fingerprint)).map(withProfile));
    }
    return liveFirst(out, report.findings);
  }
  if (options.paths.length === 0) return scanHome({ ...options, baselineFile });
  const out: RawFinding[] = [];
  for (const path of options.paths) {
    const r = await runScan({ target: path, cwd: options.cwd, showSecrets: true, baselineFile });
    out.push(...r.findings.map((f) => withProfile({ ...f, file: resolve(options.cwd, f.file) })));
  }
  return out;
}

/** A planner over the vault as it is now: call it again with the user's choices. */
export type Planner = (choices?: Map<string, Choice>) => MigrationPlan;

export async function planner(findings: RawFinding[]): Promise<{ plan: Planner; existing: Set<string>; providers: string[] }> {
  await ensureDaemon();
  const [{ entries }, status] = await Promise.all([
    call<{ entries: { name: string; attributes?: Record<string, string> }[] }>('admin', 'GET', '/v1/vault'),
    call<{ proxyPort?: { configured: number; actual: number | null; fallback: boolean } }>('admin', 'GET', '/v1/status'),
  ]);
  // HTTP MCP servers are pointed at the proxy's configured port: the one a restarted daemon takes
  // again (0 means any free port: no address to write into a config).
  const port = status.proxyPort?.configured;
  const proxy = {
    url: port ? `http://127.0.0.1:${port}` : undefined,
    used: new Map(entries.filter((e) => e.attributes?.helper === 'mcp-http' && e.attributes.server).map((e) => [e.attributes!.server, e.name])),
  };
  const providers = loadProviders(keywardPaths().config).all();
  const keysUrls = new Map(providers.map((p) => [p.name, p.keysUrl]));
  const existing = new Set(entries.map((e) => e.name));
  const plan: Planner = (choices) => planMigration(findings, { launcher: launcher(), proxy, existing, keysUrl: (provider) => keysUrls.get(provider), choices });
  return { plan, existing, providers: [...new Set(providers.map((p) => p.name))].sort() };
}

export async function buildPlan(findings: RawFinding[], choices?: Map<string, Choice>): Promise<MigrationPlan> {
  return (await planner(findings)).plan(choices);
}
