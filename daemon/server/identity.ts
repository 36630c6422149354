import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import type { Socket } from 'node:net';

/**
 * Who is on the other end of a connection, and whether that process belongs to an agent session.
 * Everything here comes from the kernel, never from another program's text output:
 *
 * - Unix sockets: the credentials the kernel recorded when the peer connected, through
 *   getsockopt(SO_PEERCRED) on Linux and LOCAL_PEERPID + getpeereid() on macOS, called through
 *   koffi (an FFI library that ships its binaries in its npm package). It is loaded by the daemon
 *   only, at start (`loadPeerCredentials`).
 * - Loopback TCP (the proxy): the connection's 4-tuple is looked up in /proc/net/tcp{,6}, which
 *   gives the client socket's inode and owner uid; the process holding that inode is found in
 *   /proc/<pid>/fd. Linux only.
 * - Ancestry: parent pids from /proc/<pid>/stat (Linux) or proc_pidinfo (macOS), up to pid 1,
 *   with no depth limit.
 *
 * Limits are written down in docs/security-model.md.
 */

/** What the kernel says about a connected peer. */
export interface PeerCredentials {
  pid: number;
  uid: number;
}

interface NativeCalls {
  /** The mechanism, for `daemon status`. */
  mechanism: string;
  peer(fd: number): PeerCredentials | undefined;
  parent?(pid: number): number | undefined;
}

let native: NativeCalls | undefined;
let loadError: string | undefined;

/** Which mechanisms this daemon uses to identify callers (null: none on this platform). */
export function identityMechanisms(): { unix: string | null; tcp: string | null; unavailable?: string } {
  return { unix: native?.mechanism ?? null, tcp: tcpLookupSupported() ? '/proc/net/tcp' : null, ...(loadError ? { unavailable: loadError } : {}) };
}

/** Whether Unix-socket callers can be identified (loadPeerCredentials succeeded). */
export function unixPeerSupported(): boolean {
  return native !== undefined;
}

export function tcpLookupSupported(): boolean {
  return PEER_LOOKUP_SUPPORTED;
}

/** Whether the proxy can tell which process is behind a loopback TCP connection (Linux: /proc). */
export const PEER_LOOKUP_SUPPORTED = process.platform === 'linux';

/**
 * Loads the native calls. Returns undefined when this platform offers none (the daemon then fails
 * closed on admin calls unless config.yaml turns the check off).
 */
export function loadPeerCredentials(): NativeCalls | undefined {
  if (native || loadError) return native;
  try {
    const require = createRequire(import.meta.url);
    const koffi = require('koffi') as typeof import('koffi');
    if (process.platform === 'linux') native = linuxCalls(koffi);
    else if (process.platform === 'darwin') native = darwinCalls(koffi);
    else loadError = `no peer credential call is known for ${process.platform}`;
  } catch (error) {
    loadError = `the native peer credential call could not be loaded: ${error instanceof Error ? error.message : String(error)}`;
  }
  return native;
}

function loadFirst(koffi: typeof import('koffi'), names: string[]): ReturnType<typeof koffi.load> {
  let last: unknown;
  for (const name of names) {
    try {
      return koffi.load(name);
    } catch (error) {
      last = error;
    }
  }
  throw last instanceof Error ? last : new Error(String(last));
}

function linuxCalls(koffi: typeof import('koffi')): NativeCalls {
  const libc = loadFirst(koffi, ['libc.so.6', 'libc.so', `libc.musl-${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}.so.1`]);
  const getsockopt = libc.func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *optval, _Inout_ uint32_t *optlen)');
  // SOL_SOCKET and SO_PEERCRED on the architectures Node ships for (x86, ARM, RISC-V).
  const SOL_SOCKET = 1;
  const SO_PEERCRED = 17;
  return {
    mechanism: 'SO_PEERCRED',
    peer(fd) {
      // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
      const buf = Buffer.alloc(12);
      const len = [12];
      if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, buf, len) !== 0 || len[0] < 8) return undefined;
      const pid = buf.readInt32LE(0);
      return pid > 0 ? { pid, uid: buf.readUInt32LE(4) } : undefined;
    },
  };
}

function darwinCalls(koffi: typeof import('koffi')): NativeCalls {
  const libc = koffi.load('/usr/lib/libSystem.B.dylib');
  const getsockopt = libc.func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *optval, _Inout_ uint32_t *optlen)');
  const getpeereid = libc.func('int getpeereid(int fd, _Out_ uint32_t *uid, _Out_ uint32_t *gid)');
  const procPidinfo = libc.func('int proc_pidinfo(int pid, int flavor, uint64_t arg, _Out_ uint8_t *buffer, int size)');
  const SOL_LOCAL = 0;
  const LOCAL_PEERPID = 2;
  // struct proc_bsdinfo (PROC_PIDTBSDINFO = 3) is 136 bytes; pbi_ppid is the fifth uint32.
  const PROC_PIDTBSDINFO = 3;
  const BSDINFO_SIZE = 136;
  return {
    mechanism: 'LOCAL_PEERPID+getpeereid',
    peer(fd) {
      const pidBuf = Buffer.alloc(4);
      const len = [4];
      if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, pidBuf, len) !== 0) return undefined;
      const uid = [0];
      const gid = [0];
      if (getpeereid(fd, uid, gid) !== 0) return undefined;
      const pid = pidBuf.readInt32LE(0);
      return pid > 0 ? { pid, uid: uid[0] } : undefined;
    },
    parent(pid) {
      const buf = Buffer.alloc(BSDINFO_SIZE);
      if (procPidinfo(pid, PROC_PIDTBSDINFO, 0, buf, BSDINFO_SIZE) !== BSDINFO_SIZE) return undefined;
      return buf.readUInt32LE(16);
    },
  };
}

