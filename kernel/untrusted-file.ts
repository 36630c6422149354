import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/**
 * Reading a file that a repository (or any content keyward did not write) names: `.keyward.yaml`,
 * a baseline, a `.gitignore`. Such a file can be a symbolic link to `/dev/zero` or to a file
 * outside the repository, a FIFO that never answers, or simply huge. It is opened without
 * following a link (O_NOFOLLOW) and without blocking (O_NONBLOCK), must be a regular file, and is
 * read only up to `maxBytes`.
 */
export const UNTRUSTED_FILE_LIMIT = 1024 * 1024;

export class UntrustedFileError extends Error {
  constructor(
    message: string,
    /** ENOENT when there is no file at all (often fine), else why it was refused. */
    readonly code: 'ENOENT' | 'ELOOP' | 'ENOTREG' | 'EFBIG' | 'EIO',
  ) {
    super(message);
    this.name = 'UntrustedFileError';
  }
}

const OPEN = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/**
 * The bytes of `path`; throws `UntrustedFileError` for a missing file, a symbolic link, anything
 * but a regular file, or a file over `maxBytes`. With `followLinks` (a path the user typed), a link
 * is followed but the target must still be a regular file under the limit.
 */
export function readUntrustedFile(path: string, options: { maxBytes?: number; followLinks?: boolean } = {}): Buffer {
  const maxBytes = options.maxBytes ?? UNTRUSTED_FILE_LIMIT;
  let fd: number;
  try {
    fd = openSync(path, options.followLinks ? constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) : OPEN);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UntrustedFileError('no such file', 'ENOENT');
    if (code === 'ELOOP' || code === 'EMLINK') throw new UntrustedFileError('is a symbolic link, which keyward does not follow here', 'ELOOP');
    if (code === 'ENXIO' || code === 'EISDIR') throw new UntrustedFileError('is not a regular file', 'ENOTREG');
    throw new UntrustedFileError((error as Error).message, 'EIO');
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new UntrustedFileError('is not a regular file', 'ENOTREG');
    if (stat.size > maxBytes) throw new UntrustedFileError(`is larger than ${maxBytes} bytes`, 'EFBIG');
    // Read at most one byte past the limit: a file that grows while it is read is still capped.
    const buffer = Buffer.allocUnsafe(Math.min(maxBytes, stat.size) + 1);
    let got = 0;
    while (got < buffer.length) {
      const n = readSync(fd, buffer, got, buffer.length - got, got);
      if (n === 0) break;
      got += n;
    }
    if (got > maxBytes) throw new UntrustedFileError(`is larger than ${maxBytes} bytes`, 'EFBIG');
    return buffer.subarray(0, got);
  } catch (error) {
    if (error instanceof UntrustedFileError) throw error;
    throw new UntrustedFileError((error as Error).message, 'EIO');
  } finally {
    closeSync(fd);
  }
}
