import { spawnSync } from 'node:child_process';

export const HAS_TMUX = spawnSync('sh', ['-c', 'command -v tmux']).status === 0;

/**
 * A private tmux server for one test file: terminal programs started in it are driven by
 * keystrokes and their screen is read back, as a person would use them.
 */
export function tmuxServer(name: string) {
  const run = (...args: string[]) => spawnSync('tmux', ['-L', name, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  /** The visible screen of a session, wrapped lines joined. */
  const screen = (session: string) => run('capture-pane', '-p', '-J', '-t', session).stdout;
  return {
    run,
    screen,
    /** Waits until the screen shows `text`, and returns it; a timeout error shows the screen. */
    async waitFor(session: string, text: string | RegExp, timeoutMs = 15_000): Promise<string> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const shown = screen(session);
        if (typeof text === 'string' ? shown.includes(text) : text.test(shown)) return shown;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${text}; the screen shows:\n${shown}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    kill: () => run('kill-server'),
  };
}
