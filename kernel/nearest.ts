/**
 * Edit distance with adjacent transpositions (optimal string alignment): `scna` is one edit
 * from `scan`, as a person sees it, not two.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The candidates closest to `input` (case-insensitive), nearest first, at most `limit`: those
 * within a few edits (about a quarter of the input's length, at least two), and those that
 * start with it (`vault a` → `vault add`).
 */
export function nearest(input: string, candidates: Iterable<string>, limit = 3): string[] {
  const want = input.toLowerCase();
  const allowed = Math.max(2, Math.floor(want.length / 4));
  const scored: { name: string; distance: number }[] = [];
  for (const name of new Set(candidates)) {
    const have = name.toLowerCase();
    if (have === want) continue;
    const distance = have.startsWith(want) && want.length >= 2 ? 0.5 : editDistance(want, have);
    if (distance <= allowed) scored.push({ name, distance });
  }
  scored.sort((x, y) => x.distance - y.distance || x.name.localeCompare(y.name));
  return scored.slice(0, limit).map((s) => s.name);
}

/** "Did you mean x?" or "Did you mean one of: x, y?" for a list of nearest names; '' for none. */
export function didYouMean(names: string[], show: (name: string) => string = (n) => n): string {
  if (names.length === 0) return '';
  return names.length === 1 ? `Did you mean ${show(names[0])}?` : `Did you mean one of: ${names.map(show).join(', ')}?`;
}
