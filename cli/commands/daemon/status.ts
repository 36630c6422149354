import { BaseCommand } from '../../base.js';
import { plural } from '../../../kernel/units.js';

export default class DaemonStatus extends BaseCommand {
  static override summary = 'Show whether the daemon runs, and its sockets, vault, sessions and grants.';
  static override description = 'Exit code 0 when it runs, 1 when it does not.';
  static override enableJsonFlag = true;

  async run() {
    const { daemonStatus } = await import('../../services/daemon.js');
    const status = await daemonStatus();
    if (!this.jsonEnabled()) {
      if (!status.running) this.log('keyward daemon: not running (start it with `keyward daemon start`)');
      else {
        const s = status.detail as Record<string, unknown> & {
          sockets: { agent: string; admin: string };
          policy: { rules: number; defaults: string };
          proxy: string | null;
          proxyPort?: { configured: number; fallback: boolean };
          watch?: { paths: string[]; files: number; directories: number; new: number; scanning: boolean };
          vaultLocked?: boolean;
          callerIdentity?: { mode: string; unix: string | null; tcp: string | null };
        };
        this.log(`keyward daemon: running (pid ${s.pid}, version ${s.version}, since ${s.started})`);
        this.log(`  sockets   ${s.sockets.agent}, ${s.sockets.admin}`);
        this.log(`  proxy     ${s.proxy ?? 'not running'}`);
        if (s.proxyPort?.fallback) {
          this.log(`            port ${s.proxyPort.configured} was taken: MCP clients set up for it cannot reach keyward until it is free and the daemon restarted`);
        }
        this.log(`  vault     ${s.vault}${s.vaultLocked ? ': locked (open it with `keyward vault unlock`)' : ''}`);
        if (s.callerIdentity) {
          const how = [s.callerIdentity.unix && `sockets ${s.callerIdentity.unix}`, s.callerIdentity.tcp && `proxy ${s.callerIdentity.tcp}`].filter(Boolean).join(', ');
          const mode =
            s.callerIdentity.mode === 'kernel'
              ? `from the kernel (${how})`
              : s.callerIdentity.mode === 'off'
                ? 'OFF: callers are not identified (security.requireCallerIdentity: false in config.yaml)'
                : 'unavailable on this platform: admin calls and tokens are refused (fail closed)';
          this.log(`  callers   ${mode}`);
        }
        this.log(`  policy    ${plural(s.policy.rules, 'rule')}, default ${s.policy.defaults}`);
        this.log(`  now       ${s.sessions} sessions, ${s.grants} grants, ${s.pending} pending consent, ${s.approvers} approver(s) connected`);
        if (s.watch) {
          this.log(
            `  watch     ${s.watch.paths.join(', ')}: ${s.watch.scanning ? 'first scan running' : `${plural(s.watch.files, 'file')} in ${plural(s.watch.directories, 'directory', 'directories')}`}, ${plural(s.watch.new, 'new finding', 'new findings')} since start`,
          );
        }
      }
    }
    if (!status.running) process.exitCode = 1;
    return status;
  }
}
