import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base.js';

export default class Migrate extends BaseCommand {
  static override summary = 'Move found keys into the vault and rewrite the files that held them.';
  static override description = `Without paths, migrate looks where \`keyward scan home --project .\` looks (your credential and agent config files, plus this project) and shows one screen per key: move it to the vault (name and provider profile are yours to choose), skip it, or accept it into the baseline; then every change, before anything is written.

Each secret is stored in the vault (read back and compared) before its file is rewritten; every rewrite is atomic and backed up (sealed with a key kept in the vault) in a journal, so a crash leaves each file either as it was or fully migrated, and \`keyward migrate undo\` puts everything back byte for byte.

How each file keeps working: .env values become keyward:// references (run with keyward run --env-file); MCP servers start through keyward run with the key released into their environment; ~/.aws/credentials gets credential_process; .npmrc reads \${NPM_TOKEN}; .pypirc leaves the password to TWINE_PASSWORD; .git-credentials and .netrc hand git to keyward's credential helper; Docker's config uses docker-credential-keyward. Keys found only in git history or images cannot be rewritten: rotate them (the report says where).

Policy rules for the tools and servers that used each key are added to policy.yaml (shown first).`;
  static override examples = [
    '<%= config.bin %> migrate',
    '<%= config.bin %> migrate .env .mcp.json --dry-run',
    '<%= config.bin %> migrate .env --yes --json',
    '<%= config.bin %> scan . --json > findings.json; <%= config.bin %> migrate --from-report findings.json',
  ];
  static override strict = false;
  static override args = { paths: Args.string({ description: 'Files or directories to migrate.' }) };
  static override flags = {
    'dry-run': Flags.boolean({ description: 'Show the exact change of every file (secrets masked); change nothing.' }),
    yes: Flags.boolean({ char: 'y', description: 'Apply without asking (for scripts).' }),
    json: Flags.boolean({ description: 'Print the result as JSON.' }),
    'from-report': Flags.string({ description: 'Migrate the findings of a keyward scan --json report.', helpValue: 'FILE' }),
    baseline: Flags.string({
      description: 'Baseline file: findings accepted in the wizard are added to it, and findings it holds are not offered.',
      default: '.keyward-baseline.json',
      helpValue: 'FILE',
    }),
    home: Flags.string({ description: 'Home directory to look in when no paths are given (default: yours).', helpValue: 'DIR' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Migrate);
    const { runMigrate } = await import('../../services/migrate/command.js');
    process.exitCode = await runMigrate({
      paths: argv as string[],
      dryRun: flags['dry-run'],
      yes: flags.yes,
      json: flags.json,
      fromReport: flags['from-report'],
      baseline: flags.baseline,
      home: flags.home,
    });
  }
}
