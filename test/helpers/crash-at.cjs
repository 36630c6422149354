// Preloaded into `keyward migrate` (node --require) by the crash test in
// test/integration/migrate.test.ts: kills the process with SIGKILL right after the migration
// journal records a chosen point of its progress. The journal is rewritten atomically (a temp
// file renamed over journal.json) at every step, so each rename of a journal.json is a point:
// after it, the process is killed before it takes another step.
//
// KEYWARD_CRASH_AT names the point, as `<what>=<count>`:
//   files.backed-up=N   N files have their sealed backup (and no entry is in the vault yet)
//   entries.stored=N    N vault entries are stored (and no file is rewritten yet)
//   files.written=N     N files are rewritten
//   status=applied      the journal says applied
// The point must be reached exactly; if the migration never reaches it, it runs to its end and
// the test sees an exit code instead of SIGKILL.
'use strict';
const fs = require('node:fs');
const { syncBuiltinESMExports } = require('node:module');
const { basename } = require('node:path');

const spec = process.env.KEYWARD_CRASH_AT;
if (spec) {
  const [what, want] = spec.split('=');
  const count = (list, state) => list.filter((x) => x.state === state).length;
  const reached = (j) => {
    switch (what) {
      case 'files.backed-up':
        return count(j.files, 'backed-up') === Number(want) && count(j.entries, 'stored') === 0;
      case 'entries.stored':
        return count(j.entries, 'stored') === Number(want) && count(j.files, 'written') === 0;
      case 'files.written':
        return count(j.files, 'written') === Number(want);
      case 'status':
        return j.status === want;
      default:
        throw new Error(`KEYWARD_CRASH_AT: unknown point ${spec}`);
    }
  };
  const rename = fs.renameSync;
  fs.renameSync = function renameSync(from, to) {
    rename(from, to);
    if (basename(String(to)) !== 'journal.json') return;
    if (reached(JSON.parse(fs.readFileSync(to, 'utf8')))) process.kill(process.pid, 'SIGKILL');
  };
  // The compiled CLI imports renameSync by name from node:fs (ES modules): update those bindings.
  syncBuiltinESMExports();
}
