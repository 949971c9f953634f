// The external provider: Anthropic's Messages API (Claude), used when the primary is low on quota or
// fails. Same prompt, same validation against the catalog as the primary.
import { z } from 'zod';
import { buildDecompositionPrompt, validateModelIntents } from '../../domain/intent-schema.js';
import type { AnthropicConfig } from '../../lib/llm-config.js';
import { ProviderError, requestJson, type DecompositionProvider } from './provider.js';

export const ANTHROPIC_PROVIDER_NAME = 'anthropic';
export const ANTHROPIC_VERSION = '2023-06-01';
/** The answer is a short JSON object; this bounds a model that does not stop. */
const MAX_TOKENS = 1024;

const messageSchema = z.object({
  content: z.array(z.object({ type: z.string(), text: z.string().optional() })),
  stop_reason: z.string().nullish(),
});

export function createAnthropicProvider(config: AnthropicConfig): DecompositionProvider {
  return {
    name: ANTHROPIC_PROVIDER_NAME,
    model: config.model,

    async decompose(message, catalog, signal) {
      const prompt = buildDecompositionPrompt(message, catalog);
      const answer = await requestJson({
        method: 'POST',
        url: `${config.baseUrl}/v1/messages`,
        headers: { 'x-api-key': config.apiKey.reveal(), 'anthropic-version': ANTHROPIC_VERSION },
        body: {
          model: config.model,
          max_tokens: MAX_TOKENS,
          system: prompt.system,
          messages: [{ role: 'user', content: prompt.user }],
          temperature: 0,
        },
        signal,
        what: 'messages',
      });
      const parsed = messageSchema.safeParse(answer);
      if (!parsed.success) throw new ProviderError('messages answered something that is not a Messages API response');
      if (parsed.data.stop_reason === 'max_tokens') throw new ProviderError('the model ran out of tokens before finishing its answer');
      if (parsed.data.stop_reason === 'refusal') throw new ProviderError('the model refused to answer');
      const text = parsed.data.content
        .filter((block) => block.type === 'text' && block.text !== undefined)
        .map((block) => block.text)
        .join('');
      if (!text.trim()) throw new ProviderError('the model answered no text');
      const validated = validateModelIntents(text, catalog);
      if (!validated.ok) throw new ProviderError(`the model's answer was refused: ${validated.reason}`);
      return { ok: true, intents: validated.intents };
    },
  };
}
