/** A refusal or failure the proxy answers with `{error: {code, message, ...extra}}` and this status. */
export class ProxyError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}
