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

    // Free now: the same port is taken as configured.
    const again = await startDaemon({ files: { 'config/config.yaml': `proxy: { port: ${taken} }\n` } });
    try {
      const status = (await again.api('admin', 'GET', '/v1/status')).body;
      expect(status.proxyPort).toEqual({ configured: taken, actual: taken, fallback: false });
      expect(status.proxy).toBe(`http://127.0.0.1:${taken}`);
    } finally {
      await again.stop();
    }
  });
});
