/**
 * Waits for a state instead of for a time: polls `check` until it returns something other than
 * undefined/false, and fails with `what` when `timeoutMs` passes first. Tests use this, never a
 * fixed sleep (the linter flags `new Promise((r) => setTimeout(r, n))` in test/).
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await pause(options.intervalMs ?? 25);
  }
}

/** The one place a test may pause: between polls of a state. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
