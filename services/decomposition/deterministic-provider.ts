// The deterministic parser as a provider: the default when no model is configured and the last
// resort when every model failed. It needs no network and never throws for a request it does not
// understand: it answers which services are known instead.
import { decomposeRequest } from '../../domain/decompose.js';
import type { DecompositionProvider } from './provider.js';

export const DETERMINISTIC_PROVIDER_NAME = 'deterministic';

export function createDeterministicProvider(): DecompositionProvider {
  return {
    name: DETERMINISTIC_PROVIDER_NAME,
    async decompose(message, catalog) {
      return decomposeRequest(message, catalog);
    },
  };
}
