import { render } from 'ink-testing-library';
import { describe, expect, it, vi } from 'vitest';
import { Approve, type Actions, type ActiveGrant, type AuditEntry, type Feed, type PendingConsent } from '../../../cli/ui/approve.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const pending = (over: Partial<PendingConsent> = {}): PendingConsent => ({
  id: 'cr_1',
  agent: 'mcp:github',
  chain: ['ada', 'claude-code', 'mcp:github'],
  task: 'fix flaky test',
  credential: 'github',
  provider: 'github',
  permission: 'repo:write',
  resource: 'acme/app',
  mode: 'proxy',
  ttl: 30 * 60_000,
  policy: { decision: 'ask', reason: 'rule 3 (policy.yaml line 5) says ask for mcp:github' },
  created: '2026-01-01T11:59:30Z',
  expires: '2026-01-01T12:01:30Z',
  ...over,
});
const grant: ActiveGrant = {
  id: 'gr_9',
  agent: 'claude-code',
  chain: ['ada', 'claude-code'],
  task: 'refactor',
  credential: 'openai',
  permission: 'chat',
  mode: 'proxy',
  expires: '2026-01-01T12:10:00Z',
};

/** A feed the test pushes into, as the daemon's event stream would. */
function fakeFeed() {
  let handlers: Parameters<Feed['subscribe']>[0] | undefined;
  const feed: Feed = {
    subscribe(h) {
      handlers = h;
      return () => (handlers = undefined);
    },
  };
  return {
    feed,
    push: (s: { pending: PendingConsent[]; grants: ActiveGrant[] }) => handlers!.snapshot(s),
    audit: (r: AuditEntry) => handlers!.audit(r),
    connect: () => handlers!.connection('connected'),
  };
}

// eslint-disable-next-line no-restricted-syntax -- a fixed sleep, still to be replaced by a state wait (docs/testing.md#known-debt)
const tick = () => new Promise((r) => setTimeout(r, 80));
/**
 * Waits until the screen is drawn and connected, and reads keys: ink starts reading stdin (a
 * `readable` listener) once the key handler is mounted, and a key sent before that is lost.
 * Waiting for that state, not for a time, holds however loaded the machine is.
 */
const eventually = (check: () => void) => vi.waitFor(check, { timeout: 5000 });
async function drawn(app: { lastFrame(): string | undefined; stdin: { listenerCount(event: string): number } }) {
  await eventually(() => expect(app.lastFrame()).toContain('● connected'));
  await eventually(() => expect(app.stdin.listenerCount('readable')).toBeGreaterThan(0));
}

function setup(initial: { pending: PendingConsent[]; grants: ActiveGrant[] }) {
  const f = fakeFeed();
  const actions: Actions = { answer: vi.fn(async () => 'done'), revoke: vi.fn(async () => 'revoked') };
  const app = render(<Approve feed={f.feed} actions={actions} now={() => NOW} />);
  f.connect();
  f.push(initial);
  return { app, actions, f };
}

