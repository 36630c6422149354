import { LineCounter, isMap, isPair, isScalar, isSeq, parseAllDocuments, type Node } from 'yaml';
import { OffsetMap, ValueIndex, argPairView, formatKeyPath, type ConfigView, type ParsedConfig, type PathPart } from './parsed.js';

/** YAML (kube config, gh hosts, Continue): node ranges from the `yaml` package map matches to key paths. */
export function parseYaml(data: Buffer): ParsedConfig {
  const text = data.toString('utf8');
  const lines = new LineCounter();
  const offsets = new OffsetMap(text);
  const index = new ValueIndex();
  const views: ConfigView[] = [];
  let error: string | undefined;
  try {
    const parsed = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false });
    const docs = Array.isArray(parsed) ? parsed : [];
    for (const doc of docs) {
      if (doc.errors.length > 0) {
        const e = doc.errors[0];
        const at = lines.linePos(e.pos[0]);
        error = `not valid YAML: ${e.code.toLowerCase().replace(/_/g, ' ')} at line ${at.line}, column ${at.col}`;
      }
      if (doc.contents) walk(doc.contents as Node, [], index, views, offsets);
    }
  } catch {
    error = 'not valid YAML';
  }
  return { keyPathAt: (offset) => index.at(offset), views, ...(error ? { error } : {}) };
}

function walk(node: Node, path: PathPart[], index: ValueIndex, views: ConfigView[], offsets: OffsetMap): void {
  if (isMap(node)) {
    let name: string | undefined;
    let value: Node | undefined;
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      if (pair.value) walk(pair.value as Node, [...path, key], index, views, offsets);
      if (key === 'name' && isScalar(pair.value)) name = String(pair.value.value);
      if (key === 'value' && isScalar(pair.value)) value = pair.value as Node;
    }
    // kube exec plugins: env: [{name: API_TOKEN, value: …}]
    if (name !== undefined && value && isScalar(value) && value.range) {
      views.push({ keyPath: formatKeyPath([...path, 'value']), offset: offsets.byte(value.range[0]), text: `${name}=${String(value.value)}\n` });
    }
    return;
  }
  if (isSeq(node)) {
    const items = node.items as Node[];
    items.forEach((item, i) => item && walk(item, [...path, i], index, views, offsets));
    for (let i = 0; i + 1 < items.length; i++) {
      const flag = items[i];
      const value = items[i + 1];
      if (!isScalar(flag) || !isScalar(value) || !value.range) continue;
      const view = argPairView(String(flag.value), String(value.value), formatKeyPath([...path, i + 1]), offsets.byte(value.range[0]));
      if (view) views.push(view);
    }
    return;
  }
  if (node.range) index.add(offsets.byte(node.range[0]), offsets.byte(node.range[1]), formatKeyPath(path));
}
