import { homedir } from 'node:os';
import { isAbsolute, join, relative, sep } from 'node:path';
import { KeywardError } from '../kernel/errors.js';
import { writeFileAtomic } from '../kernel/atomic-file.js';
import { keywardPaths } from '../kernel/paths.js';
import { readUntrustedFile, type UntrustedFileError } from '../kernel/untrusted-file.js';
import type { Finding } from './types.js';

/**
 * The baseline: findings a team has accepted, by fingerprint. It holds no secret (a fingerprint is
 * a sha256 of the rule id and the secret), so it can be committed.
 */
export interface BaselineFile {
  version: 1;
  created: string;
  findings: { fingerprint: string; ruleId: string; file: string; line: number; commit?: string }[];
}

/** Largest baseline read: about 100,000 accepted findings. */
export const BASELINE_LIMIT = 32 * 1024 * 1024;

/**
 * The fingerprints of a baseline. A baseline usually lives in the repository, so it is read as
 * untrusted content: no symbolic link, a regular file (a FIFO cannot hang the scan), size-capped.
 */
export function loadBaseline(file: string): Set<string> {
  let text: string;
  try {
    text = readUntrustedFile(file, { maxBytes: BASELINE_LIMIT }).toString('utf8');
  } catch (error) {
    throw new KeywardError(`cannot read baseline ${file}: ${(error as Error).message}`, {
      hint: `Create one with: keyward scan --write-baseline ${file}`,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new KeywardError(`baseline ${file} is not valid JSON: ${(error as Error).message}`, {
      hint: `Recreate it with: keyward scan --write-baseline ${file}`,
    });
  }
  const entries = (parsed as BaselineFile | null)?.findings;
  if (!Array.isArray(entries)) {
    throw new KeywardError(`baseline ${file} has no "findings" list`, { hint: `Recreate it with: keyward scan --write-baseline ${file}` });
  }
  const fingerprints = new Set<string>();
  entries.forEach((entry, i) => {
    const fp = (entry as { fingerprint?: unknown })?.fingerprint;
    if (typeof fp !== 'string' || !/^[0-9a-f]{64}$/.test(fp)) {
      throw new KeywardError(`baseline ${file}: findings[${i}] has no valid "fingerprint" (64 hex digits)`, {
        hint: `Recreate it with: keyward scan --write-baseline ${file}`,
      });
    }
    fingerprints.add(fp);
  });
  return fingerprints;
}

export function writeBaseline(file: string, findings: Finding[], now: Date = new Date()): void {
  const seen = new Set<string>();
  const body: BaselineFile = {
    version: 1,
    created: now.toISOString(),
    findings: findings
      .filter((f) => !seen.has(f.fingerprint) && seen.add(f.fingerprint))
      .map((f) => ({ fingerprint: f.fingerprint, ruleId: f.ruleId, file: f.file, line: f.line, ...(f.commit ? { commit: f.commit } : {}) })),
  };
  writeFileAtomic(file, JSON.stringify(body, null, 2) + '\n');
}

/**
 * Adds findings to a baseline, keeping what it holds (creating it when there is none). With
 * `where`, paths are written relative to the project or as `~/…`: a baseline may be committed,
 * and absolute paths name the user's home.
 */
export function addToBaseline(file: string, findings: Finding[], now: Date = new Date(), where?: { cwd: string; home?: string }): number {
  const show = (path: string) => {
    if (!where || !isAbsolute(path)) return path;
    const home = where.home ?? homedir();
    if (path.startsWith(where.cwd + sep)) return relative(where.cwd, path).split(sep).join('/');
    if (path.startsWith(home + sep)) return `~/${relative(home, path).split(sep).join('/')}`;
    return path;
  };
  let existing: BaselineFile['findings'] = [];
  let text: string | undefined;
  try {
    text = readUntrustedFile(file, { maxBytes: BASELINE_LIMIT }).toString('utf8');
  } catch (error) {
    if ((error as UntrustedFileError).code !== 'ENOENT') throw new KeywardError(`cannot read baseline ${file}: ${(error as Error).message}`);
  }
  if (text !== undefined) {
    loadBaseline(file); // a damaged baseline is an error, not something to overwrite
    existing = (JSON.parse(text) as BaselineFile).findings;
  }
  const known = new Set(existing.map((e) => e.fingerprint));
  const added = findings.filter((f) => !known.has(f.fingerprint) && known.add(f.fingerprint));
  const body: BaselineFile = {
    version: 1,
    created: now.toISOString(),
    findings: [...existing, ...added.map((f) => ({ fingerprint: f.fingerprint, ruleId: f.ruleId, file: show(f.file), line: f.line, ...(f.commit ? { commit: f.commit } : {}) }))],
  };
  writeFileAtomic(file, JSON.stringify(body, null, 2) + '\n');
  return added.length;
}

/**
 * keyward's own baseline, for findings accepted in files outside any project (`~/.cursor/mcp.json`,
 * `~/.aws/credentials`): a project's `.keyward-baseline.json` is for the project's files.
 */
export function homeBaselinePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(keywardPaths(env).config, 'home-baseline.json');
}
