import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base.js';

export default class MigrateUndo extends BaseCommand {
  static override summary = 'Put every file and replaced vault entry of a migration back exactly as it was (the latest, or the one named).';
  static override enableJsonFlag = true;
  static override args = { id: Args.string({ description: 'Migration id (keyward migrate list).' }) };
  static override flags = { force: Flags.boolean({ description: 'Also restore files and vault entries that changed again after the migration.' }) };

  async run() {
    const { args, flags } = await this.parse(MigrateUndo);
    const { undoMigration } = await import('../../services/migrate/apply.js');
    const r = await undoMigration(args.id, { force: flags.force });
    if (!this.jsonEnabled()) {
      for (const f of r.restored) this.log(`restored ${f}`);
      for (const f of r.unchanged) this.log(`unchanged ${f}`);
      for (const e of r.entries) this.log(`restored vault entry ${e} as it was before the migration`);
      for (const h of r.gitHelpers) this.log(`removed the git credential helper for ${h}`);
      for (const e of r.helperErrors) this.log(`NOT removed the git credential helper for ${e}`);
      for (const f of r.conflicts) this.log(`NOT restored ${f}: it changed after the migration (use --force to restore it anyway)`);
      for (const e of r.entryConflicts) this.log(`NOT restored vault entry ${e}: it changed after the migration (use --force to restore it anyway)`);
      const partly = r.conflicts.length || r.entryConflicts.length || r.helperErrors.length;
      this.log(
        partly
          ? `Migration ${r.id} is partly undone.`
          : `Migration ${r.id} is undone. The vault entries it added and its policy rules stay; remove them with keyward vault remove and policy.yaml.`,
      );
    }
    if (r.conflicts.length || r.entryConflicts.length || r.helperErrors.length) process.exitCode = 1;
    return r;
  }
}
