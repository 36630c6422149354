import type { Chunk, Match, Rule } from '../types.js';
import { KeywordAutomaton } from './aho.js';
import { encodedSegments } from './decode.js';
import { shannonEntropy } from './entropy.js';
import { genericReason, placeholderReason } from './filters.js';
import { LinearRegExp } from './linear-regex.js';
import { validators } from './validators.js';

/** The regex of a rule sees at most this many bytes of a line on each side of a keyword hit. */
const LINE_CAP = 2048;
/** The marker that suppresses findings on its line. */
const INLINE_ALLOW = Buffer.from('keyward:allow');
/** How many times encoded content is decoded and rescanned (base64 inside base64 is depth 2). */
export const DEFAULT_DECODE_DEPTH = 2;

export interface DetectorOptions {
  /** Decode base64 and percent-encoded runs and rescan them this deep; 0 turns decoding off. */
  decodeDepth?: number;
}

interface CompiledRule {
  rule: Rule;
  regex: RegExp | undefined;
  before: number;
  after: number;
}

/** A candidate before line numbers are known. */
interface Candidate {
  rule: number;
  secret: string;
  offset: number;
  length: number;
  confidence: Match['confidence'];
}

/**
 * The detector: pure, chunk in, matches out. Build one per rule set and reuse it; regexes are
 * compiled on first use so that start-up pays only for the keyword automaton.
 */
export class Detector {
  private readonly compiled: CompiledRule[];
  private readonly automaton: KeywordAutomaton;
  /** For each distinct keyword, the rules that listed it. */
  private readonly keywordRules: number[][];
  /** Per rule, the windows of the chunk being scanned: reused, emptied after each chunk. */
  private readonly windows: number[][];

  readonly decodeDepth: number;

  constructor(
    readonly rules: readonly Rule[],
    options: DetectorOptions = {},
  ) {
    this.decodeDepth = options.decodeDepth ?? DEFAULT_DECODE_DEPTH;
    const keywordIndex = new Map<string, number>();
    this.keywordRules = [];
    this.compiled = rules.map((rule, index) => {
      if (rule.keywords.length === 0) throw new Error(`rule ${rule.id} has no keywords`);
      for (const raw of rule.keywords) {
        const keyword = raw.toLowerCase();
        let k = keywordIndex.get(keyword);
        if (k === undefined) {
          k = this.keywordRules.length;
          keywordIndex.set(keyword, k);
          this.keywordRules.push([]);
        }
        if (!this.keywordRules[k].includes(index)) this.keywordRules[k].push(index);
      }
      return { rule, regex: undefined, before: rule.window?.before ?? 0, after: rule.window?.after ?? 0 };
    });
    this.automaton = new KeywordAutomaton([...keywordIndex.keys()]);
    this.windows = rules.map(() => []);
  }

  /** Distinct keywords of all rules, lower case. */
  keywords(): string[] {
    return [...new Set(this.rules.flatMap((r) => r.keywords.map((k) => k.toLowerCase())))];
  }

  private regexFor(index: number): RegExp {
    const c = this.compiled[index];
    // A config's pattern runs in linear time whatever it is (see linear-regex.ts).
    c.regex ??= c.rule.linear
      ? (new LinearRegExp(c.rule.pattern, c.rule.flags) as unknown as RegExp)
      : new RegExp(c.rule.pattern, 'gd' + (c.rule.flags ?? '').replace(/[gd]/g, ''));
    return c.regex;
  }

  /**
   * Matches in the chunk, then in the base64 and percent-encoded runs it holds, decoded and
   * rescanned down to `depth` levels. A decoded match sits at the start of its encoded run and
   * says how it was decoded; one that repeats a plain match of the chunk is dropped.
   */
  detect(chunk: Chunk, depth: number = this.decodeDepth): Match[] {
    const matches = this.detectPlain(chunk);
    return depth > 0 ? this.withDecoded(chunk, matches, depth) : matches;
  }

  private withDecoded(chunk: Chunk, matches: Match[], depth: number): Match[] {
    const segments = encodedSegments(chunk.data);
    if (segments.length === 0) return matches;
    const plain = new Set(matches.map((m) => `${m.ruleId}\0${m.secret}`));
    const found: Match[] = [];
    for (const segment of segments) {
      const inner = this.detect({ path: chunk.path, data: segment.data }, depth - 1);
      if (inner.length === 0) continue;
      const at = positionOf(chunk, segment.start);
      for (const m of inner) {
        if (plain.has(`${m.ruleId}\0${m.secret}`)) continue;
        found.push({
          ruleId: m.ruleId,
          secret: m.secret,
          line: at.line,
          column: at.column,
          offset: segment.start,
          confidence: m.confidence,
          decoded: m.decoded ? `${segment.encoding}+${m.decoded}` : segment.encoding,
          ...(at.allowed || m.inlineAllowed ? { inlineAllowed: true as const } : {}),
        });
      }
    }
    if (found.length === 0) return matches;
    return [...matches, ...found].sort((a, b) => a.offset - b.offset);
  }

