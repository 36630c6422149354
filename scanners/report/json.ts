import { keywardVersion } from '../../kernel/version.js';
import type { ScanResult } from '../types.js';

/** The JSON report; its schema is documented in docs/scan-output.md and versioned by `version`. */
export function renderJson(result: ScanResult): string {
  return (
    JSON.stringify(
      {
        version: 1,
        tool: { name: 'keyward', version: keywardVersion() },
        scan: {
          mode: result.mode,
          target: result.target,
          durationMs: result.durationMs,
          partial: result.partial,
          stats: result.stats,
          issues: result.issues,
          ...(result.locations ? { locations: result.locations } : {}),
          ...(result.images ? { images: result.images } : {}),
          ...(result.config ? { config: result.config } : {}),
        },
        findings: result.findings,
      },
      null,
      2,
    ) + '\n'
  );
}
