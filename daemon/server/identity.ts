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