  private detectPlain(chunk: Chunk): Match[] {
    const data = chunk.data;
    const n = data.length;
    // 1. Keyword hits → per-rule windows of whole lines (capped), merged as they come in order.
    const windows = this.windows;
    const touched: number[] = [];
    const { lengths, outStart, outList } = this.automaton;
    const { hits, length } = this.automaton.scanStates(data);
    for (let i = 0; i < length; i += 2) {
      const state = hits[i];
      const end = hits[i + 1];
      for (let j = outStart[state], e = outStart[state + 1]; j < e; j++) {
        const keyword = outList[j];
        const start = end - lengths[keyword];
        for (const ruleIndex of this.keywordRules[keyword]) {
          const c = this.compiled[ruleIndex];
          const list = windows[ruleIndex];
          const to = Math.min(n, end + c.after);
          // Already covered up to here: extend only when this hit reaches further.
          if (list.length > 0 && list[list.length - 1] >= to) continue;
          const ws = lineStart(data, Math.max(0, start - c.before));
          const we = lineEnd(data, to);
          if (list.length === 0) {
            touched.push(ruleIndex);
            list.push(ws, we);
          } else if (ws <= list[list.length - 1] + 1) list[list.length - 1] = Math.max(list[list.length - 1], we);
          else list.push(ws, we);
        }
      }
    }
    if (touched.length === 0) return [];

    // 2. Regexes on the windows, then entropy, false-positive filters and offline validation.
    const candidates: Candidate[] = [];
    try {
      this.runRegexes(chunk, touched, candidates);
    } finally {
      for (const ruleIndex of touched) windows[ruleIndex].length = 0;
    }
    if (candidates.length === 0) return [];
    return this.locate(chunk, dropOverlaps(candidates, this.compiled));
  }

  /** Runs each touched rule's regex over its windows and keeps what passes the checks. */
  private runRegexes(chunk: Chunk, touched: number[], candidates: Candidate[]): void {
    const data = chunk.data;
    for (const ruleIndex of touched) {
      const list = this.windows[ruleIndex];
      const rule = this.compiled[ruleIndex].rule;
      const regex = this.regexFor(ruleIndex);
      const seen = new Set<number>();
      for (let w = 0; w < list.length; w += 2) {
        const ws = list[w];
        const we = list[w + 1];
        const text = data.toString('utf8', ws, we);
        const ascii = text.length === we - ws;
        regex.lastIndex = 0;
        let m: RegExpExecArray | null;
        while ((m = regex.exec(text)) !== null) {
          if (m[0].length === 0) {
            regex.lastIndex++;
            continue;
          }
          const secret = m.groups?.secret ?? m[0];
          if (!secret) continue;
          const index = m.indices?.groups?.secret?.[0] ?? m.index;
          const offset = ws + (ascii ? index : Buffer.byteLength(text.slice(0, index)));
          if (seen.has(offset)) continue;
          seen.add(offset);
          const confidence = assess(rule, secret, chunk.path);
          if (confidence) candidates.push({ rule: ruleIndex, secret, offset, length: Buffer.byteLength(secret), confidence });
        }
      }
    }
  }

  /** Adds line and column, marks lines carrying `keyward:allow`, and maps lines through the chunk's line map. */
  private locate(chunk: Chunk, candidates: Candidate[]): Match[] {
    const data = chunk.data;
    candidates.sort((a, b) => a.offset - b.offset);
    const matches: Match[] = [];
    // Walk forward once: the current line's bounds, whether it carries keyward:allow, and the
    // column reached so far on it, so many matches on one long line stay linear.
    let lineIndex = 0;
    let lineStartAt = 0;
    let nextNewline = data.indexOf(10);
    let allowOnLine: boolean | undefined;
    let columnAt = 0;
    let columnChars = 0;
    for (const c of candidates) {
      while (nextNewline !== -1 && nextNewline < c.offset) {
        lineIndex++;
        lineStartAt = nextNewline + 1;
        nextNewline = data.indexOf(10, lineStartAt);
        allowOnLine = undefined;
        columnAt = lineStartAt;
        columnChars = 0;
      }
      allowOnLine ??= data.subarray(lineStartAt, nextNewline === -1 ? data.length : nextNewline).indexOf(INLINE_ALLOW) !== -1;
      columnChars += data.toString('utf8', columnAt, c.offset).length;
      columnAt = c.offset;
      const line = chunk.lineMap ? (chunk.lineMap[lineIndex] ?? lineIndex + 1) : lineIndex + (chunk.firstLine ?? 1);
      matches.push({
        ruleId: this.compiled[c.rule].rule.id,
        secret: c.secret,
        line,
        column: columnChars + 1,
        offset: c.offset,
        confidence: c.confidence,
        ...(allowOnLine ? { inlineAllowed: true } : {}),
      });
    }
    return matches;
  }
}

