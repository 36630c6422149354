import { execFile } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import type { Socket } from 'node:net';

/**
 * Who is on the other end of a Unix socket connection, and whether that process belongs to an
 * agent session. Linux only: Node exposes no SO_PEERCRED, so the peer is found the way `ss`
 * finds it, from the kernel's socket diagnostics (the peer's socket inode and the process that
 * holds it). Limits are written down in docs/security-model.md.
 */
export const PEER_LOOKUP_SUPPORTED = process.platform === 'linux';

/** Inode of our end of the connection, from /proc/self/fd. */
function socketInode(socket: Socket): string | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) return undefined;
  try {
    return /socket:\[(\d+)\]/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
  } catch {
    return undefined;
  }
}

/** The pid of the process at the other end of `socket`, or undefined if it cannot be told. */
export function peerPid(socket: Socket): Promise<number | undefined> {
  if (!PEER_LOOKUP_SUPPORTED) return Promise.resolve(undefined);
  const inode = socketInode(socket);
  if (!inode) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    execFile('ss', ['-xpnH'], { maxBuffer: 64 * 1024 * 1024, timeout: 5000 }, (error, stdout) => {
      if (error) return resolve(undefined);
      for (const line of stdout.split('\n')) {
        // u_str ESTAB 0 0 <local path or *> <local inode> <peer path or *> <peer inode> users:(("name",pid=N,fd=M))
        const fields = line.trim().split(/\s+/);
        if (fields[7] !== inode) continue;
        const pid = /pid=(\d+)/.exec(line)?.[1];
        return resolve(pid ? Number(pid) : undefined);
      }
      resolve(undefined);
    });
  });
}

/** Parent pid from /proc/<pid>/stat (the command name may hold spaces and parentheses). */
export function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(fields[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The real, effective, saved and filesystem uids of a process (from /proc/<pid>/status), and when
 * it started (/proc/<pid>/stat field 22, clock ticks since boot): with the pid, the start time
 * names one process even after the pid is reused. Undefined when the process is gone or unreadable.
 */
export function processOwner(pid: number): { uids: number[]; start: string } | undefined {
  try {
    const uids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    if (!uids || !start) return undefined;
    return { uids: uids.slice(1, 5).map(Number), start };
  } catch {
    return undefined;
  }
}

/** `pid` and its ancestors up to init. */
export function ancestry(pid: number): number[] {
  const chain: number[] = [];
  let current: number | undefined = pid;
  for (let i = 0; i < 256 && current !== undefined && current > 0; i++) {
    chain.push(current);
    if (current === 1) break;
    current = parentPid(current);
  }
  return chain;
}

/** Whether the process's environment carries a keyward session (it was started inside one). */
export function hasSessionEnvironment(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`).includes('KEYWARD_SESSION=');
  } catch {
    return false;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Finds the local processes behind loopback TCP connections to one of our ports (the proxy's
 * clients). Lookups that arrive together share one read of the kernel's socket table, so a burst
 * of new connections costs one `ss` run, not one each.
 */
export class TcpPeerResolver {
  private waiting = new Map<number, ((pid: number | undefined) => void)[]>();
  private running = false;

  constructor(private readonly serverPort: () => number) {}

  lookup(socket: Socket): Promise<number | undefined> {
    const port = socket.remotePort;
    if (!PEER_LOOKUP_SUPPORTED || !port) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const list = this.waiting.get(port) ?? [];
      list.push(resolve);
      this.waiting.set(port, list);
      if (!this.running) setImmediate(() => this.run());
    });
  }

  private run(): void {
    if (this.running || this.waiting.size === 0) return;
    this.running = true;
    const batch = this.waiting;
    this.waiting = new Map();
    execFile('ss', ['-tnpH', 'state', 'established', `( dport = :${this.serverPort()} )`], { timeout: 5000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout) => {
      const pids = new Map<number, number>();
      if (!error) {
        for (const line of stdout.split('\n')) {
          // Recv-Q Send-Q Local:Port Peer:Port users:(("curl",pid=N,fd=M))
          const fields = line.trim().split(/\s+/);
          const local = Number(/:(\d+)$/.exec(fields[2] ?? '')?.[1]);
          const pid = /pid=(\d+)/.exec(line)?.[1];
          if (local && pid) pids.set(local, Number(pid));
        }
      }
      for (const [port, resolvers] of batch) for (const r of resolvers) r(pids.get(port));
      this.running = false;
      if (this.waiting.size > 0) setImmediate(() => this.run());
    });
  }
}
