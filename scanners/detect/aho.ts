/**
 * Keyword prefilter: an Aho-Corasick automaton compiled to a dense DFA over byte classes.
 * Bytes that occur in no keyword share one class, and ASCII upper case is folded onto lower case
 * in the class map, so the table stays small enough for the CPU cache. Scanning is two table
 * lookups per input byte on the raw Buffer: content with no keyword is never decoded to a string.
 */
export class KeywordAutomaton {
  /** Byte → class. Class 0: the byte is in no keyword. */
  private readonly classOf = new Uint8Array(256);
  private readonly classes: number;
  /** `delta[state * classes + class]` = next state. */
  private readonly delta: Uint16Array | Int32Array;
  /** Non-zero when the state ends at least one keyword. */
  private readonly accepting: Uint8Array;
  /** Keyword indexes ending at each state: `outList[outStart[s] .. outStart[s + 1])`. */
  readonly outStart: Int32Array;
  readonly outList: Int32Array;
  /** Byte length of each keyword. */
  readonly lengths: Int32Array;
  /** Reused between scans: pairs of (state, end offset). */
  private hits = new Int32Array(4096);

  constructor(keywords: readonly string[]) {
    const patterns = keywords.map((k) => Buffer.from(k.toLowerCase(), 'utf8'));
    this.lengths = Int32Array.from(patterns, (p) => p.length);
    const fold = (b: number) => (b >= 0x41 && b <= 0x5a ? b + 0x20 : b);
    let classes = 1;
    for (const p of patterns) {
      for (const b of p) {
        const lower = fold(b);
        if (this.classOf[lower] === 0) {
          this.classOf[lower] = classes;
          if (lower >= 0x61 && lower <= 0x7a) this.classOf[lower - 0x20] = classes;
          classes++;
        }
      }
    }
    if (classes > 255) throw new Error('too many distinct keyword bytes');
    this.classes = classes;

    // Trie over classes, then BFS to fill failure links and the dense table.
    const children: Map<number, number>[] = [new Map()];
    const outputs: number[][] = [[]];
    patterns.forEach((bytes, index) => {
      if (bytes.length === 0) throw new Error(`keyword ${index} is empty`);
      let state = 0;
      for (const b of bytes) {
        const c = this.classOf[b];
        let next = children[state].get(c);
        if (next === undefined) {
          next = children.length;
          children.push(new Map());
          outputs.push([]);
          children[state].set(c, next);
        }
        state = next;
      }
      outputs[state].push(index);
    });

    const count = children.length;
    const delta = count < 65536 ? new Uint16Array(count * classes) : new Int32Array(count * classes);
    const fail = new Int32Array(count);
    const order: number[] = [];
    for (let c = 1; c < classes; c++) {
      const next = children[0].get(c);
      if (next !== undefined) {
        delta[c] = next;
        order.push(next);
      }
    }
    for (let i = 0; i < order.length; i++) {
      const state = order[i];
      outputs[state] = outputs[state].concat(outputs[fail[state]]);
      for (let c = 1; c < classes; c++) {
        const next = children[state].get(c);
        if (next !== undefined) {
          fail[next] = delta[fail[state] * classes + c];
          delta[state * classes + c] = next;
          order.push(next);
        } else {
          delta[state * classes + c] = delta[fail[state] * classes + c];
        }
      }
    }

    this.delta = delta;
    this.accepting = new Uint8Array(count);
    this.outStart = new Int32Array(count + 1);
    let total = 0;
    for (let s = 0; s < count; s++) {
      this.outStart[s] = total;
      total += outputs[s].length;
      if (outputs[s].length > 0) this.accepting[s] = 1;
    }
    this.outStart[count] = total;
    this.outList = new Int32Array(total);
    let at = 0;
    for (let s = 0; s < count; s++) for (const k of outputs[s]) this.outList[at++] = k;
  }

  /**
   * Scans `data` once. Returns the accepting states reached and where, as a flat array of
   * (state, end offset) pairs and its used length; the array is reused by the next call.
   */
  scanStates(data: Uint8Array): { hits: Int32Array; length: number } {
    const { delta, accepting, classOf, classes } = this;
    let hits = this.hits;
    let h = 0;
    let state = 0;
    const n = data.length;
    for (let i = 0; i < n; i++) {
      state = delta[state * classes + classOf[data[i]]];
      if (accepting[state] !== 0) {
        if (h + 2 > hits.length) {
          const bigger = new Int32Array(hits.length * 2);
          bigger.set(hits);
          hits = this.hits = bigger;
        }
        hits[h++] = state;
        hits[h++] = i + 1;
      }
    }
    return { hits, length: h };
  }

  /** Calls `onHit(keyword, end)` for every keyword occurrence, `end` being the offset just past it. */
  scan(data: Uint8Array, onHit: (keyword: number, end: number) => void): void {
    const { hits, length } = this.scanStates(data);
    for (let i = 0; i < length; i += 2) {
      const state = hits[i];
      for (let j = this.outStart[state], e = this.outStart[state + 1]; j < e; j++) onHit(this.outList[j], hits[i + 1]);
    }
  }
}
