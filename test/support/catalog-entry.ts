// A catalog entry for unit tests: the fields a test names, empty defaults for the rest.
import type { PlaybookEntry } from '../../domain/types.js';

export function playbookEntry(entry: Partial<PlaybookEntry> & Pick<PlaybookEntry, 'path' | 'service' | 'intents'>): PlaybookEntry {
  return { aliases: [], description: '', vars: [], after: [], ...entry };
}
