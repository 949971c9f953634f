// How Chiffon reaches Temporal: the local dev server by default, or any cluster through Temporal's
// standard environment configuration (@temporalio/envconfig): TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
// TEMPORAL_API_KEY, TEMPORAL_TLS*, or a profile of a temporal.toml (TEMPORAL_CONFIG_FILE,
// TEMPORAL_PROFILE) — the same settings the `temporal` CLI reads.
import { defaultGrpcRetryOptions, makeGrpcRetryInterceptor, type ConnectionOptions } from '@temporalio/client';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { ChiffonConfig } from './config.js';

export interface TemporalConnectSettings {
  /** For NativeConnection.connect (workers) and Connection.connect (clients) alike. */
  connectionOptions: NativeConnectionOptions & { address: string };
  namespace: string;
}

export function temporalConnectSettings(config: Pick<ChiffonConfig, 'temporalAddress' | 'temporalNamespace'>): TemporalConnectSettings {
  const { connectionOptions, namespace } = loadClientConnectConfig({ profile: process.env.TEMPORAL_PROFILE || undefined });
  return {
    connectionOptions: { ...connectionOptions, address: connectionOptions.address ?? config.temporalAddress },
    namespace: namespace ?? config.temporalNamespace,
  };
}

/**
 * The API's client connection: it retries an unavailable server for about 2 s (5 attempts), not the
 * SDK's default ~20 s, so a person gets the 503 temporal_unavailable (with Retry-After) at once
 * instead of a request that hangs. Workers keep the default and ride out longer outages.
 */
export function apiConnectionOptions(options: ConnectionOptions): ConnectionOptions {
  return {
    ...options,
    interceptors: [...(options.interceptors ?? []), makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 5 }))],
  };
}

/** Where, in words for a log line: the address, and whether TLS or an API key is in use (never the key). */
export function describeTemporalConnection({ connectionOptions, namespace }: TemporalConnectSettings): string {
  const extras = [connectionOptions.tls ? 'TLS' : undefined, connectionOptions.apiKey ? 'API key' : undefined].filter(Boolean);
  return `${connectionOptions.address} (namespace ${namespace}${extras.length ? `; ${extras.join(', ')}` : ''})`;
}