/** Line, column and inline allow of one offset (for the rare decoded match). */
function positionOf(chunk: Chunk, offset: number): { line: number; column: number; allowed: boolean } {
  const data = chunk.data;
  let lineIndex = 0;
  let start = 0;
  for (let at = data.indexOf(10); at !== -1 && at < offset; at = data.indexOf(10, at + 1)) {
    lineIndex++;
    start = at + 1;
  }
  const end = data.indexOf(10, offset);
  const allowed = data.subarray(start, end === -1 ? data.length : end).indexOf(INLINE_ALLOW) !== -1;
  const line = chunk.lineMap ? (chunk.lineMap[lineIndex] ?? lineIndex + 1) : lineIndex + (chunk.firstLine ?? 1);
  return { line, column: data.toString('utf8', start, offset).length + 1, allowed };
}

/** Decides whether a regex match is a finding, and how sure we are. */
function assess(rule: Rule, secret: string, path: string): Match['confidence'] | undefined {
  if (rule.entropy !== undefined && shannonEntropy(secret) < rule.entropy) return undefined;
  if (rule.filters !== false && placeholderReason(secret)) return undefined;
  if (rule.generic && genericReason(secret, path)) return undefined;
  if (rule.validate) return validators[rule.validate](secret) ? 'validated' : undefined;
  return 'pattern';
}

/**
 * Where rules overlap on the same bytes, keep the most specific: a generic rule yields to any
 * specific one, and of two specific rules on the same span the validated (else the first) wins.
 */
function dropOverlaps(candidates: Candidate[], compiled: CompiledRule[]): Candidate[] {
  if (candidates.length < 2) return candidates;
  const sorted = [...candidates].sort((a, b) => a.offset - b.offset || b.length - a.length);
  const keep: Candidate[] = [];
  let cluster: Candidate[] = [];
  let clusterEnd = -1;
  for (const c of sorted) {
    if (c.offset >= clusterEnd) {
      resolveCluster(cluster, compiled, keep);
      cluster = [];
    }
    cluster.push(c);
    clusterEnd = Math.max(clusterEnd, c.offset + c.length);
  }
  resolveCluster(cluster, compiled, keep);
  return keep;
}

/** Resolves one group of mutually overlapping candidates (usually one or two). */
function resolveCluster(cluster: Candidate[], compiled: CompiledRule[], keep: Candidate[]): void {
  if (cluster.length === 1) {
    keep.push(cluster[0]);
    return;
  }
  for (const c of cluster) {
    const generic = compiled[c.rule].rule.generic === true;
    const beaten = cluster.some((other) => {
      if (other === c) return false;
      const overlaps = other.offset < c.offset + c.length && c.offset < other.offset + other.length;
      if (!overlaps) return false;
      const otherGeneric = compiled[other.rule].rule.generic === true;
      if (generic !== otherGeneric) return generic;
      if (other.offset !== c.offset || other.length !== c.length) return false;
      if (other.confidence !== c.confidence) return other.confidence === 'validated';
      return other.rule < c.rule;
    });
    if (!beaten) keep.push(c);
  }
}

/** UTF-8 continuation byte (10xxxxxx): not the start of a character. */
const isContinuation = (b: number) => (b & 0xc0) === 0x80;

/**
 * Start of the line holding `at`, looking back at most `LINE_CAP` bytes; a capped window starts
 * on a character boundary, or decoding it would turn half a character into U+FFFD and shift
 * every byte offset computed from the text.
 */
function lineStart(data: Buffer, at: number): number {
  let stop = Math.max(0, at - LINE_CAP);
  for (let i = at - 1; i >= stop; i--) if (data[i] === 10) return i + 1;
  while (stop < at && isContinuation(data[stop])) stop++;
  return stop;
}

/** End of the line holding `at` (exclusive of the newline), looking ahead at most `LINE_CAP` bytes. */
function lineEnd(data: Buffer, at: number): number {
  let stop = Math.min(data.length, at + LINE_CAP);
  for (let i = at; i < stop; i++) if (data[i] === 10) return i;
  while (stop > at && stop < data.length && isContinuation(data[stop])) stop--;
  return stop;
}
