import { BaseCommand } from '../base.js';

export default class Approve extends BaseCommand {
  static override summary = 'Answer consent requests live: allow once, for the session, always, or deny.';
  static override description = `Keep it open in a terminal beside your agents. It shows pending requests oldest first (agent and delegation chain, task, credential, permission and resource, TTL, proxy or release mode, what the policy said and why, time left), the active grants and the last audit events, all updating as they happen.

Keys: a allow once · s allow for this session · A always (writes a policy rule, shown first) · d deny · enter details · tab switch between requests and grants · r revoke the selected grant · q quit.

Needs a terminal; elsewhere use keyward consent list|allow|deny.`;

  async run(): Promise<void> {
    const { runApprove } = await import('../services/approve.js');
    await runApprove();
  }
}
