import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';

/**
 * Connection caps for the daemon's listeners, below its descriptor limit: a flood of connections
 * to one listener is refused while the others keep working.
 */
/** The soft limit on open descriptors (RLIMIT_NOFILE), from /proc/self/limits; 1024 if unknown. */
export function descriptorLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) return m[1] === 'unlimited' ? 1 << 20 : Number(m[1]);
  } catch {
    /* not Linux */
  }
  return 1024;
}

export interface ConnectionCaps {
  /** Proxy client connections in all (each may hold a second descriptor upstream). */
  total: number;
  /** Proxy client connections per peer process (or per OS user when the process is unknown). */
  perPeer: number;
  /** Connections per Unix socket (agent.sock, admin.sock), and per peer process on each. */
  unix: number;
  unixPerPeer: number;
}

/** Caps that keep the daemon below its descriptor limit with room for files and the audit log. */
export function connectionCaps(limit = descriptorLimit()): ConnectionCaps {
  const available = Math.max(64, limit - 64);
  const unix = Math.max(16, Math.floor(available / 8));
  const total = Math.max(16, Math.floor((available - 2 * unix) / 2));
  return { total, perPeer: Math.max(8, Math.floor(total / 4)), unix, unixPerPeer: Math.max(8, Math.floor(unix / 2)) };
}

/** Counts live connections by key and says whether one more fits. */
export class ConnectionCounter {
  private readonly counts = new Map<string, number>();
  constructor(private readonly perKey: number) {}

  /** Takes a slot for `key`; false when it is full. The slot is freed when `socket` closes. */
  admit(key: string, socket: Socket): boolean {
    const n = this.counts.get(key) ?? 0;
    if (n >= this.perKey) return false;
    this.counts.set(key, n + 1);
    socket.once('close', () => {
      const left = (this.counts.get(key) ?? 1) - 1;
      if (left <= 0) this.counts.delete(key);
      else this.counts.set(key, left);
    });
    return true;
  }
}
