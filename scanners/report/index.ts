import type { ScanResult } from '../types.js';
import type { TextOptions } from './text.js';

export type ReportFormat = 'text' | 'json' | 'sarif';
export const REPORT_FORMATS: readonly ReportFormat[] = ['text', 'json', 'sarif'];

export interface ReportOptions extends TextOptions {
  /** Directory finding paths are relative to. */
  cwd?: string;
  /** Directory SARIF locations are relative to (the repository root when there is one). */
  sarifRoot?: string;
}

/**
 * Every reporter takes the same result; findings are already redacted, so none can leak.
 * Reporters are loaded on demand: a pre-commit run loads only the text one.
 */
export async function renderReport(format: ReportFormat, result: ScanResult, options: ReportOptions): Promise<string> {
  switch (format) {
    case 'json':
      return (await import('./json.js')).renderJson(result);
    case 'sarif':
      return (await import('./sarif.js')).renderSarif(result, options);
    case 'text':
      return (await import('./text.js')).renderText(result, options);
  }
}
