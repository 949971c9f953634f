// Configuration of the decomposition providers, read from the environment. Nothing configured means
// the deterministic parser alone, so a fresh clone needs no model and no key.
//
// API keys are held in a `Secret`: printing, inspecting or JSON-serializing the configuration shows
// `[redacted]`, so a key cannot reach a log line or a Temporal payload by accident.
import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/** A value that is only readable through `reveal()`. */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

/** An OpenAI-compatible chat-completions endpoint: a LiteLLM proxy, Ollama, or a hosted model. */
export interface OpenAiCompatibleConfig {
  /** Base URL without the trailing `/chat/completions` (e.g. `http://127.0.0.1:11434/v1`). */
  baseUrl: string;
  model: string;
  /** Sent as `Authorization: Bearer <key>`; optional (Ollama needs none). */
  apiKey?: Secret;
  /**
   * Optional endpoint that answers the remaining quota (GET, with the same bearer key). Accepted
   * answers: `{"remaining_fraction": 0.15}`, `{"remaining": 15, "limit": 100}`, or LiteLLM's
   * `/key/info` (`{"info": {"spend": 8.5, "max_budget": 10}}`).
   */
  quotaUrl?: string;
}

/** Anthropic's Messages API (Claude). */
export interface AnthropicConfig {
  /** Default `https://api.anthropic.com`; requests go to `<baseUrl>/v1/messages`. */
  baseUrl: string;
  model: string;
  apiKey: Secret;
}

export interface LlmConfig {
  /** The primary provider; absent when CHIFFON_LLM_BASE_URL is not set. */
  openai?: OpenAiCompatibleConfig;
  /** The external provider; absent when ANTHROPIC_API_KEY is not set. */
  anthropic?: AnthropicConfig;
  /** Below this remaining quota (a fraction, 0..1) the primary is skipped. Default 0.2. */
  minQuota: number;
  /** Timeout of each provider call (and of the quota check), in milliseconds. Default 20000. */
  timeoutMs: number;
}

export const DEFAULT_ANTHROPIC_BASE_URL = 'https://api.anthropic.com';
export const DEFAULT_ANTHROPIC_MODEL = 'claude-haiku-4-5';
export const DEFAULT_MIN_QUOTA = 0.2;
export const DEFAULT_LLM_TIMEOUT_MS = 20_000;

function nonEmpty(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

/**
 * An http(s) URL without credentials, query or fragment, with no trailing slash. Error messages name
 * the variable, never its value (which might hold a token someone pasted into it).
 */
function httpUrl(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = nonEmpty(env, name);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${name} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${name} must be an http(s) URL`);
  if (url.username || url.password) throw new Error(`${name} must not carry credentials; use the API key variable`);
  if (url.search || url.hash) throw new Error(`${name} must not carry a query or fragment`);
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

/** `0.2` or `20%`. */
function fraction(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = nonEmpty(env, name);
  if (raw === undefined) return fallback;
  const value = raw.endsWith('%') ? Number(raw.slice(0, -1)) / 100 : Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > 1)
    throw new Error(`${name}=${raw} is not a fraction between 0 and 1 (or a percentage)`);
  return value;
}

function positiveInteger(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = nonEmpty(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}=${raw} is not a positive integer`);
  return value;
}

export function loadLlmConfig(env: NodeJS.ProcessEnv = process.env): LlmConfig {
  const config: LlmConfig = {
    minQuota: fraction(env, 'CHIFFON_LLM_MIN_QUOTA', DEFAULT_MIN_QUOTA),
    timeoutMs: positiveInteger(env, 'CHIFFON_LLM_TIMEOUT_MS', DEFAULT_LLM_TIMEOUT_MS),
  };

  const baseUrl = httpUrl(env, 'CHIFFON_LLM_BASE_URL');
  if (baseUrl !== undefined) {
    const model = nonEmpty(env, 'CHIFFON_LLM_MODEL');
    if (model === undefined) throw new Error('CHIFFON_LLM_BASE_URL is set but CHIFFON_LLM_MODEL is not: name the model to ask');
    const apiKey = nonEmpty(env, 'CHIFFON_LLM_API_KEY');
    const quotaUrl = httpUrl(env, 'CHIFFON_LLM_QUOTA_URL');
    config.openai = {
      baseUrl,
      model,
      ...(apiKey !== undefined ? { apiKey: new Secret(apiKey) } : {}),
      ...(quotaUrl !== undefined ? { quotaUrl } : {}),
    };
  } else if (nonEmpty(env, 'CHIFFON_LLM_MODEL') !== undefined || nonEmpty(env, 'CHIFFON_LLM_QUOTA_URL') !== undefined) {
    throw new Error('CHIFFON_LLM_MODEL or CHIFFON_LLM_QUOTA_URL is set but CHIFFON_LLM_BASE_URL is not');
  }

  const anthropicKey = nonEmpty(env, 'ANTHROPIC_API_KEY');
  if (anthropicKey !== undefined) {
    config.anthropic = {
      baseUrl: httpUrl(env, 'CHIFFON_ANTHROPIC_BASE_URL') ?? DEFAULT_ANTHROPIC_BASE_URL,
      model: nonEmpty(env, 'CHIFFON_ANTHROPIC_MODEL') ?? DEFAULT_ANTHROPIC_MODEL,
      apiKey: new Secret(anthropicKey),
    };
  }
  return config;
}

/** One line for the startup log: which providers are on, in order, without any key. */
export function describeLlmConfig(config: LlmConfig): string {
  const parts: string[] = [];
  if (config.openai) {
    const quota = config.openai.quotaUrl ? `, skipped below ${Math.round(config.minQuota * 100)}% quota` : '';
    parts.push(`openai-compatible ${config.openai.model} at ${config.openai.baseUrl}${quota}`);
  }
  if (config.anthropic) parts.push(`anthropic ${config.anthropic.model}`);
  parts.push('deterministic parser');
  return `decomposition: ${parts.join(' → ')} (timeout ${config.timeoutMs} ms)`;
}
