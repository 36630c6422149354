import { Args } from '@oclif/core';
import { BaseCommand } from '../base.js';
import { oclifFlags } from '../oclif-flags.js';
import { SCAN_FLAGS, type ScanFlags } from '../scan-flags.js';
import { executeScan } from '../services/scan.js';

export default class Scan extends BaseCommand {
  static override summary = 'Find long-lived secrets in files, archives, staged changes or git history (and: scan home, scan image).';
  static override description = `Scans a working tree (tracked and untracked files that git does not ignore), a single file, standard input (-), the staged changes (--staged) or every commit (--history). Zip, tar and tar.gz archives are opened, nested to --archive-depth; base64 and percent-encoded content is decoded and scanned again to --decode-depth.

\`keyward scan home\` looks at credential files and MCP/agent configs; \`keyward scan image\` at container images.

Exit codes: 0 no findings, 1 findings, 2 error or partial scan (something could not be read).`;
  static override examples = [
    '<%= config.bin %> scan .',
    '<%= config.bin %> scan --staged',
    '<%= config.bin %> scan ./release.zip',
    '<%= config.bin %> scan --history --since v1.2.0',
    '<%= config.bin %> scan . --format sarif --output keyward.sarif',
    '<%= config.bin %> scan . --write-baseline .keyward-baseline.json',
    'cat build.log | <%= config.bin %> scan -',
  ];
  static override args = {
    target: Args.string({ description: 'Directory, file, or - for standard input.', default: '.' }),
  };
  static override flags = oclifFlags(SCAN_FLAGS);

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Scan);
    process.exitCode = await executeScan(args.target, flags as ScanFlags, {
      cwd: process.cwd(),
      stdout: process.stdout,
      stderr: process.stderr,
      stdin: process.stdin,
      env: process.env,
    });
  }
}
