import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { TcpPeer } from '../server/identity.js';

export { ConnectionCounter, connectionCaps } from '../server/limits.js';

/**
 * Who may hold a connection to the proxy, and how many. Every connection is attributed to the
 * process that opened it (from the kernel's socket tables) before it is served:
 *
 * - a connection from another OS user is closed: the proxy serves the daemon's user only;
 * - a connection the daemon opened to itself (a CONNECT or an upstream pointing back at the
 *   proxy) is closed: the proxy never becomes the caller;
 * - each peer process, and all of them together, hold at most a share of the descriptor limit,
 *   so a flood is refused while the daemon's sockets (keyward run, keyward approve) keep working.
 */

/** Why a proxy connection is refused before it is served, or undefined when it may be. */
export function refusal(peer: TcpPeer, ownUid: number | undefined): string | undefined {
  if (peer.uid !== undefined && ownUid !== undefined && peer.uid !== ownUid) return `the connection comes from uid ${peer.uid}; the proxy serves uid ${ownUid} only`;
  if (peer.pid === process.pid) return 'the connection comes from the daemon itself';
  return undefined;
}

/** The key a connection is counted under: its process, else its OS user. */
export function peerKey(peer: TcpPeer): string {
  return peer.pid !== undefined ? `pid:${peer.pid}` : peer.uid !== undefined ? `uid:${peer.uid}` : 'unknown';
}

/** Addresses that reach this machine: loopback, the unspecified address, every interface's own. */
export function isOwnAddress(address: string): boolean {
  let a = address.toLowerCase().replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) a = mapped[1];
  if (isIP(a) === 4) {
    if (a.startsWith('127.') || a === '0.0.0.0') return true;
  } else if (isIP(a) === 6) {
    if (a === '::1' || a === '::' || /^0*(:0*)*:0*1$/.test(a) || /^0*(:0*)*$/.test(a)) return true;
  } else {
    return false;
  }
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (i.address.toLowerCase() === a) return true;
  }
  return false;
}

/** Host names (not addresses) that always mean this machine. */
export function isOwnName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return h === 'localhost' || h.endsWith('.localhost') || isOwnAddress(h);
}

/**
 * Whether `host:port` names one of the daemon's listeners (the proxy): any name of this machine
 * at the proxy's port. Names that resolve elsewhere are checked again once connected.
 */
export function targetsSelf(host: string, port: number, proxyPort: number): boolean {
  return port === proxyPort && isOwnName(host);
}
