import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startDaemon } from '../helpers/daemon.js';

describe('the proxy port', () => {
  it('takes the configured port, and falls back to a free one (and says so) when it is taken', async () => {
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', () => r()));
    const taken = (squatter.address() as { port: number }).port;
    const d = await startDaemon({ files: { 'config/config.yaml': `proxy: { port: ${taken} }\n` } });
    try {
      const status = (await d.api('admin', 'GET', '/v1/status')).body;
      expect(status.proxyPort).toMatchObject({ configured: taken, fallback: true });
      expect(status.proxyPort.actual).not.toBe(taken);
      expect(status.proxy).toBe(`http://127.0.0.1:${status.proxyPort.actual}`);
      const warning = d
        .output()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .find((l) => l.level === 'warn' && l.port === taken);
      expect(warning).toMatchObject({ code: 'EADDRINUSE' });
      const text = await d.cli(['daemon', 'status']);
      expect(text.stdout).toContain(`port ${taken} was taken`);
      // The proxy serves on its fallback port.
      const r = await fetch(`${status.proxy}/nothing/v1/models`);
      expect(r.status).toBe(401);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('no_grant_token');
    } finally {
      await d.stop();
      await new Promise((r) => squatter.close(r));
    }

    // A configured port that is free is taken as configured. No port can be reserved for the
    // daemon without freeing it first, so a candidate someone else took in between (the daemon
    // says EADDRINUSE) is skipped; a daemon that ignores its configured port fails every time.
    const outcomes: unknown[] = [];
    let won: { candidate: number; status: { proxyPort: unknown; proxy: string } } | undefined;
    for (let attempt = 0; attempt < 5 && !won; attempt++) {
      const candidate = 20_000 + Math.floor(Math.random() * 30_000);
      const again = await startDaemon({ files: { 'config/config.yaml': `proxy: { port: ${candidate} }\n` } });
      try {
        const status = (await again.api('admin', 'GET', '/v1/status')).body;
        outcomes.push(status.proxyPort);
        won = status.proxyPort.fallback === false ? { candidate, status } : undefined;
        // A candidate that was not taken must have been in use by someone else.
        expect(won ? 'EADDRINUSE' : again.output()).toContain('EADDRINUSE');
      } finally {
        await again.stop();
      }
    }
    expect(won, `the configured port was never taken: ${JSON.stringify(outcomes)}`).toBeDefined();
    expect(won!.status.proxyPort).toEqual({ configured: won!.candidate, actual: won!.candidate, fallback: false });
    expect(won!.status.proxy).toBe(`http://127.0.0.1:${won!.candidate}`);
  });
});
