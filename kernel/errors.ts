/**
 * One error family, shown in one place (bin/run.js and the oclif `catch`): a `KeywardError`
 * is something the user can fix and says how; anything else is a bug and is reported as one.
 */
export class KeywardError extends Error {
  /** What to do next, shown under the message. */
  readonly hint?: string;
  /** Process exit code (2 = error, as documented for every command). */
  readonly exitCode: number;
  /** Stable machine-readable code, used in `--json` error output. */
  readonly code: string;

  constructor(message: string, options: { hint?: string; exitCode?: number; code?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'KeywardError';
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 2;
    this.code = options.code ?? 'error';
  }
}

export function isKeywardError(error: unknown): error is KeywardError {
  return error instanceof KeywardError || (error instanceof Error && error.name === 'KeywardError');
}

/** Formats any error for a terminal: user errors with their hint, bugs with a request to report. */
export function formatError(error: unknown): string {
  if (isKeywardError(error)) return `keyward: ${error.message}${error.hint ? `\n  ${error.hint}` : ''}`;
  const message = error instanceof Error ? error.message : String(error);
  return `keyward: unexpected error: ${message}\n  This is a bug in keyward; run again with KEYWARD_DEBUG=1 for details and report it.`;
}
