// A module result's `diff` (what `--diff` adds to it) as the unified diff ansible's own output
// prints. A result carries one diff or a list: each with `before`/`after` (text, or a mapping such as
// the file module's {path, state}), optional headers, `prepared` text a module rendered itself
// (apt, git), or a note that the content was binary or too large to compare.
import { createTwoFilesPatch, FILE_HEADERS_ONLY } from 'diff';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A side of the diff as text: mappings as sorted-key JSON lines, as ansible serializes them. */
function sideText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  const sorted = (item: unknown): unknown =>
    isObject(item)
      ? Object.fromEntries(
          Object.keys(item)
            .sort()
            .map((key) => [key, sorted(item[key])]),
        )
      : Array.isArray(item)
        ? item.map(sorted)
        : item;
  return `${JSON.stringify(sorted(value), null, 4)}\n`;
}

const SKIPPED_NOTES: [key: string, note: (value: unknown) => string][] = [
  ['dst_binary', () => 'diff skipped: destination file appears to be binary'],
  ['src_binary', () => 'diff skipped: source file appears to be binary'],
  ['dst_larger', (size) => `diff skipped: destination file size is greater than ${String(size)}`],
  ['src_larger', (size) => `diff skipped: source file size is greater than ${String(size)}`],
];

function renderOne(diff: Json): string {
  const parts: string[] = [];
  for (const [key, note] of SKIPPED_NOTES) if (key in diff) parts.push(`${note(diff[key])}\n`);
  if ('before' in diff && 'after' in diff) {
    const before = sideText(diff.before);
    const after = sideText(diff.after);
    if (before !== after) {
      const beforeHeader = typeof diff.before_header === 'string' ? `before: ${diff.before_header}` : 'before';
      const afterHeader = typeof diff.after_header === 'string' ? `after: ${diff.after_header}` : 'after';
      parts.push(
        createTwoFilesPatch(beforeHeader, afterHeader, before, after, undefined, undefined, {
          context: 3,
          headerOptions: FILE_HEADERS_ONLY,
        }),
      );
    }
  }
  if (typeof diff.prepared === 'string' && diff.prepared.length > 0)
    parts.push(diff.prepared.endsWith('\n') ? diff.prepared : `${diff.prepared}\n`);
  return parts.join('');
}

/** The diff text of a result's `diff` field; empty when it shows no difference. */
export function renderAnsibleDiff(diff: unknown): string {
  const list = Array.isArray(diff) ? diff : [diff];
  return list.filter(isObject).map(renderOne).join('');
}
