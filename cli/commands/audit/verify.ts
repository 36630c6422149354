import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base.js';

export default class AuditVerify extends BaseCommand {
  static override summary = "Check the audit log's hash chain; report the first tampered, removed or reordered record.";
  static override description = 'Exit codes: 0 intact, 1 broken (the first problem is named), 2 error.';
  static override enableJsonFlag = true;
  static override flags = {
    'allow-missing-head': Flags.boolean({
      description: 'Accept a log without its head file (audit.head): records cut from the end then go unnoticed. Without it, a missing head fails the check.',
    }),
  };

  async run() {
    const { flags } = await this.parse(AuditVerify);
    const { verifyAuditLog } = await import('../../../daemon/audit/log.js');
    const { daemonFiles } = await import('../../../daemon/files.js');
    const files = daemonFiles();
    const result = verifyAuditLog(files.audit, files.auditHead, { allowMissingHead: flags['allow-missing-head'] });
    if (!this.jsonEnabled()) {
      if (result.ok) this.log(`OK: ${result.records} records, hash chain intact (${files.audit}).`);
      else if (result.problem!.kind === 'head-missing') {
        this.log(`BROKEN: ${result.problem!.message}. The ${result.records} records in it are intact.`);
        this.log('If you removed the head yourself, run keyward audit verify --allow-missing-head; a running daemon writes a new one with its next record.');
      } else this.log(`BROKEN: ${result.problem!.message}. The ${result.records} records before it are intact.`);
      for (const note of result.notes) this.log(`note: ${note}`);
    }
    if (!result.ok) process.exitCode = 1;
    return result;
  }
}
