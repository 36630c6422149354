/**
 * Single keys from the terminal, for `keyward watch`'s one-key offers. Raw mode only while
 * listening; `suspend()` hands the terminal to a child process (keyward migrate) and `listen()`
 * takes it back.
 */
export interface KeySource {
  listen(onKey: (key: string) => void): void;
  suspend(): void;
  stop(): void;
}

/** Keys from `input`, or undefined when it is not a terminal. */
export function terminalKeys(input: NodeJS.ReadStream = process.stdin): KeySource | undefined {
  if (!input.isTTY) return undefined;
  let handler: ((chunk: Buffer) => void) | undefined;
  const suspend = () => {
    if (!handler) return;
    input.off('data', handler);
    handler = undefined;
    input.setRawMode(false);
    input.pause();
  };
  return {
    listen(onKey) {
      suspend();
      handler = (chunk: Buffer) => {
        for (const key of chunk.toString('utf8')) onKey(key);
      };
      input.setRawMode(true);
      input.on('data', handler);
      input.resume();
    },
    suspend,
    stop: suspend,
  };
}
