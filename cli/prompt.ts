import { KeywardError } from './errors.js';

/**
 * Reads a line from the terminal without echoing it (for secrets). Needs a TTY on stdin;
 * Ctrl-C aborts.
 */
export function promptHidden(question: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WriteStream = process.stderr): Promise<string> {
  if (!input.isTTY) throw new KeywardError('cannot prompt: standard input is not a terminal', { hint: 'Pipe the value on stdin, or use --from-env VAR / --from-file PATH.' });
  return new Promise((resolve, reject) => {
    output.write(question);
    input.setRawMode(true);
    input.resume();
    let value = '';
    const finish = (error?: Error) => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      output.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(new KeywardError('cancelled', { exitCode: 130 }));
        if (ch === '\u0004') return finish();
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    input.on('data', onData);
  });
}

/** All of standard input, as text with the final newline removed. */
export async function readStdin(input: NodeJS.ReadableStream = process.stdin): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of input) parts.push(typeof part === 'string' ? Buffer.from(part) : (part as Buffer));
  return Buffer.concat(parts).toString('utf8').replace(/\r?\n$/, '');
}
