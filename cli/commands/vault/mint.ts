import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base.js';
import { KeywardError } from '../../../kernel/errors.js';

export default class VaultMint extends BaseCommand {
  static override summary = 'Make an entry a minting root: grants get short-lived credentials minted from it, never the stored key.';
  static override description = `An AWS key pair (the entry keyward migrate made from ~/.aws/credentials, or any {"AccessKeyId", "SecretAccessKey"} entry) becomes an STS root: each grant gets temporary credentials from AssumeRole (with --role-arn) or GetSessionToken. A PostgreSQL admin URL (its role needs CREATEROLE) becomes a role-minting root: each grant gets its own login role, dropped when the grant ends. The value stays as it is; active grants of the entry are revoked. See docs/minting.md.`;
  static override examples = [
    '<%= config.bin %> vault mint aws-default --role-arn arn:aws:iam::123456789012:role/agent',
    '<%= config.bin %> vault mint prod-db --as postgres --read-role app_reader',
  ];
  static override enableJsonFlag = true;
  static override args = { name: Args.string({ required: true, description: 'The vault entry.' }) };
  static override flags = {
    as: Flags.string({ options: ['aws', 'postgres'], description: 'What the entry holds (default: aws for entries keyward migrate made from AWS files).' }),
    'role-arn': Flags.string({ description: 'AWS: the role each grant assumes (without it, GetSessionToken).', helpValue: 'ARN' }),
    'external-id': Flags.string({ description: "AWS: the ExternalId the role's trust policy asks for.", helpValue: 'ID' }),
    region: Flags.string({ description: 'AWS: the region to sign STS requests for (default us-east-1).', helpValue: 'REGION' }),
    'read-role': Flags.string({ description: 'PostgreSQL: the role a read grant is a member of (default pg_read_all_data).', helpValue: 'ROLE' }),
    'write-role': Flags.string({ description: 'PostgreSQL: the role a write grant is also a member of (default pg_write_all_data).', helpValue: 'ROLE' }),
  };

  async run() {
    const { args, flags } = await this.parse(VaultMint);
    const { ensureDaemon, call } = await import('../../daemon-client.js');
    await ensureDaemon();
    const { entries } = await call<{ entries: { name: string; provider: string; attributes?: Record<string, string> }[] }>('admin', 'GET', '/v1/vault');
    const entry = entries.find((e) => e.name === args.name);
    if (!entry) throw new KeywardError(`no vault entry named ${args.name}`, { hint: 'See the entries with: keyward vault list' });
    const kind = flags.as ?? (entry.attributes?.helper === 'aws' || entry.provider === 'aws' ? 'aws' : entry.provider === 'postgres' ? 'postgres' : undefined);
    if (!kind)
      throw new KeywardError(`say what ${args.name} holds`, { hint: `keyward vault mint ${args.name} --as aws (an AWS key pair) or --as postgres (an admin connection URL)` });
    const attributes: Record<string, string> = {};
    if (kind === 'aws') {
      let role = flags['role-arn'];
      if (role === undefined && process.stdin.isTTY) {
        const { promptLine } = await import('../../prompt.js');
        role = (await promptLine('Role ARN each grant assumes (empty: GetSessionToken with the key itself): ')).trim() || undefined;
      }
      if (role && !/^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(role))
        throw new KeywardError(`"${role}" is not an IAM role ARN`, { hint: 'For example arn:aws:iam::123456789012:role/agent' });
      if (role) attributes.roleArn = role;
      if (flags['external-id']) attributes.externalId = flags['external-id'];
      if (flags.region) attributes.region = flags.region;
    } else {
      if (flags['read-role']) attributes.readRole = flags['read-role'];
      if (flags['write-role']) attributes.writeRole = flags['write-role'];
    }
    const r = await call<{ entry: { name: string; provider: string; attributes?: Record<string, string> } }>('admin', 'PATCH', `/v1/vault/${encodeURIComponent(args.name)}`, {
      provider: kind,
      ...(Object.keys(attributes).length ? { attributes } : {}),
    });
    this.log(
      kind === 'aws'
        ? `${args.name} is an STS root now: grants get temporary credentials (${attributes.roleArn ? `AssumeRole ${attributes.roleArn}` : 'GetSessionToken'}), never the stored key.`
        : `${args.name} is a PostgreSQL role-minting root now: each grant gets its own login role, dropped when the grant ends.`,
    );
    return r.entry;
  }
}
