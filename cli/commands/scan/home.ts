import { BaseCommand } from '../../base.js';
import { oclifFlags } from '../../oclif-flags.js';
import { HOME_FLAGS, type HomeFlags } from '../../scan-flags.js';
import { executeHomeScan } from '../../services/scan.js';

export default class ScanHome extends BaseCommand {
  static override summary = 'Find secrets where agents keep them: credential files, MCP and agent configs, shell histories.';
  static override description = `Looks at the known credential and agent-config locations of your home directory (AWS, npm, PyPI, netrc, Docker, Kubernetes, GitHub CLI, git credentials, SSH keys, shell histories; Claude Desktop, Claude Code, Cursor, VS Code, Windsurf, Gemini CLI, Codex, Continue, Zed), each parsed in its format so that a finding names the key that holds it. --project adds .env files, .npmrc and project MCP/agent configs found under a directory. The report lists every location it looked at; see docs/locations.md.

Exit codes: 0 no findings, 1 findings, 2 error or partial scan (a file could not be read or is not valid in its format).`;
  static override examples = ['<%= config.bin %> scan home', '<%= config.bin %> scan home --project ~/code', '<%= config.bin %> scan home --json'];
  static override flags = oclifFlags(HOME_FLAGS);

  async run(): Promise<void> {
    const { flags } = await this.parse(ScanHome);
    process.exitCode = await executeHomeScan(flags as HomeFlags, {
      cwd: process.cwd(),
      stdout: process.stdout,
      stderr: process.stderr,
      stdin: process.stdin,
      env: process.env,
    });
  }
}
