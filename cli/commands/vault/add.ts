import { Args, Flags } from '@oclif/core';
import { readFileSync } from 'node:fs';
import { BaseCommand } from '../../base.js';
import { KeywardError } from '../../../kernel/errors.js';

export default class VaultAdd extends BaseCommand {
  static override summary = 'Store a credential in the vault (the OS keychain).';
  static override description =
    'The value is read from a hidden prompt on a terminal, from standard input when it is piped, from an environment variable (--from-env) or a file (--from-file): never from the command line, where it would land in shell history and process lists.';
  static override examples = [
    '<%= config.bin %> vault add openai --provider openai',
    'op read op://dev/openai/key | <%= config.bin %> vault add openai --provider openai',
    '<%= config.bin %> vault add github --provider github --from-env GITHUB_TOKEN',
    '<%= config.bin %> vault add gh-app --provider github --from-file app.pem -a appId=123456 -a installation=7890',
    '<%= config.bin %> vault add prod-db --provider postgres --from-env ADMIN_DATABASE_URL',
  ];
  static override enableJsonFlag = true;
  static override args = { name: Args.string({ required: true, description: 'Entry name, used in grants (e.g. openai, github, prod-db).' }) };
  static override flags = {
    provider: Flags.string({
      char: 'p',
      required: true,
      description: 'Provider profile: openai, anthropic, github, gitlab, slack, stripe, huggingface, linear, notion, generic, or one of yours.',
    }),
    'from-env': Flags.string({ description: 'Read the value from this environment variable.', helpValue: 'VAR', exclusive: ['from-file'] }),
    'from-file': Flags.string({ description: 'Read the value from this file (trailing newline removed).', helpValue: 'PATH', exclusive: ['from-env'] }),
    replace: Flags.boolean({ description: 'Replace an existing entry of that name.' }),
    attribute: Flags.string({
      char: 'a',
      multiple: true,
      helpValue: 'NAME=VALUE',
      description: 'An attribute of the entry (not secret): e.g. appId=123 and installation=456 for a GitHub App, roleArn=... for AWS, readRole=... for PostgreSQL.',
    }),
  };

  async run() {
    const { args, flags } = await this.parse(VaultAdd);
    // A misspelled provider would be stored and fail only at the first grant: refuse it now.
    const { checkProvider } = await import('../../services/providers.js');
    checkProvider(flags.provider);
    let value: string;
    let source: string;
    if (flags['from-env']) {
      const v = process.env[flags['from-env']];
      if (!v) throw new KeywardError(`environment variable ${flags['from-env']} is not set or empty`);
      value = v;
      source = `env:${flags['from-env']}`;
    } else if (flags['from-file']) {
      try {
        value = readFileSync(flags['from-file'], 'utf8').replace(/\r?\n$/, '');
      } catch (error) {
        throw new KeywardError(`cannot read ${flags['from-file']}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
      source = `file:${flags['from-file']}`;
    } else if (process.stdin.isTTY) {
      const { promptHidden } = await import('../../prompt.js');
      value = await promptHidden(`Value for ${args.name} (input hidden): `);
      source = 'prompt';
    } else {
      const { readStdin } = await import('../../prompt.js');
      value = await readStdin();
      source = 'stdin';
    }
    if (!value) throw new KeywardError('the value is empty; nothing stored');
    const attributes: Record<string, string> = {};
    for (const a of flags.attribute ?? []) {
      const eq = a.indexOf('=');
      if (eq < 1) throw new KeywardError(`--attribute ${a} is not NAME=VALUE`, { hint: 'For example --attribute appId=123456' });
      attributes[a.slice(0, eq)] = a.slice(eq + 1);
    }
    const { ensureDaemon, call } = await import('../../daemon-client.js');
    await ensureDaemon();
    const r = await call<{ entry: { name: string; provider: string } }>('admin', 'POST', '/v1/vault', {
      name: args.name,
      provider: flags.provider,
      value,
      source,
      replace: flags.replace,
      ...(flags.attribute?.length ? { attributes } : {}),
    });
    this.log(`Stored ${r.entry.name} (${r.entry.provider}) in the vault.`);
    return r.entry;
  }
}
