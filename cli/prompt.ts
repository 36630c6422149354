import { KeywardError } from '../kernel/errors.js';

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
  return Buffer.concat(parts)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/**
 * Asks a question on the terminal and returns the answer line (echoed, for choices, never for
 * secrets). Needs a TTY on stdin; Ctrl-C or end of input cancels.
 */
export async function promptLine(question: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WriteStream = process.stderr): Promise<string> {
  if (!input.isTTY) throw new KeywardError('cannot ask: standard input is not a terminal');
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input, output, terminal: true });
  try {
    return await new Promise<string>((resolve, reject) => {
      rl.once('SIGINT', () => reject(new KeywardError('cancelled', { exitCode: 130 })));
      rl.once('close', () => reject(new KeywardError('cancelled: no answer', { exitCode: 130 })));
      rl.question(question, (answer) => resolve(answer.trim()));
    });
  } finally {
    rl.removeAllListeners('close');
    rl.close();
  }
}
