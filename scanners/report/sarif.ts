import { isAbsolute, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { builtinRules } from '../rules/index.js';
import type { Finding, ScanResult } from '../types.js';
import { keywardVersion } from '../../kernel/version.js';

export interface SarifOptions {
  /** Where finding paths are relative to (the process cwd). */
  cwd?: string;
  /** The directory SARIF URIs are relative to: the repository root, for code-scanning uploads. */
  sarifRoot?: string;
}

const pascal = (id: string) => id.replace(/(^|-)([a-z0-9])/g, (_, __, c: string) => c.toUpperCase());
const encodePath = (p: string) => p.split('/').map(encodeURIComponent).join('/');

/** SARIF 2.1.0, valid against the OASIS schema; one run, one result per finding. */
export function renderSarif(result: ScanResult, options: SarifOptions): string {
  const cwd = options.cwd ?? process.cwd();
  const root = options.sarifRoot ?? cwd;
  const ruleIds = [...new Set(result.findings.map((f) => f.ruleId))].sort();
  const known = new Map(builtinRules.map((r) => [r.id, r]));
  const rules = ruleIds.map((id) => {
    const rule = known.get(id);
    const sample = result.findings.find((f) => f.ruleId === id)!;
    return {
      id,
      name: pascal(id),
      shortDescription: { text: sample.description },
      fullDescription: { text: `${sample.description} (provider: ${sample.provider}). A long-lived credential in a file: move it out with \`keyward migrate\` or rotate it.` },
      defaultConfiguration: { level: 'error' },
      help: { text: 'Remove the secret from the file, rotate it at the provider, and keep it in the keyward vault instead (`keyward migrate`).' },
      properties: {
        tags: ['security', 'secret', sample.provider],
        precision: rule?.validate ? 'very-high' : rule?.generic ? 'medium' : 'high',
        'security-severity': rule?.generic ? '6.0' : '8.5',
      },
    };
  });
  const index = new Map(ruleIds.map((id, i) => [id, i]));
  const location = (f: Finding) => {
    if (f.source === 'stdin') return { physicalLocation: { artifactLocation: { uri: 'stdin' }, region: { startLine: f.line, startColumn: f.column } } };
    // Home files are relative to the home directory scanned; image files to the image's root.
    if (f.source === 'home' && f.file.startsWith('~/') && result.home) {
      return { physicalLocation: { artifactLocation: { uri: encodePath(f.file.slice(2)), uriBaseId: 'HOME' }, region: { startLine: f.line, startColumn: f.column } } };
    }
    if (f.source === 'image')
      return { physicalLocation: { artifactLocation: { uri: encodePath(f.file), uriBaseId: 'IMAGEROOT' }, region: { startLine: f.line, startColumn: f.column } } };
    const abs = isAbsolute(f.file) ? f.file : resolve(cwd, f.file);
    const rel = relative(root, abs).split('\\').join('/');
    const inside = !rel.startsWith('..') && !isAbsolute(rel);
    return {
      physicalLocation: {
        artifactLocation: inside ? { uri: encodePath(rel), uriBaseId: 'SRCROOT' } : { uri: pathToFileURL(abs).href },
        region: { startLine: f.line, startColumn: f.column },
      },
    };
  };
  const sarif = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: 'keyward', version: keywardVersion(), semanticVersion: keywardVersion(), rules } },
        originalUriBaseIds: {
          SRCROOT: { uri: pathToFileURL(root.endsWith('/') ? root : `${root}/`).href },
          ...(result.home ? { HOME: { uri: pathToFileURL(result.home.endsWith('/') ? result.home : `${result.home}/`).href } } : {}),
        },
        invocations: [
          {
            executionSuccessful: !result.partial,
            toolExecutionNotifications: result.issues.map((issue) => ({
              level: 'warning',
              message: { text: issue.path ? `${issue.path}: ${issue.message}` : issue.message },
            })),
          },
        ],
        results: result.findings.map((f) => ({
          ruleId: f.ruleId,
          ruleIndex: index.get(f.ruleId)!,
          level: 'error',
          message: { text: `${f.description}: ${f.secret}${f.commit ? ` (introduced in ${f.commit.slice(0, 12)})` : ''}` },
          locations: [location(f)],
          partialFingerprints: { 'keyward/v1': f.fingerprint },
          properties: {
            confidence: f.confidence,
            migratable: f.migratable,
            ...(f.commit ? { commit: f.commit, author: f.author, date: f.date } : {}),
            ...(f.keyPath ? { keyPath: f.keyPath } : {}),
            ...(f.format ? { format: f.format } : {}),
            ...(f.decoded ? { decoded: f.decoded } : {}),
            ...(f.verification ? { verification: f.verification } : {}),
            ...(f.archivePath ? { archivePath: f.archivePath } : {}),
            ...(f.image
              ? {
                  image: f.image,
                  ...(f.imageDigest ? { imageDigest: f.imageDigest } : {}),
                  ...(f.layer ? { layer: f.layer, layerIndex: f.layerIndex } : {}),
                  ...(f.layerCommand ? { layerCommand: f.layerCommand } : {}),
                  ...(f.deletedInLayer !== undefined ? { deletedInLayer: f.deletedInLayer } : {}),
                }
              : {}),
          },
        })),
      },
    ],
  };
  return JSON.stringify(sarif, null, 2) + '\n';
}
