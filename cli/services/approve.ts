import { request, type IncomingMessage } from 'node:http';
import type { Actions, Answer, AuditEntry, Feed } from '../ui/approve.js';
import { call, ensureDaemon, socketPath } from '../daemon-client.js';
import { KeywardError } from '../../kernel/errors.js';
import { safeStrings } from '../../kernel/terminal.js';

/**
 * The live feed of `keyward approve`: server-sent events from admin.sock (a snapshot of pending
 * requests and grants on every change, and every audit record), reconnecting when the daemon
 * restarts. No polling.
 */
export function eventFeed(): Feed {
  return {
    subscribe(handlers) {
      let closed = false;
      let current: IncomingMessage | undefined;
      let retry: NodeJS.Timeout | undefined;
      const connect = () => {
        if (closed) return;
        const req = request({ socketPath: socketPath('admin'), agent: false, path: '/v1/events', method: 'GET', headers: { accept: 'text/event-stream' } }, (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            handlers.connection('reconnecting');
            retry = setTimeout(connect, 1000);
            return;
          }
          current = res;
          handlers.connection('connected');
          let buffer = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffer += chunk;
            let end: number;
            while ((end = buffer.indexOf('\n\n')) !== -1) {
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              const event = /^event: (.+)$/m.exec(block)?.[1];
              const data = /^data: (.+)$/m.exec(block)?.[1];
              if (!event || !data) continue;
              // Agents choose their names, tasks and resources: nothing they wrote may steer the terminal.
              if (event === 'snapshot') handlers.snapshot(safeStrings(JSON.parse(data)));
              else if (event === 'audit') handlers.audit(safeStrings(JSON.parse(data) as AuditEntry));
            }
          });
          res.on('close', () => {
            if (closed) return;
            handlers.connection('reconnecting');
            retry = setTimeout(connect, 500);
          });
        });
        req.on('error', () => {
          handlers.connection('reconnecting');
          retry = setTimeout(connect, 1000);
        });
        req.end();
      };
      connect();
      return () => {
        closed = true;
        if (retry) clearTimeout(retry);
        current?.destroy();
      };
    },
  };
}

export const daemonActions: Actions = {
  async answer(id: string, answer: Answer) {
    const r = await call<{ outcome: { status: string; grant?: { id: string } }; rule?: string }>('admin', 'POST', `/v1/consent/${encodeURIComponent(id)}`, { answer });
    if (answer === 'deny') return `denied ${id}`;
    return `${answer === 'always' ? `wrote ${r.rule} to policy.yaml and allowed` : answer === 'allow-session' ? 'allowed for the session' : 'allowed once'}: ${id}${r.outcome.grant ? ` → ${r.outcome.grant.id}` : ''}`;
  },
  async revoke(grantId: string) {
    const r = await call<{ revoked: number }>('admin', 'POST', '/v1/revoke', { grant: grantId });
    return r.revoked ? `revoked ${grantId}` : `${grantId} was no longer active`;
  },
};

export async function runApprove(): Promise<void> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new KeywardError('keyward approve needs an interactive terminal', {
      hint: 'Without one, list requests with `keyward consent list` and answer with `keyward consent allow <id>` or `keyward consent deny <id>`.',
    });
  }
  await ensureDaemon();
  // A change to keyward's own configuration waits for a person too: shown first, as a diff.
  const { applyConfig, describeChange, pendingConfig } = await import('./policy.js');
  const pending = await pendingConfig();
  if (pending) {
    for (const line of describeChange(pending, !process.env.NO_COLOR)) process.stdout.write(`${line}\n`);
    if (pending.problems.length) process.stdout.write('\nIt cannot be applied until the problems are fixed; the confirmed configuration stays in force.\n\n');
    else {
      const { promptLine } = await import('../prompt.js');
      const yes = /^y(es)?$/i.test(await promptLine('\nApply this configuration change? [y/N] ', process.stdin, process.stdout));
      if (yes) await applyConfig(pending.id);
      process.stdout.write(yes ? `Applied ${pending.id}.\n\n` : 'Not applied; the confirmed configuration stays in force.\n\n');
    }
  }
  // ink renders nothing until exit when it believes it runs in CI; on a terminal it does not.
  if (process.env.CI && process.env.CI !== 'false') process.env.CI = 'false';
  const { renderApprove } = await import('../ui/render-approve.js');
  await renderApprove(eventFeed(), daemonActions);
}
