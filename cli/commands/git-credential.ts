import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base.js';

export default class GitCredential extends BaseCommand {
  static override summary = 'A git credential helper: answers `get` from the vault through a release grant.';
  static override description = `Configured per host (keyward migrate does it), for example:

  git config --global credential.https://github.com.helper '!keyward git-credential --entry git-github.com'

For "get", git writes protocol/host/username lines on stdin; keyward answers username= and password= from the vault entry (a JSON object {"username", "password"} or a bare token), through a release grant for the agent git-credential:<host> that policy.yaml decides on. "store" and "erase" are accepted and ignored: the vault entry stays the source of truth (change it with keyward vault).`;
  static override args = { operation: Args.string({ required: true, options: ['get', 'store', 'erase'] }) };
  static override flags = {
    entry: Flags.string({ required: true, description: 'Vault entry holding the credential.' }),
    permission: Flags.string({
      description:
        "For a GitHub App entry: the scope of the minted installation token, e.g. repo:read (the repository comes from git's path, so set credential.useHttpPath) or repo:read:acme/app.",
      helpValue: 'PERMISSION',
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(GitCredential);
    const { readStdin } = await import('../prompt.js');
    const input = await readStdin();
    if (args.operation !== 'get') return;
    const fields = Object.fromEntries(
      input
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const { releaseSecret } = await import('../services/release.js');
    // repo:read + path=acme/app.git → repo:read:acme/app (a token for that repository only).
    let permission = flags.permission;
    const repo = fields.path?.replace(/\.git$/, '').replace(/^\/+|\/+$/g, '');
    if (permission && /^repo:(read|write)$/.test(permission) && repo) permission = `${permission}:${repo}`;
    const { value } = await releaseSecret(`git-credential:${fields.host ?? 'unknown'}`, flags.entry, { ttl: '1m', permission });
    // GitHub takes an installation token with the user name x-access-token (and a PAT with any).
    let username = fields.username ?? (permission ? 'x-access-token' : undefined);
    let password = value;
    try {
      const parsed = JSON.parse(value) as { username?: string; password?: string };
      if (parsed && typeof parsed === 'object' && parsed.password) {
        password = parsed.password;
        username = parsed.username ?? username;
      }
    } catch {
      /* a bare token */
    }
    process.stdout.write(`${username ? `username=${username}\n` : ''}password=${password}\n`);
  }
}
