// The primary provider: any OpenAI-compatible chat-completions API (a LiteLLM proxy, Ollama's /v1, a
// hosted model). It asks for a JSON object (`response_format: {type: "json_object"}`) and hands the
// answer to validateModelIntents, so only intents of the catalog ever come out of it.
//
// Optionally it reads its remaining quota from a configured endpoint (see remainingQuotaFrom), so the
// chain can skip it before it runs dry.
import { z } from 'zod';
import { buildDecompositionPrompt, validateModelIntents } from '../../domain/intent-schema.js';
import type { OpenAiCompatibleConfig } from '../../lib/llm-config.js';
import { ProviderError, requestJson, type DecompositionProvider } from './provider.js';

export const OPENAI_PROVIDER_NAME = 'openai-compatible';

const chatCompletionSchema = z.object({
  choices: z
    .array(
      z.object({
        message: z.object({ content: z.string().nullish(), refusal: z.string().nullish() }),
        finish_reason: z.string().nullish(),
      }),
    )
    .min(1),
});

const quotaSchema = z.union([
  z.object({ remaining_fraction: z.number().finite() }),
  z.object({ remaining: z.number().finite(), limit: z.number().finite().positive() }),
  // LiteLLM's GET /key/info: {"key": ..., "info": {"spend": 8.5, "max_budget": 10, ...}}
  z.object({ info: z.object({ spend: z.number().finite(), max_budget: z.number().finite().positive().nullish() }) }),
]);

const clamp = (value: number) => Math.min(1, Math.max(0, value));

/**
 * The remaining quota, as a fraction, from one of the documented answers of a quota endpoint:
 * `{"remaining_fraction": 0.15}`, `{"remaining": 15, "limit": 100}`, or LiteLLM's `/key/info`
 * (`{"info": {"spend": 8.5, "max_budget": 10}}`; no max_budget means no limit → undefined).
 */
export function remainingQuotaFrom(answer: unknown): number | undefined {
  const parsed = quotaSchema.safeParse(answer);
  if (!parsed.success) throw new ProviderError('the quota endpoint answered none of the documented shapes');
  const quota = parsed.data;
  if ('remaining_fraction' in quota) return clamp(quota.remaining_fraction);
  if ('remaining' in quota) return clamp(quota.remaining / quota.limit);
  const { spend, max_budget: budget } = quota.info;
  return budget == null ? undefined : clamp((budget - spend) / budget);
}

export function createOpenAiCompatibleProvider(config: OpenAiCompatibleConfig): DecompositionProvider {
  const authorization: Record<string, string> = config.apiKey ? { authorization: `Bearer ${config.apiKey.reveal()}` } : {};

  const provider: DecompositionProvider = {
    name: OPENAI_PROVIDER_NAME,
    model: config.model,

    async decompose(message, catalog, signal) {
      const prompt = buildDecompositionPrompt(message, catalog);
      const answer = await requestJson({
        method: 'POST',
        url: `${config.baseUrl}/chat/completions`,
        headers: authorization,
        body: {
          model: config.model,
          messages: [
            { role: 'system', content: prompt.system },
            { role: 'user', content: prompt.user },
          ],
          temperature: 0,
          response_format: { type: 'json_object' },
          stream: false,
        },
        signal,
        what: 'chat/completions',
      });
      const parsed = chatCompletionSchema.safeParse(answer);
      if (!parsed.success) throw new ProviderError('chat/completions answered something that is not a chat completion');
      const choice = parsed.data.choices[0]!;
      if (choice.finish_reason === 'length') throw new ProviderError('the model ran out of tokens before finishing its answer');
      if (choice.message.refusal || !choice.message.content) throw new ProviderError('the model answered no content');
      const validated = validateModelIntents(choice.message.content, catalog);
      if (!validated.ok) throw new ProviderError(`the model's answer was refused: ${validated.reason}`);
      return { ok: true, intents: validated.intents };
    },
  };

  if (config.quotaUrl) {
    const quotaUrl = config.quotaUrl;
    provider.remainingQuota = async (signal) =>
      remainingQuotaFrom(await requestJson({ method: 'GET', url: quotaUrl, headers: authorization, signal, what: 'quota' }));
  }
  return provider;
}
