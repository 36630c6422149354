import { safeText } from '../../kernel/terminal.js';
import type { Finding, ScanResult } from '../types.js';
import { plural } from '../../kernel/units.js';

export interface TextOptions {
  /** ANSI colours (a TTY without NO_COLOR). */
  color: boolean;
  /** Max file size used, for the "skipped" line. */
  maxFileSize?: number;
}

const codes = { bold: [1, 22], dim: [2, 22], red: [31, 39], green: [32, 39], yellow: [33, 39], cyan: [36, 39] } as const;
type Style = keyof typeof codes;

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

/** Human report: findings grouped by file, then a summary, what was skipped, and what to do next. */
export function renderText(result: ScanResult, options: TextOptions): string {
  const paint = (style: Style, text: string) => (options.color ? `\u001b[${codes[style][0]}m${text}\u001b[${codes[style][1]}m` : text);
  const out: string[] = [];
  const byFile = new Map<string, Finding[]>();
  // File names, authors, descriptions (custom rules), key paths and image history come from the
  // content scanned: escaped, so that none of it can send the terminal an escape sequence.
  for (const f of result.findings) {
    const key = safeText(f.image ? `${f.image} ${f.file}` : f.file);
    (byFile.get(key) ?? byFile.set(key, []).get(key)!).push(f);
  }
  const idWidth = Math.min(34, Math.max(0, ...result.findings.map((f) => f.ruleId.length)));
  for (const [file, findings] of byFile) {
    out.push(paint('bold', file));
    for (const f of findings) {
      const where = `${f.line}:${f.column}`.padEnd(8);
      const tags = [
        f.verification === 'live' ? paint('bold', paint('red', 'LIVE')) : f.verification ? paint('dim', f.verification) : '',
        f.confidence === 'validated' ? paint('green', 'validated') : '',
        f.migratable ? paint('cyan', 'migratable') : '',
        f.decoded ? paint('dim', `decoded from ${f.decoded}`) : '',
      ]
        .filter(Boolean)
        .join(' ');
      out.push(
        `  ${paint('dim', where)}${paint('red', safeText(f.ruleId).padEnd(idWidth))}  ${safeText(f.secret)}  ${paint('dim', safeText(f.description))}${tags ? '  ' + tags : ''}`,
      );
      if (f.keyPath) out.push(`  ${' '.repeat(8)}${paint('dim', `at ${safeText(f.keyPath)}`)}`);
      if (f.commit) {
        const also = f.occurrences && f.occurrences > 1 ? `, also in ${plural(f.occurrences - 1, 'other commit')}` : '';
        out.push(
          `  ${' '.repeat(8)}${paint('dim', `introduced in ${f.commit.slice(0, 12)} by ${safeText(f.author ?? '')} <${safeText(f.email ?? '')}> on ${safeText(f.date?.slice(0, 10) ?? '')}${also}`)}`,
        );
      }
      if (f.layer) {
        const deleted = f.deletedInLayer !== undefined ? `, deleted by a whiteout in layer #${f.deletedInLayer} (still in the image)` : '';
        const layerCommand = f.layerCommand ? safeText(f.layerCommand) : '';
        const command = layerCommand ? ` created by: ${layerCommand.length > 80 ? layerCommand.slice(0, 77) + '…' : layerCommand}` : '';
        out.push(`  ${' '.repeat(8)}${paint('dim', `in layer #${f.layerIndex} ${f.layer.slice(0, 19)}…${deleted}${command}`)}`);
      }
    }
  }
  if (out.length > 0) out.push('');

  const s = result.stats;
  const scanned =
    result.mode === 'history'
      ? `${plural(s.commits ?? 0, 'commit')}, ${formatBytes(s.bytes)} of changes`
      : `${plural(s.files, 'file')}, ${formatBytes(s.bytes)}${s.archives ? ` (${plural(s.archives, 'archive')} opened)` : ''}`;
  const took = `${(result.durationMs / 1000).toFixed(2)} s`;
  const n = result.findings.length;
  if (n === 0) {
    out.push(`${paint('green', 'No secrets found')} · scanned ${scanned} in ${took}`);
  } else {
    const validated = result.findings.filter((f) => f.confidence === 'validated').length;
    const files = byFile.size;
    out.push(`${paint('red', paint('bold', plural(n, 'finding')))} in ${plural(files, 'file')}${validated ? ` (${validated} validated)` : ''} · scanned ${scanned} in ${took}`);
  }
  if (result.locations) {
    const present = result.locations.filter((l) => l.status !== 'absent');
    const shown = present.slice(0, 12).map((l) => (l.status === 'present' ? safeText(l.path) : `${safeText(l.path)} (${l.status})`));
    out.push(
      paint(
        'dim',
        `locations: ${result.locations.length} checked, ${present.length} present${shown.length ? `: ${shown.join(', ')}${present.length > shown.length ? ', …' : ''}` : ''} (--format json lists them all)`,
      ),
    );
  }
  if (result.images) {
    for (const image of result.images) {
      const reused = image.reusedLayers ? `, ${image.reusedLayers} already scanned in this run` : '';
      out.push(
        paint(
          'dim',
          `image ${safeText(image.image)}${image.digest ? ` ${image.digest.slice(0, 19)}…` : ''}${image.platform ? ` (${image.platform})` : ''}: ${plural(image.layers, 'layer')}${reused}, ${formatBytes(image.layerBytes)} of layer data`,
        ),
      );
    }
  }
  const skipped = [
    s.skipped.binary ? `${s.skipped.binary} binary` : '',
    s.skipped.tooLarge ? `${s.skipped.tooLarge} larger than ${formatBytes(options.maxFileSize ?? 0)}` : '',
    s.skipped.unreadable ? `${s.skipped.unreadable} unreadable` : '',
    s.skipped.other ? `${s.skipped.other} other` : '',
  ].filter(Boolean);
  if (skipped.length) out.push(paint('dim', `skipped: ${skipped.join(', ')}`));
  const suppressed = [
    s.suppressed.baseline ? `${s.suppressed.baseline} by the baseline` : '',
    s.suppressed.allowlist ? `${s.suppressed.allowlist} by allowlists` : '',
    s.suppressed.inline ? `${s.suppressed.inline} by keyward:allow` : '',
  ].filter(Boolean);
  if (suppressed.length) out.push(paint('dim', `suppressed: ${suppressed.join(', ')}`));
  const c = result.config;
  if (c) {
    const parts = [
      c.disabled ? `${plural(c.disabled, 'rule')} disabled` : '',
      c.allowlistPaths
        ? `${plural(c.allowlistPaths, 'path glob')} allowlisted${c.pathsSkipped ? ` (${plural(c.pathsSkipped, result.mode === 'history' ? 'file change' : 'file')} not read)` : ''}`
        : '',
      c.allowlistRegexes ? `${plural(c.allowlistRegexes, 'secret regex', 'secret regexes')} allowlisted` : '',
      c.allowlistRules ? `${plural(c.allowlistRules, 'rule')} with allowlists of their own` : '',
    ].filter(Boolean);
    out.push(paint('dim', `config ${safeText(c.file)}: ${parts.join(', ')}`));
    if (c.suppressesAll)
      out.push(paint('yellow', `warning: ${safeText(c.file)} switches the scan off (${safeText(c.suppressesAll)}): "no secrets found" means nothing was checked`));
  }
  if (result.issues.length) {
    const label = result.partial ? paint('yellow', `partial scan: ${plural(result.issues.length, 'problem')}`) : paint('yellow', 'warnings');
    out.push(`${label}:`);
    for (const issue of result.issues.slice(0, 20)) out.push(`  ${issue.path ? `${safeText(issue.path)}: ` : ''}${safeText(issue.message)}`);
    if (result.issues.length > 20) out.push(`  … and ${result.issues.length - 20} more (see --format json)`);
  }
  // `scan --staged` is what the pre-commit hook runs: say that the commit stopped, and the way past it.
  if (result.mode === 'staged' && n > 0) {
    out.push(
      `${paint('red', paint('bold', 'Commit blocked'))}: the staged changes add ${n === 1 ? 'a secret' : 'secrets'}. Remove ${n === 1 ? 'it' : 'them'} from the staged files, or mark a false positive with keyward:allow.`,
    );
    out.push('To commit anyway, this once: git commit --no-verify');
  }
  const migratable = result.findings.filter((f) => f.migratable).length;
  if (migratable > 0) out.push(`Next: run ${paint('bold', '`keyward migrate`')} to move ${plural(migratable, 'migratable key')} into the vault.`);
  else if (result.mode === 'history' && n > 0) out.push('Keys in history cannot be rewritten: rotate them at the provider, then add the old ones to a baseline.');
  else if (result.mode === 'image' && n > 0) out.push('Keys in an image stay in its layers: rotate them at the provider, then rebuild the image without them.');
  return out.join('\n') + '\n';
}
