import { safeText } from '../../kernel/terminal.js';
import { closeSync, openSync, readSync, statSync, watch } from 'node:fs';
import type { AuditRecord } from '../../daemon/audit/log.js';
import { daemonFiles } from '../../daemon/files.js';
import { globMatch } from '../../daemon/policy/policy.js';

export interface AuditQuery {
  agent?: string;
  event?: string;
  since?: number;
  follow?: boolean;
  json?: boolean;
}

function matches(r: AuditRecord, q: AuditQuery): boolean {
  if (q.agent && !globMatch(q.agent, r.agent ?? '')) return false;
  if (q.event && !globMatch(q.event, r.event)) return false;
  if (q.since && Date.parse(r.time) < q.since) return false;
  return true;
}

/** One line for people: time, event, who (delegation chain), what, outcome; agent-written text escaped. */
export function formatRecord(r: AuditRecord): string {
  return safeText(formatRaw(r));
}

function formatRaw(r: AuditRecord): string {
  const who = r.chain?.length ? r.chain.join(' → ') : (r.agent ?? '');
  const finding = r.event === 'finding' && r.detail ? `${String(r.detail.rule)} in ${String(r.detail.file)}:${String(r.detail.line)}` : '';
  const what = [r.credential, r.permission, r.resource].filter(Boolean).join(':') || finding;
  const downstream = r.downstream ? `${r.downstream.method} ${r.downstream.host}${r.downstream.path}${r.downstream.status ? ` → ${r.downstream.status}` : ''}` : '';
  const outcome = [r.decision, r.reason].filter(Boolean).join(': ');
  return [r.time.replace('T', ' ').slice(0, 19), r.event.padEnd(16), who, what, downstream, r.grant ? `[${r.grant}]` : '', outcome ? `— ${outcome}` : '']
    .filter(Boolean)
    .join('  ');
}

/** Prints matching records; with `follow`, keeps printing appended ones until interrupted. */
export async function showAudit(q: AuditQuery, print: (line: string) => void): Promise<void> {
  const file = daemonFiles().audit;
  let offset = 0;
  let rest = '';
  const all: AuditRecord[] = [];
  const readMore = () => {
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      return;
    }
    if (size < offset) offset = 0; // replaced
    if (size === offset) return;
    const fd = openSync(file, 'r');
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    closeSync(fd);
    offset = size;
    const text = rest + buf.toString('utf8');
    const lines = text.split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (!line) continue;
      let r: AuditRecord;
      try {
        r = JSON.parse(line) as AuditRecord;
      } catch {
        continue;
      }
      if (!matches(r, q)) continue;
      if (q.json && !q.follow) all.push(r);
      else print(q.json ? line : formatRecord(r));
    }
  };
  readMore();
  if (q.json && !q.follow) {
    print(JSON.stringify(all, null, 2));
    return;
  }
  if (!q.follow) return;
  await new Promise<void>((resolve) => {
    const dir = file.slice(0, file.lastIndexOf('/'));
    const watcher = watch(dir, () => readMore());
    const poll = setInterval(readMore, 1000);
    const stop = () => {
      watcher.close();
      clearInterval(poll);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
