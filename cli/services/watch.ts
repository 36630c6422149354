import { safeText } from '../../kernel/terminal.js';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { daemonFiles, ping } from '../../daemon/files.js';
import { keywardPaths } from '../../kernel/paths.js';
import { expandWatchPath } from '../../daemon/watch.js';
import type { WatchedFinding } from '../../scanners/watch.js';
import { call } from '../daemon-client.js';
import { isKeywardError } from '../../kernel/errors.js';
import type { KeySource } from '../ui/keys.js';
import { plural } from '../../kernel/units.js';

/**
 * `keyward watch [paths...]`: scans the paths, then reports each secret written to them as it
 * is written: on the terminal (redacted, with a one-key offer to migrate it) and, when the
 * daemon runs, in the audit log as a `finding` record. Runs until q, Ctrl-C or a signal.
 */
export interface WatchOptions {
  /** As typed; none means the defaults (see defaultWatchPaths). */
  paths: string[];
  /** One JSON object per finding on stdout instead of text. */
  json?: boolean;
  maxFileSize?: number;
  debounceMs?: number;
}

export interface WatchIo {
  cwd: string;
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Keys from the terminal; undefined without one (then lines are printed, nothing is offered). */
  keys?: KeySource;
  /** Runs `keyward migrate <file>`; undefined when this keyward has no migrate command. */
  migrate?: (file: string) => Promise<number>;
  /** Resolves when the process is asked to stop (SIGINT, SIGTERM). */
  signalled: Promise<string>;
}

/** How many findings already present at start are listed one by one. */
const PRESENT_LISTED = 20;

/**
 * What to watch when no path is given: the current directory, the credential and agent-config
 * locations `keyward scan home` looks at (docs/locations.md; those that do not exist yet are
 * waited for), and the paths registered under `watch:` in config.yaml. Run from the home
 * directory itself, its known locations stand for it: the whole of it would be every file the
 * user has.
 */
export async function defaultWatchPaths(cwd: string, env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): Promise<{ paths: string[]; description: string }> {
  // Loaded only here: the YAML and schema libraries cost memory a long-running watch keeps.
  const { loadDaemonConfig } = await import('../../daemon/config.js');
  const { HOME_LOCATIONS } = await import('../../scanners/sources/home/locations.js');
  const home = resolve(env.HOME || homedir());
  const registered = loadDaemonConfig(keywardPaths(env)).config.watch.map((p) => expandWatchPath(p, home));
  const locations = [...new Set(HOME_LOCATIONS.flatMap((spec) => spec.paths({ home, platform, env })))];
  const here = resolve(cwd) === home ? [] : [resolve(cwd)];
  const description = [
    here.length ? 'the current directory' : `the known locations in your home directory (not all of ${home})`,
    `${locations.length} credential and agent-config locations (${locations.filter((l) => existsSync(l)).length} there now; the others are waited for)`,
    registered.length ? `the ${plural(registered.length, 'path')} under watch: in config.yaml` : '',
  ].filter(Boolean);
  return { paths: [...new Set([...here, ...registered, ...locations])], description: description.join(', ') };
}

/** One line per finding: status, rule, place, redacted secret, what it is. */
export function formatFinding(found: WatchedFinding): string {
  const f = found.finding;
  // The file name and a custom rule's description come from the watched content: escaped.
  return [found.status === 'new' ? 'NEW    ' : 'present', f.ruleId, safeText(`${f.file}:${f.line}:${f.column}`), safeText(f.secret), `(${safeText(f.description)})`].join('  ');
}

/** Sends new findings to the daemon's audit log, saying when that starts or stops working. */
class AuditSink {
  private state: 'on' | 'off' | undefined;
  constructor(private readonly say: (line: string) => void) {}

  set(state: 'on' | 'off', why: string): void {
    if (this.state === state) return;
    this.state = state;
    this.say(
      state === 'on'
        ? `Audit: new findings are written to the audit log (${why}).`
        : `Audit is off: ${why}. Findings are printed here only; start the daemon (keyward daemon start) to record them.`,
    );
  }

  async report(found: WatchedFinding): Promise<void> {
    const f = found.finding;
    try {
      await call(
        'admin',
        'POST',
        '/v1/findings',
        { rule: f.ruleId, provider: f.provider, file: found.absolute, line: f.line, column: f.column, fingerprint: f.fingerprint },
        { timeout: 5000 },
      );
      this.set('on', 'the daemon is back');
    } catch (error) {
      this.set('off', isKeywardError(error) ? error.message : String(error));
    }
  }
}

