import { BaseCommand } from '../../base.js';
import { plural } from '../../../kernel/units.js';

export default class MigrateList extends BaseCommand {
  static override summary = 'List migrations, newest first: id, status, files, vault entries.';
  static override enableJsonFlag = true;

  async run() {
    const { JournalStore } = await import('../../services/migrate/journal.js');
    const list = JournalStore.list().map((j) => ({ id: j.id, created: j.created, status: j.status, files: j.files.map((f) => f.path), entries: j.entries.map((e) => e.name) }));
    if (!this.jsonEnabled()) {
      if (list.length === 0) this.log('No migrations yet.');
      for (const m of list) this.log(`${m.id}  ${m.status.padEnd(8)} ${m.created.slice(0, 19).replace('T', ' ')}  ${plural(m.files.length, 'file')}: ${m.files.join(', ')}`);
    }
    return list;
  }
}
