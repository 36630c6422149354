import { LineCounter, isNode, parseDocument } from 'yaml';
import type { z } from 'zod';

/** A problem in a config file, with the line it is on (1-based; 0 when unknown). */
export interface ConfigProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

export interface ParsedYaml<T> {
  value?: T;
  problems: ConfigProblem[];
  /** Line and column of the node at `path` (or its nearest existing parent). */
  locate(path: (string | number)[]): { line: number; column: number };
}

/**
 * Parses YAML and validates it against a zod schema, reporting every problem with its line and
 * column. Never throws on bad input. Loads the yaml and zod libraries: keep it off hot paths.
 */
export function parseYamlConfig<S extends z.ZodType>(text: string, file: string, schema: S): ParsedYaml<z.infer<S>> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: ConfigProblem[] = [];
  const at = (offset: number | undefined) => {
    const pos = lineCounter.linePos(offset ?? 0);
    return { line: pos.line, column: pos.col };
  };
  const locate = (path: (string | number)[]) => {
    let node: unknown;
    for (let n = path.length; n >= 0 && !isNode(node); n--) node = doc.getIn(path.slice(0, n), true);
    return at(isNode(node) ? node.range?.[0] : undefined);
  };
  for (const error of doc.errors) problems.push({ file, ...at(error.pos[0]), message: error.message.split('\n')[0] });
  if (problems.length > 0) return { problems, locate };

  const value: unknown = doc.toJS() ?? {};
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      let path = issue.path as (string | number)[];
      if (issue.code === 'unrecognized_keys') path = [...path, issue.keys[0]];
      const where = path.length ? `${path.join('.')}: ` : '';
      const missing = issue.code !== 'unrecognized_keys' && path.length > 0 && valueAt(value, path) === undefined;
      problems.push({ file, ...locate(path), message: `${where}${missing ? 'is required' : issue.message}` });
    }
    return { problems, locate };
  }
  return { value: parsed.data, problems, locate };
}

function valueAt(value: unknown, path: (string | number)[]): unknown {
  let v = value;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[key];
  }
  return v;
}

export function formatProblems(problems: ConfigProblem[]): string {
  return problems.map((p) => `  ${p.file}${p.line ? `:${p.line}:${p.column}` : ''} ${p.message}`).join('\n');
}