function socketFd(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return fd === undefined || fd < 0 ? undefined : fd;
}

/** The kernel's record of the process at the other end of a Unix socket, or undefined. */
export function unixPeer(socket: Socket): PeerCredentials | undefined {
  const fd = socketFd(socket);
  if (!native || fd === undefined) return undefined;
  try {
    return native.peer(fd);
  } catch {
    return undefined;
  }
}

/** Parent pid from /proc/<pid>/stat (the command name may hold spaces and parentheses). */
export function parentPid(pid: number): number | undefined {
  if (process.platform !== 'linux') return native?.parent?.(pid);
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

/** When a process started (clock ticks since boot, Linux), to tell a pid from its reuse. */
export function processStart(pid: number): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * `pid` and its ancestors up to init, however deep: a chain that cannot be read to its end
 * (a process vanished mid-walk, or a loop from pid reuse) ends where it stops.
 */
export function ancestry(pid: number): number[] {
  const chain: number[] = [];
  const seen = new Set<number>();
  let current: number | undefined = pid;
  while (current !== undefined && current > 0 && !seen.has(current)) {
    chain.push(current);
    seen.add(current);
    if (current === 1) break;
    current = parentPid(current);
  }
  return chain;
}

/**
 * The KEYWARD_SESSION value in a process's environment as it was when the process started:
 * a string, null when the variable is absent, undefined when the environment cannot be read.
 */
export function sessionTokenInEnvironment(pid: number): string | null | undefined {
  // macOS keeps no /proc: there, only ancestry tells (docs/security-model.md).
  if (process.platform !== 'linux') return null;
  let environ: Buffer;
  try {
    environ = readFileSync(`/proc/${pid}/environ`);
  } catch {
    return undefined;
  }
  for (const entry of environ.toString('utf8').split('\0')) {
    if (entry.startsWith('KEYWARD_SESSION=')) return entry.slice('KEYWARD_SESSION='.length);
  }
  return null;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What the kernel says about the client end of a loopback TCP connection to us. */
export interface TcpPeer {
  /** Owner of the client socket (from /proc/net/tcp); undefined when the connection is not listed. */
  uid?: number;
  /** The process holding the client socket, when it can be found. */
  pid?: number;
}

/** `127.0.0.1` / `::ffff:127.0.0.1` / `::1` → the hex form /proc/net/tcp{,6} prints. */
function procAddress(address: string): { table: 'tcp' | 'tcp6'; hex: string } | undefined {
  const little = endianness() === 'LE';
  const word = (bytes: number[]) => {
    const b = Buffer.from(bytes);
    if (little) b.reverse();
    return b.toString('hex').toUpperCase();
  };
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/i.exec(address);
  if (v4 && !address.includes(':')) return { table: 'tcp', hex: word(v4.slice(1, 5).map(Number)) };
  if (v4) {
    // v4-mapped in tcp6: ::ffff:a.b.c.d as four 32-bit words.
    return { table: 'tcp6', hex: word([0, 0, 0, 0]) + word([0, 0, 0, 0]) + word([0, 0, 0xff, 0xff]) + word(v4.slice(1, 5).map(Number)) };
  }
  if (address === '::1') return { table: 'tcp6', hex: word([0, 0, 0, 0]) + word([0, 0, 0, 0]) + word([0, 0, 0, 0]) + word([0, 0, 0, 1]) };
  return undefined;
}

/** How long the first lookup of a batch waits for others to join it. */
const BATCH_WINDOW_MS = 3;

const portHex = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');

/**
 * Finds the local processes behind loopback TCP connections to the proxy. Lookups that arrive
 * together share one read of the kernel's socket tables and one walk of /proc; processes found
 * recently are looked at first, so an agent that keeps connecting is found without a full walk.
 */
export class TcpPeerResolver {
  private waiting: { socket: Socket; resolve: (peer: TcpPeer) => void }[] = [];
  private scheduled = false;
  private readonly recent: number[] = [];

  lookup(socket: Socket): Promise<TcpPeer> {
    if (!tcpLookupSupported() || !socket.remotePort || !socket.remoteAddress || !socket.localAddress) return Promise.resolve({});
    return new Promise((resolve) => {
      this.waiting.push({ socket, resolve });
      if (!this.scheduled) {
        this.scheduled = true;
        // A short window lets a burst of connections share one read of the tables.
        setTimeout(() => this.run(), BATCH_WINDOW_MS);
      }
    });
  }

  private run(): void {
    void this.resolveBatch().catch(() => {});
  }

  private async resolveBatch(): Promise<void> {
    this.scheduled = false;
    const batch = this.waiting;
    this.waiting = [];
    if (batch.length === 0) return;
    // Client socket key (local = the client's address, remote = ours) → inode and uid.
    const wanted = new Map<string, { inode: string; uid: number }>();
    const keys = batch.map(({ socket }) => {
      const client = socket.remoteAddress ? procAddress(socket.remoteAddress) : undefined;
      const server = socket.localAddress ? procAddress(socket.localAddress) : undefined;
      if (!client || !server || client.table !== server.table) return undefined;
      const key = `${client.hex}:${portHex(socket.remotePort!)} ${server.hex}:${portHex(socket.localPort!)}`;
      return { key, table: client.table };
    });
    try {
      for (const table of ['tcp', 'tcp6'] as const) {
        const want = new Set(keys.filter((k) => k?.table === table).map((k) => k!.key));
        if (want.size === 0) continue;
        // Read off the event loop: with many sockets on the machine the kernel takes a while.
        let text = '';
        try {
          text = await readFile(`/proc/net/${table}`, 'latin1');
        } catch {
          /* no table: nothing found */
        }
        for (const line of text.split('\n')) {
          // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
          const f = line.trim().split(/\s+/);
          if (f.length < 10) continue;
          const key = `${f[1]} ${f[2]}`;
          if (want.has(key)) wanted.set(key, { uid: Number(f[7]), inode: f[9] });
        }
      }
    } finally {
      // The next batch may start while this one looks for processes.
      if (this.waiting.length > 0 && !this.scheduled) {
        this.scheduled = true;
        setTimeout(() => this.run(), BATCH_WINDOW_MS);
      }
    }
    // Another user's connection is refused on its uid alone: its process is not looked for.
    const ownUid = process.getuid?.();
    const holders = this.holders(
      new Set(
        [...wanted.values()]
          .filter((w) => ownUid === undefined || w.uid === ownUid)
          .map((w) => w.inode)
          .filter((i) => i !== '0'),
      ),
    );
    batch.forEach(({ resolve }, i) => {
      const found = keys[i] && wanted.get(keys[i]!.key);
      if (!found) return resolve({});
      resolve({ uid: found.uid, pid: holders.get(found.inode) });
    });
  }

  /** Socket inode → pid of a process holding it, from /proc/<pid>/fd. */
  private holders(inodes: Set<string>): Map<string, number> {
    const found = new Map<string, number>();
    if (inodes.size === 0) return found;
    const links = new Set([...inodes].map((i) => `socket:[${i}]`));
    const scan = (pid: number): boolean => {
      let fds: string[];
      try {
        fds = readdirSync(`/proc/${pid}/fd`);
      } catch {
        return false;
      }
      let hit = false;
      // Newest descriptors first: a connection just opened usually has the highest number.
      fds.sort((a, b) => Number(b) - Number(a));
      for (const fd of fds) {
        let link: string;
        try {
          link = readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          continue;
        }
        if (links.has(link)) {
          const inode = link.slice(8, -1);
          if (!found.has(inode)) found.set(inode, pid);
          hit = true;
          if (found.size === inodes.size) return true;
        }
      }
      return hit;
    };
    const tried = new Set<number>();
    for (const pid of [...this.recent]) {
      tried.add(pid);
      if (scan(pid)) this.remember(pid);
      if (found.size === inodes.size) return found;
    }
    let all: string[];
    try {
      all = readdirSync('/proc');
    } catch {
      return found;
    }
    // Newest processes first: clients usually have just started.
    const pids = all
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .filter((pid) => !tried.has(pid))
      .sort((a, b) => b - a);
    for (const pid of pids) {
      if (scan(pid)) this.remember(pid);
      if (found.size === inodes.size) break;
    }
    return found;
  }

  private remember(pid: number): void {
    const at = this.recent.indexOf(pid);
    if (at !== -1) this.recent.splice(at, 1);
    this.recent.unshift(pid);
    if (this.recent.length > 32) this.recent.pop();
  }
}

/** Whether `pid` is still the process that started at `start` (not a reused pid). */
export function sameProcess(pid: number, start: string | undefined): boolean {
  if (start === undefined) return true;
  return processStart(pid) === start;
}

/**
 * Whether a process (given as its ancestry, itself first) belongs to a session: it is the
 * session's root or, for sessions that own their tree (keyward run), descends from it; and the
 * root is still the process that opened the session, not a reused pid.
 */
export function inSessionTree(session: { pid: number; tree: boolean; start?: string }, ancestors: number[]): boolean {
  const member = session.tree ? ancestors.includes(session.pid) : ancestors[0] === session.pid;
  return member && sameProcess(session.pid, session.start);
}
