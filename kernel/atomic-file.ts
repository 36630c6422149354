import { closeSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync, chownSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Writes a file atomically: a temp file beside it, fsync, rename over, fsync the directory.
 * A crash leaves either the old or the new content, never a mix. An existing file's mode and
 * owner are kept unless `mode` is given.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, options: { mode?: number; /** fsync file and directory (default true). */ sync?: boolean } = {}): void {
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  let previous: { mode: number; uid: number; gid: number } | undefined;
  try {
    const st = statSync(file);
    previous = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  } catch {
    previous = undefined;
  }
  const mode = options.mode ?? previous?.mode ?? 0o644;
  const fd = openSync(tmp, 'wx', mode);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let at = 0;
    while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at);
    if (options.sync !== false) fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw error;
  }
  closeSync(fd);
  if (previous && process.getuid?.() === 0) {
    try {
      chownSync(tmp, previous.uid, previous.gid);
    } catch {
      /* keep going: ownership is best effort */
    }
  }
  renameSync(tmp, file);
  if (options.sync !== false) fsyncDir(dir);
}

export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* some filesystems refuse fsync on directories */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
