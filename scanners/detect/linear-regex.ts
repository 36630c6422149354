import { createRequire } from 'node:module';

/**
 * Regular expressions from a config (`.keyward.yaml` custom rules and allowlist regexes) are
 * written by whoever wrote the repository, so they run on a linear-time engine (RE2, through the
 * re2js port): a pattern such as `(a+)+$` costs time in proportion to the text, not exponential
 * time, and cannot hang a scan, the pre-commit hook, CI or the daemon's watcher. Built-in rules
 * keep the JavaScript engine (they are reviewed, and some use lookarounds).
 *
 * RE2 has no lookaround and no backreferences; such a pattern is refused when the config is
 * loaded, with `linearRegexError`'s message.
 */

type Re2Module = typeof import('re2js');
type Re2 = ReturnType<Re2Module['RE2JS']['compile']>;
type Re2Matcher = ReturnType<Re2['matcher']>;

let re2: Re2Module | undefined;
/** Loaded on first use: most scans have no custom pattern, and the pre-commit path counts milliseconds. */
function engine(): Re2Module {
  re2 ??= createRequire(import.meta.url)('re2js') as Re2Module;
  return re2;
}

function compile(pattern: string, flags = ''): Re2 {
  const { RE2JS } = engine();
  let bits = 0;
  if (flags.includes('i')) bits |= RE2JS.CASE_INSENSITIVE;
  if (flags.includes('m')) bits |= RE2JS.MULTILINE;
  if (flags.includes('s')) bits |= RE2JS.DOTALL;
  return RE2JS.compile(pattern, bits);
}

/** Why `pattern` cannot run on the linear-time engine, or undefined when it can. */
export function linearRegexError(pattern: string, flags?: string): string | undefined {
  try {
    compile(pattern, flags);
    return undefined;
  } catch (error) {
    return (error as Error).message.replace(/^error parsing regexp: /, '');
  }
}

/** A compiled linear-time pattern; `test` finds a match anywhere in the text. */
export function linearTester(pattern: string, flags?: string): (text: string) => boolean {
  const re = compile(pattern, flags);
  return (text) => re.matcher(text).find();
}

/**
 * The part of `RegExp` the detector uses (`lastIndex`, `exec` with the `d` flag's indices for the
 * `secret` group), on the linear-time engine, so the detector's loop is the same for both.
 */
export class LinearRegExp {
  lastIndex = 0;
  private readonly re: Re2;
  private text: string | undefined;
  private matcher: Re2Matcher | undefined;
  private readonly hasSecret: boolean;

  constructor(pattern: string, flags?: string) {
    this.re = compile(pattern, flags?.replace(/[gd]/g, ''));
    this.hasSecret = /\(\?P?<secret>/.test(pattern);
  }

  exec(text: string): RegExpExecArray | null {
    if (text !== this.text || !this.matcher) {
      this.text = text;
      this.matcher = this.re.matcher(text);
    }
    if (this.lastIndex > text.length || !this.matcher.find(this.lastIndex)) {
      this.lastIndex = 0;
      return null;
    }
    const m = this.matcher;
    const start = m.start();
    const whole = m.group() ?? '';
    this.lastIndex = m.end();
    const result = [whole] as unknown as RegExpExecArray;
    result.index = start;
    result.input = text;
    if (this.hasSecret) {
      const secret = m.group('secret');
      if (secret !== null && secret !== undefined) {
        const at = m.start('secret');
        result.groups = { secret };
        result.indices = Object.assign([[start, m.end()]] as [number, number][], { groups: { secret: [at, at + secret.length] as [number, number] } });
      }
    }
    return result;
  }
}
