import { formatBytes } from '../scanners/report/text.js';

export interface ProgressSnapshot {
  files: number;
  bytes: number;
  commits?: number;
  total?: number;
}

/**
 * A one-line progress display on stderr, redrawn at most every 100 ms. It exists only on a TTY;
 * piped output and machine formats stay quiet.
 */
export class ProgressLine {
  private last = 0;
  private readonly started = Date.now();
  private drawn = false;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  static forStderr(enabled: boolean): ProgressLine | undefined {
    return enabled && process.stderr.isTTY ? new ProgressLine(process.stderr) : undefined;
  }

  update(p: ProgressSnapshot): void {
    const now = Date.now();
    if (now - this.last < 100) return;
    this.last = now;
    const seconds = Math.max(0.001, (now - this.started) / 1000);
    const parts = [
      p.commits !== undefined ? `${p.commits.toLocaleString('en')} commits` : `${p.files.toLocaleString('en')}${p.total ? `/${p.total.toLocaleString('en')}` : ''} files`,
      formatBytes(p.bytes),
      `${formatBytes(p.bytes / seconds)}/s`,
    ];
    const line = `scanning: ${parts.join(' · ')}`.slice(0, (this.stream.columns || 80) - 1);
    this.stream.write(`\r\u001b[K${line}`);
    this.drawn = true;
  }

  done(): void {
    if (this.drawn) this.stream.write('\r\u001b[K');
  }
}
