// Where a spec field is in the YAML text the user edits, so a problem can be shown on its line.

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");

/**
 * The line (1-based) of a field in YAML text, from a path such as `spec.resources.cpu`,
 * `/spec/resources/cpu` or `spec.subscriptions[1]`: the deepest part of the path that is found.
 * Block-style YAML is followed by indentation; inside a flow mapping the key is searched for on the line.
 */
export function lineOfField(text, field) {
  const parts = String(field).replace(/\[(\d+)\]/g, ".$1").split(/[./]/).filter(Boolean);
  const lines = text.split("\n");
  let best = 0;
  let start = 0;
  let indent = -1;
  for (const part of parts) {
    let found = -1;
    for (let i = start; i < lines.length; i++) {
      const line = lines[i];
      if (!line.trim() || line.trim().startsWith("#")) continue;
      const lineIndent = line.length - line.trimStart().length;
      if (i > start && lineIndent <= indent) break;
      const key = new RegExp(`(^|[{,\\s-])["']?${escape(part)}["']?\\s*:`);
      if (key.test(line)) {
        found = i;
        indent = lineIndent;
        break;
      }
    }
    if (found < 0) break;
    best = found + 1;
    start = found;
  }
  return best || 1;
}
