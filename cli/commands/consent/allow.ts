import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base.js';

export default class ConsentAllow extends BaseCommand {
  static override summary = 'Allow a waiting consent request.';
  static override enableJsonFlag = true;
  static override args = { id: Args.string({ required: true, description: 'Consent request id (from keyward consent list).' }) };
  static override flags = {
    session: Flags.boolean({ description: 'Also allow the same request for the rest of this session.', exclusive: ['always'] }),
    always: Flags.boolean({ description: 'Always allow it: writes a rule to policy.yaml (shown before it is written).', exclusive: ['session'] }),
  };

  async run() {
    const { args, flags } = await this.parse(ConsentAllow);
    const { answerConsent } = await import('../../services/consent.js');
    const r = await answerConsent(args.id, flags.always ? 'always' : flags.session ? 'allow-session' : 'allow-once', (line) => this.log(line));
    return r;
  }
}
