// The deterministic request parser: reads a sentence against the playbook catalog, so every intent it
// returns is something a real playbook can do. "Deploy Kuma Uptime and add our existing portals to
// the config" → deploy_kuma (kuma-deploy.yml), add_portals_to_config (kuma-config-update.yml).
import type { Catalog, Intent, IntentSpec, PlaybookEntry, ProviderDecision } from './types.js';

export type DecomposeResult = ({ ok: true; intents: Intent[] } | { ok: false; message: string; knownServices: string[] }) & {
  /** Which provider decided (set by the decompose activity's provider chain). */
  provider?: ProviderDecision;
};

/** Clauses are joined by "and", "then", commas and full stops; each asks for one thing. */
const CLAUSE_SEPARATOR = /\s*(?:[,;.!?]|\band then\b|\bthen\b|\band\b|\balso\b)\s*/;

function normalize(text: string): string {
  return ` ${text
    .toLowerCase()
    .replace(/[^a-z0-9\s-]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()} `;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** True when `phrase` appears in `clause` as whole words (inflections such as "deploying" count). */
function mentions(clause: string, phrase: string): boolean {
  const words = normalize(phrase).trim();
  if (!words) return false;
  return new RegExp(`(?:^|\\s)${escapeRegExp(words)}(?:s|es|d|ed|ing)?(?=\\s|$)`).test(clause);
}

export function knownServices(catalog: Catalog): string[] {
  return [...new Set(catalog.playbooks.map((p) => p.service))].sort();
}

/** The service a clause names, longest name first so "uptime kuma" wins over a shorter alias. */
function serviceMentioned(clause: string, catalog: Catalog): string | undefined {
  const names = catalog.playbooks.flatMap((p) => [p.service, ...p.aliases].map((name) => ({ name, service: p.service })));
  names.sort((a, b) => b.name.length - a.name.length);
  return names.find(({ name }) => mentions(clause, name))?.service;
}

interface Candidate {
  playbook: PlaybookEntry;
  spec: IntentSpec;
}

/**
 * Intents of `playbooks` whose verb and every object appear in the clause; the most specific first:
 * more objects, then the playbook that does fewer things (a service's own playbook before the site
 * playbook that also applies it).
 */
function matchingIntents(clause: string, playbooks: PlaybookEntry[], breadth: ReadonlyMap<string, number>): Candidate[] {
  const matches: Candidate[] = [];
  for (const playbook of playbooks) {
    for (const spec of playbook.intents) {
      const verbMatches = spec.verbs.some((verb) => mentions(clause, verb));
      const objectsMatch = spec.objects.every((object) => mentions(clause, object));
      if (verbMatches && objectsMatch) matches.push({ playbook, spec });
    }
  }
  return matches.sort(
    (a, b) => b.spec.objects.length - a.spec.objects.length || breadth.get(a.playbook.path)! - breadth.get(b.playbook.path)!,
  );
}

export function decomposeRequest(message: string, catalog: Catalog): DecomposeResult {
  const intents: Intent[] = [];
  const breadth = new Map<string, number>();
  for (const p of catalog.playbooks) breadth.set(p.path, (breadth.get(p.path) ?? 0) + 1);
  // A clause that names no service continues the previous one: "deploy kuma and add the portals";
  // one that names a service but no verb takes the previous verb: "enable sonarr and radarr".
  let currentService: string | undefined;
  let previousClause = '';
  for (const rawClause of message.split(CLAUSE_SEPARATOR)) {
    const clause = normalize(rawClause);
    if (!clause.trim()) continue;
    const named = serviceMentioned(clause, catalog);
    currentService = named ?? currentService;
    const inScope = currentService
      ? catalog.playbooks.filter((p) => p.service === currentService)
      : // With no service in sight, only intents with explicit objects, or actions on the hosts
        // themselves ("update all my servers"), are specific enough.
        catalog.playbooks.filter((p) => p.intents.some((i) => i.objects.length > 0 || i.fleet));
    const best =
      matchingIntents(clause, inScope, breadth)[0] ??
      (named
        ? matchingIntents(`${previousClause} ${clause}`, inScope, breadth)[0]
        : matchingIntents(
            clause,
            catalog.playbooks.filter((p) => p.intents.some((i) => i.fleet)),
            breadth,
          ).find((c) => c.spec.fleet));
    if (!best || (!currentService && best.spec.objects.length === 0 && !best.spec.fleet)) continue;
    previousClause = clause;
    if (intents.some((i) => i.name === best.spec.name)) continue;
    intents.push({ name: best.spec.name, service: best.playbook.service, playbook: best.playbook.path, source: rawClause.trim() });
  }
  if (intents.length === 0) {
    const services = knownServices(catalog);
    return {
      ok: false,
      knownServices: services,
      message: `Chiffon found nothing it can do in this request. Known services: ${services.join(', ') || 'none (the playbook catalog is empty)'}.`,
    };
  }
  return { ok: true, intents };
}