describe('keyward approve', () => {
  it('shows each pending request with its chain, task, scope, TTL, mode, policy reason and time left', async () => {
    const { app } = setup({ pending: [pending(), pending({ id: 'cr_2', mode: 'release', permission: 'release', resource: undefined, credential: 'prod-db' })], grants: [grant] });
    await drawn(app);
    const frame = app.lastFrame()!;
    // The frame wraps at the terminal's width: compare with line breaks and borders removed.
    const flat = frame.replace(/[┃│║]/g, '').replace(/\s*\n\s*/g, ' ');
    expect(flat).toContain('ada → claude-code → mcp:github wants github:repo:write:acme/app for 30m00s');
    expect(flat).toContain('task: fix flaky test');
    expect(flat).toContain('policy: ask (rule 3 (policy.yaml line 5) says ask for mcp:github)');
    expect(flat).toContain('times out in 1m30s');
    expect(flat).toContain('proxy: the agent holds a placeholder');
    expect(flat).toContain('RELEASE: the raw secret leaves keyward');
    expect(frame).toMatch(/10m00s claude-code · openai:chat · proxy · refactor/);
    expect(frame).toContain('● connected');
    app.unmount();
  });

  it('answers with a, s and d on the selected request, oldest first', async () => {
    const { app, actions } = setup({ pending: [pending(), pending({ id: 'cr_2' })], grants: [] });
    await drawn(app);
    app.stdin.write('a');
    await eventually(() => expect(actions.answer).toHaveBeenLastCalledWith('cr_1', 'allow-once'));
    app.stdin.write('j');
    // The second request is selected (drawn bold) before the next key.
    await eventually(() => expect(app.lastFrame()!.indexOf('┌')).toBeLessThan(app.lastFrame()!.indexOf('┏')));
    app.stdin.write('s');
    await eventually(() => expect(actions.answer).toHaveBeenLastCalledWith('cr_2', 'allow-session'));
    app.stdin.write('d');
    await eventually(() => expect(actions.answer).toHaveBeenLastCalledWith('cr_2', 'deny'));
    app.unmount();
  });

  it('acts on the selection the previous key left, even when keys come faster than the screen redraws', async () => {
    const { app, actions } = setup({ pending: [pending(), pending({ id: 'cr_2' }), pending({ id: 'cr_3' })], grants: [] });
    await drawn(app);
    // One burst, as a fast typist or a paste sends it: no redraw between the keys.
    for (const key of ['j', 's', 'j', 'd', 'k', 'a']) app.stdin.write(key);
    await eventually(() => expect(actions.answer).toHaveBeenCalledTimes(3));
    expect((actions.answer as ReturnType<typeof vi.fn>).mock.calls).toEqual([
      ['cr_2', 'allow-session'],
      ['cr_3', 'deny'],
      ['cr_2', 'allow-once'],
    ]);
    app.unmount();
  });

  it('shows the policy rule before "always" writes it, and cancels on anything but y', async () => {
    const { app, actions } = setup({ pending: [pending()], grants: [] });
    await drawn(app);
    app.stdin.write('A');
    await tick();
    await eventually(() =>
      expect(
        app
          .lastFrame()!
          .replace(/[║│]/g, '')
          .replace(/\s*\n\s*/g, ' '),
      ).toContain('- { agent: "mcp:github", credential: github, permission: "repo:write", resource: "acme/app", mode: proxy, decision: allow }'),
    );
    expect(actions.answer).not.toHaveBeenCalled();
    app.stdin.write('n');
    await tick();
    expect(actions.answer).not.toHaveBeenCalled();
    await eventually(() => expect(app.lastFrame()).toContain('"always" cancelled'));
    app.stdin.write('A');
    await eventually(() => expect(app.lastFrame()).toContain('Always allow?'));
    app.stdin.write('y');
    await tick();
    await eventually(() => expect(actions.answer).toHaveBeenCalledWith('cr_1', 'always'));
    app.unmount();
  });

  it('shows details on enter, revokes a grant with r, and lists audit events as they arrive', async () => {
    const { app, actions, f } = setup({ pending: [pending()], grants: [grant] });
    await drawn(app);
    app.stdin.write('\r');
    await tick();
    await eventually(() => expect(app.lastFrame()).toContain('request cr_1 · provider github'));
    app.stdin.write('r');
    await tick();
    await eventually(() => expect(app.lastFrame()).toContain('press r again to revoke'));
    app.stdin.write('r');
    await tick();
    await eventually(() => expect(actions.revoke).toHaveBeenCalledWith('gr_9'));
    f.audit({
      seq: 7,
      time: '2026-01-01T12:00:01Z',
      event: 'proxy.request',
      chain: ['ada', 'claude-code'],
      credential: 'openai',
      permission: 'chat',
      decision: 'deny',
      downstream: { method: 'DELETE', host: 'api.openai.com', path: '/v1/files/x', status: 403 },
    });
    await tick();
    await eventually(() => expect(app.lastFrame()).toContain('12:00:01 proxy.request    claude-code openai:chat DELETE api.openai.com/v1/files/x 403 deny'));
    f.push({ pending: [], grants: [] });
    await tick();
    await eventually(() => expect(app.lastFrame()).toContain('Nothing is waiting'));
    app.unmount();
  });

  it('lists a secret that keyward watch or the daemon saw written, by rule, file and line', async () => {
    const { app, f } = setup({ pending: [], grants: [] });
    await drawn(app);
    f.audit({
      seq: 12,
      time: '2026-01-01T12:00:05Z',
      event: 'finding',
      reason: 'keyward watch saw a new secret written to a file',
      detail: { rule: 'github-classic-pat', file: '/home/ada/app/.env', line: 3 },
    } as AuditEntry);
    await vi.waitFor(() => expect(app.lastFrame()).toContain('12:00:05 finding          new secret: github-classic-pat in /home/ada/app/.env:3'));
    app.unmount();
  });
});
