import { call, ensureDaemon } from '../daemon-client.js';
import { ruleFor } from '../consent-rule.js';
import { KeywardError } from '../../kernel/errors.js';

export type Answer = 'allow-once' | 'allow-session' | 'always' | 'deny';

interface PendingConsent {
  id: string;
  agent: string;
  chain: string[];
  credential: string;
  permission: string;
  resource?: string;
  mode: string;
}

/** Answers a consent request; an "always" answer shows its policy rule before it is written. */
export async function answerConsent(id: string, answer: Answer, say: (line: string) => void) {
  await ensureDaemon();
  const { pending } = await call<{ pending: PendingConsent[] }>('admin', 'GET', '/v1/consent');
  const request = pending.find((c) => c.id === id);
  if (!request) throw new KeywardError(`no consent request ${id} is waiting`, { hint: 'It may have been answered or timed out; see keyward consent list.' });
  if (answer === 'always') say(`Adding to policy.yaml:\n  ${ruleFor(request)}`);
  const r = await call<{ outcome: { status: string; grant?: { id: string; expires: string }; reason?: string } }>('admin', 'POST', `/v1/consent/${encodeURIComponent(id)}`, {
    answer,
  });
  const what = `${request.chain.join(' → ')}: ${[request.credential, request.permission, request.resource].filter(Boolean).join(':')}`;
  if (r.outcome.status === 'issued') say(`Allowed ${what} (grant ${r.outcome.grant?.id}, until ${r.outcome.grant?.expires.slice(11, 19)}).`);
  else say(`Denied ${what}.`);
  return r;
}
