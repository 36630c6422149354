/**
 * Keyword prefilter: an Aho-Corasick automaton compiled to a dense DFA over bytes, with ASCII
 * case folded into the transition table. Scanning is one table lookup per input byte, on the raw
 * Buffer: content with no keyword is never decoded to a string.
 */
export class KeywordAutomaton {
  /** `delta[state * 256 + byte]` = next state. */
  private readonly delta: Int32Array;
  /** Non-zero when the state ends at least one keyword. */
  private readonly accepting: Uint8Array;
  /** Keyword indexes ending at each state: `outList[outStart[s] .. outStart[s + 1])`. */
  private readonly outStart: Int32Array;
  private readonly outList: Int32Array;
  /** Byte length of each keyword. */
  readonly lengths: Int32Array;

  constructor(keywords: readonly string[]) {
    const patterns = keywords.map((k) => Buffer.from(k.toLowerCase(), 'utf8'));
    this.lengths = Int32Array.from(patterns, (p) => p.length);

    // Trie with sparse children, then BFS to fill failure links and the dense table.
    const children: Map<number, number>[] = [new Map()];
    const outputs: number[][] = [[]];
    patterns.forEach((bytes, index) => {
      if (bytes.length === 0) throw new Error(`keyword ${index} is empty`);
      let state = 0;
      for (const b of bytes) {
        let next = children[state].get(b);
        if (next === undefined) {
          next = children.length;
          children.push(new Map());
          outputs.push([]);
          children[state].set(b, next);
        }
        state = next;
      }
      outputs[state].push(index);
    });

    const count = children.length;
    const delta = new Int32Array(count * 256);
    const fail = new Int32Array(count);
    const order: number[] = [];
    for (let b = 0; b < 256; b++) {
      const next = children[0].get(b);
      if (next !== undefined) {
        delta[b] = next;
        fail[next] = 0;
        order.push(next);
      }
    }
    for (let i = 0; i < order.length; i++) {
      const state = order[i];
      outputs[state] = outputs[state].concat(outputs[fail[state]]);
      for (let b = 0; b < 256; b++) {
        const next = children[state].get(b);
        if (next !== undefined) {
          fail[next] = delta[fail[state] * 256 + b];
          delta[state * 256 + b] = next;
          order.push(next);
        } else {
          delta[state * 256 + b] = delta[fail[state] * 256 + b];
        }
      }
    }
    // Fold ASCII upper case onto lower case: the keywords are lower case.
    for (let s = 0; s < count; s++) {
      for (let b = 0x41; b <= 0x5a; b++) delta[s * 256 + b] = delta[s * 256 + b + 0x20];
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
   * Calls `onHit(keyword, end)` for every keyword occurrence, `end` being the offset just past it.
   * Each byte of `data` is examined once.
   */
  scan(data: Uint8Array, onHit: (keyword: number, end: number) => void): void {
    const { delta, accepting, outStart, outList } = this;
    let state = 0;
    const n = data.length;
    for (let i = 0; i < n; i++) {
      state = delta[(state << 8) | data[i]];
      if (accepting[state] !== 0) {
        for (let j = outStart[state], e = outStart[state + 1]; j < e; j++) onHit(outList[j], i + 1);
      }
    }
  }
}