export async function runWatch(options: WatchOptions, io: WatchIo): Promise<{ files: number; present: number; new: number }> {
  // While keyward migrate has the terminal, lines wait: its screen is not drawn over.
  let held: [NodeJS.WritableStream, string][] | undefined;
  const write = (stream: NodeJS.WritableStream, line: string) => (held ? held.push([stream, line]) : stream.write(line + '\n'));
  const say = (line: string) => write(io.stderr, line);
  let paths: string[];
  if (options.paths.length > 0) {
    paths = [...new Set(options.paths.map((p) => resolve(io.cwd, p)))];
  } else {
    const defaults = await defaultWatchPaths(io.cwd, io.env);
    paths = defaults.paths;
    say(`No paths given: watching ${defaults.description}.`);
  }
  if (options.paths.length > 0) for (const p of paths) if (!existsSync(p)) say(`${p} does not exist (yet): watching for it to appear.`);

  const audit = new AuditSink(say);
  const adminSock = daemonFiles(keywardPaths(io.env)).adminSock;
  if (await ping(adminSock)) audit.set('on', 'the daemon is running');
  else audit.set('off', 'the keyward daemon is not running');

  let lastNew: WatchedFinding | undefined;
  let presentShown = 0;
  const offer = () => {
    if (io.keys && lastNew) say(`  m: move it into the vault (keyward migrate ${safeText(lastNew.finding.file)}) · q: quit`);
  };
  const { SecretWatch } = await import('../../scanners/watch.js');
  const watch = new SecretWatch({
    paths,
    cwd: io.cwd,
    home: io.env.HOME || homedir(),
    maxFileSize: options.maxFileSize,
    debounceMs: options.debounceMs,
    onProblem: (problem) => say(`keyward: ${safeText(problem)}`),
    onFinding: (found) => {
      if (found.status === 'present' && !options.json && ++presentShown > PRESENT_LISTED) return;
      write(io.stdout, options.json ? JSON.stringify({ time: new Date().toISOString(), status: found.status, ...found.finding }) : formatFinding(found));
      if (found.status !== 'new') return;
      lastNew = found;
      offer();
      void audit.report(found);
    },
  });

  const started = Date.now();
  try {
    await watch.start();
  } catch (error) {
    watch.close();
    throw error;
  }
  const { files, present } = watch.counts;
  if (!options.json && present > PRESENT_LISTED) say(`… and ${present - PRESENT_LISTED} more already there (keyward scan lists them all).`);
  say(
    `Watching ${plural(files, 'file')} in ${plural(watch.directories, 'directory', 'directories')} (first scan ${((Date.now() - started) / 1000).toFixed(1)} s)` +
      `${present ? `; ${plural(present, 'secret was', 'secrets were')} already there` : ''}. New secrets are reported as they are written${io.keys ? '; q quits' : ''}.`,
  );

  const stopped = new Promise<string>((resolveStop) => {
    void io.signalled.then(resolveStop);
    const keys = io.keys;
    if (!keys) return;
    const onKey = (key: string): void => {
      if (key === 'q' || key === '\u0003' || key === '\u0004') return resolveStop('quit');
      if (key !== 'm' && key !== 'M') return;
      if (!lastNew) {
        say('Nothing new to migrate yet.');
        return;
      }
      say(`→ keyward migrate ${safeText(lastNew.finding.file)}`);
      if (!io.migrate) {
        say('  This version of keyward has no migrate command yet: run that command once it has, or move the key by hand (keyward vault add).');
        return;
      }
      // The child gets the terminal; keys and output come back to us when it exits.
      keys.suspend();
      held = [];
      void io
        .migrate(lastNew.absolute)
        .then(
          (code) => `  keyward migrate ${code === 0 ? 'finished' : `exited with ${code}`}.`,
          (error: unknown) => `  keyward migrate could not run: ${(error as Error).message}`,
        )
        .then((outcome) => {
          const waiting = held ?? [];
          held = undefined;
          say(outcome);
          for (const [stream, line] of waiting) stream.write(line + '\n');
          keys.listen(onKey);
        });
    };
    keys.listen(onKey);
  });
  await stopped;
  io.keys?.stop();
  watch.close();
  return { ...watch.counts };
}
