import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base.js';
import { KeywardError } from '../../../kernel/errors.js';

export default class GrantRequest extends BaseCommand {
  static override summary = 'From inside a `keyward run` session, ask for one more grant.';
  static override description =
    'Uses KEYWARD_AGENT_SOCK and KEYWARD_SESSION from the environment that keyward run set. Prints the environment variables the grant provides (NAME=value lines, ready for `export`), or JSON with --json. Waits for consent when the policy says ask.';
  static override examples = ['eval "export $(<%= config.bin %> grant request github:repo:write:acme/app)"'];
  static override enableJsonFlag = true;
  static override args = { spec: Args.string({ required: true, description: 'credential:permission[:resource]' }) };
  static override flags = { ttl: Flags.string({ description: 'How long (default 15m, capped by policy).', helpValue: 'DURATION' }) };

  async run() {
    const { args, flags } = await this.parse(GrantRequest);
    const token = process.env.KEYWARD_SESSION;
    if (!token || !process.env.KEYWARD_AGENT_SOCK) {
      throw new KeywardError('not inside a keyward session (KEYWARD_SESSION and KEYWARD_AGENT_SOCK are unset)', {
        hint: 'Start the agent with keyward run; grant request is for processes inside it.',
      });
    }
    const { requestGrant } = await import('../../services/grant.js');
    const issued = await requestGrant(token, args.spec, flags.ttl, process.stderr);
    if (!this.jsonEnabled()) for (const [k, v] of Object.entries(issued.env)) this.log(`${k}=${v}`);
    return issued;
  }
}
