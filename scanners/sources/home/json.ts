import { parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';
import { OffsetMap, ValueIndex, argPairView, basicAuthView, formatKeyPath, lineColumn, type ConfigView, type ParsedConfig, type PathPart } from './parsed.js';

/**
 * JSON and JSON with comments (VS Code, Zed, Claude Code settings): jsonc-parser gives every
 * value its offset, so a match maps to the key path of the value holding it. Comments and
 * trailing commas are accepted everywhere: a scanner has no reason to be stricter than the
 * most lenient client.
 */
export function parseJson(data: Buffer): ParsedConfig {
  const text = data.toString('utf8');
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { allowTrailingComma: true, disallowComments: false, allowEmptyContent: true });
  const offsets = new OffsetMap(text);
  const index = new ValueIndex();
  const views: ConfigView[] = [];
  if (root) walk(root, [], index, views, offsets, text);
  const error = errors[0];
  return {
    keyPathAt: (offset) => index.at(offset),
    views,
    ...(error ? { error: describe(error, data, offsets) } : {}),
  };
}

function describe(error: ParseError, data: Buffer, offsets: OffsetMap): string {
  const { line, column } = lineColumn(data, offsets.byte(error.offset));
  return `not valid JSON: ${printParseErrorCode(error.error)} at line ${line}, column ${column}`;
}

function walk(node: Node, path: PathPart[], index: ValueIndex, views: ConfigView[], offsets: OffsetMap, text: string): void {
  if (node.type === 'object') {
    const props = node.children ?? [];
    for (const prop of props) {
      const [key, value] = prop.children ?? [];
      if (!key || !value) continue;
      const child = [...path, String(key.value)];
      walk(value, child, index, views, offsets, text);
    }
    // {"name": "API_TOKEN", "value": "…"} (kube exec env, some MCP clients).
    const name = props.find((p) => p.children?.[0]?.value === 'name')?.children?.[1];
    const value = props.find((p) => p.children?.[0]?.value === 'value')?.children?.[1];
    if (name?.type === 'string' && value?.type === 'string') {
      views.push({ keyPath: formatKeyPath([...path, 'value']), offset: offsets.byte(value.offset), text: `${name.value}=${value.value}\n` });
    }
    // docker/containers config: auths.<registry>.auth is base64 of user:password.
    const auth = props.find((p) => p.children?.[0]?.value === 'auth')?.children?.[1];
    if (auth?.type === 'string' && path[path.length - 2] === 'auths') {
      const view = basicAuthView(String(auth.value), formatKeyPath([...path, 'auth']), offsets.byte(auth.offset));
      if (view) views.push(view);
    }
    return;
  }
  if (node.type === 'array') {
    const items = node.children ?? [];
    items.forEach((item, i) => walk(item, [...path, i], index, views, offsets, text));
    // "args": ["--api-key", "…"]
    for (let i = 0; i + 1 < items.length; i++) {
      const flag = items[i];
      const value = items[i + 1];
      if (flag.type !== 'string' || value.type !== 'string') continue;
      const view = argPairView(String(flag.value), String(value.value), formatKeyPath([...path, i + 1]), offsets.byte(value.offset));
      if (view) views.push(view);
    }
    return;
  }
  index.add(offsets.byte(node.offset), offsets.byte(node.offset + node.length), formatKeyPath(path));
  // A string with escapes (\" \u0026 \n: image history, shell commands) is also scanned unescaped.
  if (node.type === 'string' && text.slice(node.offset, node.offset + node.length).includes('\\')) {
    views.push({ keyPath: formatKeyPath(path), offset: offsets.byte(node.offset), text: `${String(node.value)}\n` });
  }
}
