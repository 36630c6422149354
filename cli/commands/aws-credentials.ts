import { Flags } from '@oclif/core';
import { BaseCommand } from '../base.js';
import { KeywardError } from '../../kernel/errors.js';

export default class AwsCredentials extends BaseCommand {
  static override summary = "AWS credential_process: print a profile's keys from the vault, as the AWS CLI and SDKs expect.";
  static override description = `Set in ~/.aws/credentials (keyward migrate does it):

  [default]
  credential_process = keyward aws-credentials --profile default

The keys come from the vault entry aws-<profile> through a release grant for the agent aws:<profile>, which policy.yaml decides on. When the entry's provider is aws, the daemon mints temporary credentials with STS (AssumeRole with the entry's RoleArn, else GetSessionToken or GetFederationToken) and the output carries STS's AccessKeyId, SecretAccessKey, SessionToken and real Expiration: the stored key never leaves the daemon. --permission narrows them with a session policy (for example s3:read:my-bucket). An entry of another provider (a JSON object with AccessKeyId, SecretAccessKey and optionally SessionToken) is handed out as stored, with the grant's expiry as Expiration. Output: {"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken"?, "Expiration"}.`;
  static override flags = {
    profile: Flags.string({ char: 'p', default: 'default', description: 'The AWS profile.' }),
    entry: Flags.string({ description: 'Vault entry to read (default aws-<profile>).' }),
    ttl: Flags.string({ description: "How long the keys are good for (default: the policy's grant TTL; STS's minimum is 15 minutes)." }),
    permission: Flags.string({ description: 'Scope of minted credentials, e.g. s3:read:my-bucket (entries of provider aws only).', helpValue: 'PERMISSION' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(AwsCredentials);
    const { releaseSecret } = await import('../services/release.js');
    const entry = flags.entry ?? `aws-${flags.profile}`;
    const { value, expires } = await releaseSecret(`aws:${flags.profile}`, entry, { ttl: flags.ttl, permission: flags.permission });
    let keys: { AccessKeyId?: string; SecretAccessKey?: string; SessionToken?: string; Expiration?: string };
    try {
      keys = JSON.parse(value);
    } catch {
      throw new KeywardError(`vault entry ${entry} is not a JSON object of AWS keys`, {
        hint: 'Store {"AccessKeyId": "...", "SecretAccessKey": "..."} in it, or let keyward migrate do it.',
      });
    }
    if (!keys.AccessKeyId || !keys.SecretAccessKey) throw new KeywardError(`vault entry ${entry} has no AccessKeyId and SecretAccessKey`);
    process.stdout.write(
      JSON.stringify({
        Version: 1,
        AccessKeyId: keys.AccessKeyId,
        SecretAccessKey: keys.SecretAccessKey,
        ...(keys.SessionToken ? { SessionToken: keys.SessionToken } : {}),
        // Minted keys carry STS's own Expiration; stored ones end, for the SDK, with the grant.
        Expiration: keys.Expiration ?? expires,
      }) + '\n',
    );
  }
}
