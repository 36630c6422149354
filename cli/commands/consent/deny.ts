import { Args } from '@oclif/core';
import { BaseCommand } from '../../base.js';

export default class ConsentDeny extends BaseCommand {
  static override summary = 'Deny a waiting consent request.';
  static override enableJsonFlag = true;
  static override args = { id: Args.string({ required: true, description: 'Consent request id (from keyward consent list).' }) };

  async run() {
    const { args } = await this.parse(ConsentDeny);
    const { answerConsent } = await import('../../services/consent.js');
    const r = await answerConsent(args.id, 'deny', (line) => this.log(line));
    return r;
  }
}
