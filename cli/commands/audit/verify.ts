import { BaseCommand } from '../../base.js';

export default class AuditVerify extends BaseCommand {
  static override summary = "Check the audit log's hash chain; report the first tampered, removed or reordered record.";
  static override description = 'Exit codes: 0 intact, 1 broken (the first problem is named), 2 error.';
  static override enableJsonFlag = true;

  async run() {
    const { verifyAuditLog } = await import('../../../daemon/audit/log.js');
    const { daemonFiles } = await import('../../../daemon/files.js');
    const files = daemonFiles();
    const result = verifyAuditLog(files.audit, files.auditHead);
    if (!this.jsonEnabled()) {
      if (result.ok) this.log(`OK: ${result.records} records, hash chain intact (${files.audit}).`);
      else this.log(`BROKEN: ${result.problem!.message}. The ${result.records} records before it are intact.`);
      for (const note of result.notes) this.log(`note: ${note}`);
    }
    if (!result.ok) process.exitCode = 1;
    return result;
  }
}
