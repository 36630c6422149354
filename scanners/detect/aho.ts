/**
 * Keyword prefilter: an Aho-Corasick automaton compiled to a dense DFA over byte classes.
 * Bytes that occur in no keyword share one class, and ASCII upper case is folded onto lower case
 * in the class map, so the table stays small enough for the CPU cache. Scanning is two table
 * lookups per input byte on the raw Buffer: content with no keyword is never decoded to a string.
 */
export class KeywordAutomaton {
  /** Byte → class. Class 0: the byte is in no keyword. */
  readonly classOf = new Uint8Array(256);
  readonly classes: number;
  /**
   * `delta[state * classes + class]` = next state. Always a Uint16Array so that the scan loop
   * sees one element type (a union of array types makes V8 take its slow path).
   */
  readonly delta: Uint16Array;
  /** Non-zero when the state ends at least one keyword. */
  readonly accepting: Uint8Array;
  /** Keyword indexes ending at each state: `outList[outStart[s] .. outStart[s + 1])`. */
  readonly outStart: Int32Array;
  readonly outList: Int32Array;
  /** Byte length of each keyword. */
  readonly lengths: Int32Array;
  /** Reused between scans: pairs of (state, end offset). */
  private hits: Int32Array<ArrayBuffer> = new Int32Array(4096);

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
    if (count >= 65536) throw new Error(`keywords make ${count} automaton states; the limit is 65535`);
    const delta = new Uint16Array(count * classes);
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
    this.longest = Math.max(1, ...this.lengths);
    let at = 0;
    for (let s = 0; s < count; s++) for (const k of outputs[s]) this.outList[at++] = k;
  }

  /** Longest keyword, in bytes: how far the second stream must start before its half. */
  private readonly longest: number;
  private tail: Int32Array<ArrayBuffer> = new Int32Array(1024);

  /**
   * Scans `data` once. Returns the accepting states reached and where, as a flat array of
   * (state, end offset) pairs in order, and its used length; the array is reused by the next call.
   *
   * The DFA step is a chain of dependent loads, so one stream is bound by memory latency. Two
   * halves are scanned in the same loop as independent chains, which the CPU overlaps: about
   * twice the throughput. The second half starts `longest - 1` bytes early and keeps only the
   * hits that end past the middle, so every occurrence is reported exactly once.
   */
  scanStates(data: Uint8Array): { hits: Int32Array; length: number } {
    const n = data.length;
    if (n < 512) return this.scanRange(data, 0, n, 0);
    const { delta, accepting, classOf, classes } = this;
    const mid = n >> 1;
    const start2 = Math.max(0, mid - (this.longest - 1));
    let a = this.hits;
    let b = this.tail;
    let ha = 0;
    let hb = 0;
    let s1 = 0;
    let s2 = 0;
    const len2 = n - start2; // ≥ mid, the length of the first half
    let k = 0;
    for (; k < mid; k++) {
      s1 = delta[s1 * classes + classOf[data[k]]];
      s2 = delta[s2 * classes + classOf[data[start2 + k]]];
      if ((accepting[s1] | accepting[s2]) !== 0) {
        if (accepting[s1] !== 0) {
          if (ha + 2 > a.length) a = this.hits = grow(a);
          a[ha++] = s1;
          a[ha++] = k + 1;
        }
        if (accepting[s2] !== 0 && start2 + k + 1 > mid) {
          if (hb + 2 > b.length) b = this.tail = grow(b);
          b[hb++] = s2;
          b[hb++] = start2 + k + 1;
        }
      }
    }
    for (; k < len2; k++) {
      s2 = delta[s2 * classes + classOf[data[start2 + k]]];
      if (accepting[s2] !== 0 && start2 + k + 1 > mid) {
        if (hb + 2 > b.length) b = this.tail = grow(b);
        b[hb++] = s2;
        b[hb++] = start2 + k + 1;
      }
    }
    while (ha + hb > a.length) a = this.hits = grow(a);
    a.set(b.subarray(0, hb), ha);
    return { hits: a, length: ha + hb };
  }

  /** One stream over `data[from, to)`, appending after `used` entries of the hit array. */
  private scanRange(data: Uint8Array, from: number, to: number, used: number): { hits: Int32Array; length: number } {
    const { delta, accepting, classOf, classes } = this;
    let hits = this.hits;
    let h = used;
    let state = 0;
    for (let i = from; i < to; i++) {
      state = delta[state * classes + classOf[data[i]]];
      if (accepting[state] !== 0) {
        if (h + 2 > hits.length) hits = this.hits = grow(hits);
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

function grow(array: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const bigger = new Int32Array(array.length * 2);
  bigger.set(array);
  return bigger;
}
