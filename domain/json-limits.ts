// How deep JSON input may nest. Deeper input is refused where it comes in (the API's bodies, the
// input Update's validator): code that walks a value recursively (validation, the plan hash, the
// extra-vars file) would otherwise overflow its stack on a few thousand levels.
export const MAX_JSON_DEPTH = 32;

/** How deep a JSON text nests ([ and { outside strings), read without parsing it. */
export function jsonTextDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (inString) {
      if (char === '\\') i++;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === '[' || char === '{') deepest = Math.max(deepest, ++depth);
    else if (char === ']' || char === '}') depth--;
  }
  return deepest;
}

/** How deep a value nests (a scalar is 0, [] or {} is 1), walked without recursion; MAX_JSON_DEPTH + 1 for anything deeper. */
export function jsonValueDepth(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (typeof item !== 'object' || item === null) continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest > MAX_JSON_DEPTH) return deepest; // deep enough to refuse; no need to walk it all
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return deepest;
}
