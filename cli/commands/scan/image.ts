import { Args } from '@oclif/core';
import { BaseCommand } from '../../base.js';
import { oclifFlags } from '../../oclif-flags.js';
import { IMAGE_FLAGS, type ImageFlags } from '../../scan-flags.js';
import { executeImageScan } from '../../services/scan.js';

export default class ScanImage extends BaseCommand {
  static override summary = 'Find secrets in container images: every layer, the config and the build history.';
  static override description = `Reads an OCI image layout (DIR, DIR:TAG, DIR@DIGEST), an OCI or docker archive (FILE, FILE:TAG) or an image in a registry (registry://HOST[:PORT]/NAME[:TAG|@DIGEST]). Layers are streamed, never unpacked to disk; gzip, zstd and plain layers are read. A file deleted by a later layer is still in the image and is reported, saying which layer deleted it. A layer shared by several images is scanned once. The .keyward.yaml of the directory it runs in does not apply to an image (it is not that repository's content); a config given with --config does.

Exit codes: 0 no findings, 1 findings, 2 error or partial scan (an image, a layer or a blob could not be read).`;
  static override examples = [
    '<%= config.bin %> scan image ./layout:v1',
    '<%= config.bin %> scan image app.tar',
    '<%= config.bin %> scan image registry://127.0.0.1:5000/app:latest --insecure --authfile auth.json',
    '<%= config.bin %> scan image registry://ghcr.io/acme/app:1.2 --platform linux/arm64 --json',
  ];
  static override strict = false;
  static override args = {
    image: Args.string({ description: 'Image to scan (several may be given).', required: true }),
  };
  static override flags = oclifFlags(IMAGE_FLAGS);

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ScanImage);
    process.exitCode = await executeImageScan(argv as string[], flags as ImageFlags, {
      cwd: process.cwd(),
      stdout: process.stdout,
      stderr: process.stderr,
      stdin: process.stdin,
      env: process.env,
    });
  }
}
