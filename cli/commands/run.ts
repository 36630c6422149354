import { Flags } from '@oclif/core';
import { BaseCommand } from '../base.js';
import { KeywardError } from '../../kernel/errors.js';

export default class Run extends BaseCommand {
  static override summary = 'Run an agent with short-lived, task-scoped grants instead of long-lived keys.';
  static override description = `Opens a session for the agent (the OS user delegates; inside another \`keyward run\` the session is a sub-agent of that one), obtains each grant (waiting for a person where the policy says ask), then starts the command with the grants' environment and KEYWARD_AGENT_SOCK / KEYWARD_SESSION. Signals are forwarded; when the command exits its session ends and its grants are revoked.

Grants: --grant credential:permission[:resource], e.g. openai:chat, github:repo:read:acme/app. The agent gets a placeholder token (kwg_…) where the SDK reads its key; the real key never enters its environment.
Release: --env NAME=keyward://entry puts the secret itself into NAME, for what cannot be proxied (policy can forbid it). \${NAME} in the command is filled with it only with --secret-in-argv, since argv is visible to every user of the machine.

Exit code: the command's own, or 125 when keyward could not set up the run (daemon, grant denied), 126 when the command cannot be executed, 127 when it is not found.`;
  static override examples = [
    '<%= config.bin %> run --agent claude-code --task "fix flaky test" --grant openai:chat --grant github:repo:read:acme/app --ttl 30m -- claude',
    '<%= config.bin %> run --agent mcp:postgres --env DATABASE_URL=keyward://prod-db -- npx some-mcp-server',
  ];
  static override usage = 'run -a AGENT [-t TASK] [-g SPEC...] [-e NAME=REF...] [--ttl DURATION] [--env-file FILE] -- COMMAND [ARGS...]';
  static override strict = false;
  static override flags = {
    agent: Flags.string({ char: 'a', required: true, description: 'Who the agent is (policy rules match it), e.g. claude-code, cursor, mcp:github.' }),
    task: Flags.string({ char: 't', description: 'What it is doing, for consent prompts and the audit log.' }),
    // One value per flag (--grant a --grant b): a word after it is not taken as another grant,
    // so a command given without `--` can be recognised and explained.
    grant: Flags.string({
      char: 'g',
      multiple: true,
      multipleNonGreedy: true,
      description: 'A grant to obtain before starting: credential:permission[:resource].',
      helpValue: 'SPEC',
    }),
    env: Flags.string({ char: 'e', multiple: true, multipleNonGreedy: true, description: 'NAME=keyward://entry: release the secret itself into NAME.', helpValue: 'NAME=REF' }),
    ttl: Flags.string({ description: 'How long the grants last (default 15m, capped by policy maxTtl).', helpValue: 'DURATION' }),
    'daemon-env': Flags.string({
      multiple: true,
      helpValue: 'NAME=PATH',
      description: 'Where the daemon is, whatever the environment says: KEYWARD_HOME or XDG_CONFIG_HOME, XDG_STATE_HOME, XDG_RUNTIME_DIR (keyward migrate writes these).',
    }),
    'secret-in-argv': Flags.boolean({
      description: 'Allow ${NAME} in the command to be filled with a value released by --env. Every user of the machine can then read it (ps).',
    }),
    'env-file': Flags.string({ description: 'A dotenv file: keyward:// values are released (as with --env), the others set as they are.', helpValue: 'FILE' }),
  };

  async run(): Promise<void> {
    // Everything after the first `--` is the command, untouched: oclif's own handling of `--`
    // reorders tokens that look like flags, which would mangle the agent's command line.
    const raw = [...this.argv];
    const split = raw.indexOf('--');
    const { flags, argv: rest } = await this.parse(Run, split === -1 ? raw : raw.slice(0, split));
    if (split === -1 && rest.length > 0) {
      // Without `--`, keyward would read the command's own flags as its own: ask for `--`.
      const words = rest as string[];
      const own = [...raw];
      for (const word of words) own.splice(own.indexOf(word), 1);
      throw new KeywardError(`the command to run (${words.join(' ')}) must come after --`, {
        exitCode: 125,
        hint: `Everything before -- is read as keyward's own flags. Run: keyward run ${[...own, '--', ...words].map(shellWord).join(' ')}`,
      });
    }
    if (split !== -1 && rest.length > 0) {
      throw new KeywardError(`unexpected argument${rest.length === 1 ? '' : 's'} before --: ${rest.join(' ')}`, {
        exitCode: 125,
        hint: "Before -- come keyward run's flags (see keyward run --help); the command and its arguments go after --.",
      });
    }
    const argv = split === -1 ? [] : raw.slice(split + 1);
    if (argv.length === 0) {
      throw new KeywardError(split === -1 ? 'no command to run' : 'no command after --', {
        exitCode: 125,
        hint: 'Give it after --, e.g. keyward run --agent claude-code --grant openai:chat -- claude',
      });
    }
    const { runAgent } = await import('../services/run.js');
    const { safeMultiline } = await import('../../kernel/terminal.js');
    // keyward's messages quote what the daemon and the agent's request carry: escaped.
    const stderr = { write: (text: string | Uint8Array) => process.stderr.write(safeMultiline(String(text))) } as NodeJS.WritableStream;
    process.exitCode = await runAgent({
      agent: flags.agent,
      task: flags.task,
      grants: flags.grant ?? [],
      env: flags.env ?? [],
      envFile: flags['env-file'],
      ttl: flags.ttl,
      command: argv as string[],
      stderr,
      daemonEnv: flags['daemon-env'],
      secretsInArgv: flags['secret-in-argv'],
    });
  }
}

/** A word as a POSIX shell reads it back: quoted when it holds anything but safe characters. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
