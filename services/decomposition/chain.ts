// The decomposition chain: ask each provider in turn until one answers, and record which one decided
// and why the ones before it did not. Order (createDecomposer): the OpenAI-compatible primary, then
// Anthropic, then the deterministic parser, which always answers.
//
// A provider is skipped when it reports a remaining quota below the threshold, or when it fails: an
// HTTP error, a timeout, an answer that is not the JSON of the contract or that names something the
// catalog does not have. Every call is bounded by the timeout, even a provider that ignores its
// AbortSignal. A cancellation from outside (the activity's signal) is not a failure: it propagates.
import type { DecomposeResult } from '../../domain/decompose.js';
import type { Catalog, ProviderDecision, SkippedProvider } from '../../domain/types.js';
import type { LlmConfig } from '../../lib/llm-config.js';
import { ANTHROPIC_PROVIDER_NAME, createAnthropicProvider } from './anthropic-provider.js';
import { createDeterministicProvider } from './deterministic-provider.js';
import { createOpenAiCompatibleProvider, OPENAI_PROVIDER_NAME } from './openai-provider.js';
import { ProviderError, type DecompositionProvider } from './provider.js';

export type { ProviderDecision, SkippedProvider };

export interface DecompositionOutcome extends ProviderDecision {
  result: DecomposeResult;
}

export interface ChainOptions {
  /** Bound of each provider call, in milliseconds. */
  timeoutMs: number;
  /** A provider reporting less remaining quota than this fraction is skipped. Unset: quota is not checked. */
  minQuota?: number;
  /** Bound of each quota check; default min(timeoutMs, 5000). */
  quotaTimeoutMs?: number;
  /** Cancels the whole chain (e.g. the activity's cancellation signal); the abort propagates. */
  signal?: AbortSignal;
  /** Strings that must never appear in a recorded reason (the API keys), scrubbed as a last guard. */
  redact?: readonly string[];
}

const MAX_REASON_CHARS = 300;

function percent(fraction: number): string {
  return `${Number((fraction * 100).toFixed(1))}%`;
}

function scrub(text: string, secrets: readonly string[]): string {
  let clean = text;
  for (const secret of secrets) if (secret.length > 0) clean = clean.split(secret).join('[redacted]');
  clean = clean.replace(/\s+/g, ' ').trim();
  return clean.length <= MAX_REASON_CHARS ? clean : `${clean.slice(0, MAX_REASON_CHARS - 1)}…`;
}

function describeError(error: unknown): string {
  if (error instanceof ProviderError) return error.message;
  if (error instanceof Error) return `unexpected ${error.name}: ${error.message}`;
  return 'unexpected failure';
}

/** Runs `call` with a signal that aborts on `timeoutMs` or on the outer signal, and never waits longer. */
async function bounded<T>(
  timeoutMs: number,
  outer: AbortSignal | undefined,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<{ value: T } | { error: unknown; timedOut: boolean }> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = outer ? AbortSignal.any([outer, timeout]) : timeout;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return { value: await Promise.race([call(signal), aborted]) };
  } catch (error) {
    if (outer?.aborted) throw outer.reason;
    return { error, timedOut: timeout.aborted };
  } finally {
    signal.removeEventListener('abort', onAbort!);
    aborted.catch(() => undefined);
  }
}

/**
 * Asks `providers` in order until one returns a result. Throws only when the outer signal aborts, or
 * when every provider failed (a chain without the deterministic parser at its end).
 */
export async function decomposeWithProviders(
  message: string,
  catalog: Catalog,
  providers: readonly DecompositionProvider[],
  options: ChainOptions,
): Promise<DecompositionOutcome> {
  const secrets = options.redact ?? [];
  const skipped: SkippedProvider[] = [];
  const skip = (provider: string, reason: string) => skipped.push({ provider, reason: scrub(reason, secrets) });

  for (const provider of providers) {
    if (options.signal?.aborted) throw options.signal.reason;

    let quotaNote = '';
    if (provider.remainingQuota && options.minQuota !== undefined) {
      const quotaTimeoutMs = options.quotaTimeoutMs ?? Math.min(options.timeoutMs, 5_000);
      const quota = await bounded(quotaTimeoutMs, options.signal, (signal) => provider.remainingQuota!(signal));
      if ('value' in quota) {
        if (quota.value !== undefined && quota.value < options.minQuota) {
          skip(provider.name, `quota ${percent(quota.value)} below ${percent(options.minQuota)}`);
          continue;
        }
      } else {
        // An unreadable quota does not stop the provider; it is noted if the provider then fails.
        quotaNote = `quota unknown (${quota.timedOut ? `timed out after ${quotaTimeoutMs} ms` : describeError(quota.error)}); `;
      }
    }

    const answer = await bounded(options.timeoutMs, options.signal, (signal) => provider.decompose(message, catalog, signal));
    if ('value' in answer) {
      return {
        result: answer.value,
        decidedBy: provider.name,
        ...(provider.model !== undefined ? { model: provider.model } : {}),
        skipped,
      };
    }
    skip(provider.name, quotaNote + (answer.timedOut ? `timed out after ${options.timeoutMs} ms` : describeError(answer.error)));
  }

  const reasons = skipped.map((s) => `${s.provider}: ${s.reason}`).join('; ');
  throw new Error(`no decomposition provider answered (${reasons || 'no providers'})`);
}

/** Stands for a provider that is not configured, so the decision records why it was not asked. */
function notConfigured(name: string, reason: string): DecompositionProvider {
  return {
    name,
    async decompose() {
      throw new ProviderError(`not configured (${reason})`);
    },
  };
}

export interface Decomposer {
  (message: string, catalog: Catalog, signal?: AbortSignal): Promise<DecompositionOutcome>;
  /** The provider names, in the order they are asked. */
  readonly providers: readonly string[];
}

/** The chain the decompose activity uses: primary (if configured) → Anthropic (if configured) → deterministic. */
export function createDecomposer(config: LlmConfig): Decomposer {
  const providers: DecompositionProvider[] = [
    config.openai ? createOpenAiCompatibleProvider(config.openai) : notConfigured(OPENAI_PROVIDER_NAME, 'CHIFFON_LLM_BASE_URL is not set'),
    config.anthropic ? createAnthropicProvider(config.anthropic) : notConfigured(ANTHROPIC_PROVIDER_NAME, 'ANTHROPIC_API_KEY is not set'),
    createDeterministicProvider(),
  ];
  const redact = [config.openai?.apiKey?.reveal(), config.anthropic?.apiKey.reveal()].filter((k): k is string => k !== undefined);
  const decompose = (message: string, catalog: Catalog, signal?: AbortSignal) =>
    decomposeWithProviders(message, catalog, providers, {
      timeoutMs: config.timeoutMs,
      minQuota: config.minQuota,
      redact,
      ...(signal ? { signal } : {}),
    });
  return Object.assign(decompose, { providers: providers.map((p) => p.name) });
}
