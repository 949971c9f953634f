// The decomposition chain against real HTTP fakes of both provider APIs on loopback: an
// OpenAI-compatible chat-completions server (valid, invalid JSON, unknown playbook, hanging, 500,
// 401 that echoes the key), a quota endpoint (above and below the threshold), and Anthropic's
// Messages API (which checks the headers and body shape the real API requires).
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDecomposer, decomposeWithProviders, type DecompositionOutcome } from '../../services/decomposition/chain.js';
import { createAnthropicProvider } from '../../services/decomposition/anthropic-provider.js';
import { createDeterministicProvider } from '../../services/decomposition/deterministic-provider.js';
import { createOpenAiCompatibleProvider, remainingQuotaFrom } from '../../services/decomposition/openai-provider.js';
import { scanCatalog } from '../../services/catalog/catalog.js';
import { decomposeRequest } from '../../domain/decompose.js';
import type { Catalog } from '../../domain/types.js';
import { describeLlmConfig, loadLlmConfig, Secret } from '../../lib/llm-config.js';
import { fromProjectRoot } from '../../lib/paths.js';
import {
  anthropicFake,
  closeAllFakes,
  messagesRequestProblem,
  openAiFake,
  quotaFake,
  startFake,
  type Fake,
} from '../support/provider-fakes.js';

const OPENAI_KEY = 'sk-test-openai-KEY-8f3a91c2d4';
const ANTHROPIC_KEY = 'sk-ant-test-KEY-77e1b0aa93';
const KEYS = [OPENAI_KEY, ANTHROPIC_KEY];
const KUMA_REQUEST = 'Deploy Kuma Uptime to homelab and add our existing portals to the config';

const KUMA_INTENTS = [
  { name: 'deploy_kuma', playbook: 'kuma-deploy.yml', source: 'Deploy Kuma Uptime to homelab' },
  { name: 'add_portals_to_config', playbook: 'kuma-config-update.yml', source: 'add our existing portals to the config' },
];

let catalog: Catalog;
let validOpenAi: Fake;
let invalidJsonOpenAi: Fake;
let unknownPlaybookOpenAi: Fake;
let hangingOpenAi: Fake;
let failingOpenAi: Fake;
let keyEchoingOpenAi: Fake;
let quotaHigh: Fake;
let quotaLow: Fake;
let quotaBroken: Fake;
let anthropic: Fake;
let failingAnthropic: Fake;

beforeAll(async () => {
  catalog = await scanCatalog(fromProjectRoot('playbooks'));
  validOpenAi = await openAiFake({ content: JSON.stringify({ intents: KUMA_INTENTS }) });
  invalidJsonOpenAi = await openAiFake({ content: 'Sure! First I will deploy Kuma, then {"intents": [' });
  unknownPlaybookOpenAi = await openAiFake({
    content: JSON.stringify({ intents: [{ name: 'deploy_kuma', playbook: 'nginx-deploy.yml', source: 'Deploy Kuma Uptime' }] }),
  });
  hangingOpenAi = await openAiFake('hang');
  failingOpenAi = await openAiFake({ status: 500, body: { error: { message: 'internal error', type: 'server_error' } } });
  keyEchoingOpenAi = await openAiFake({
    status: 401,
    body: { error: { message: `Incorrect API key provided: ${OPENAI_KEY}`, type: 'invalid_request_error', code: 'invalid_api_key' } },
  });
  quotaHigh = await quotaFake({ remaining_fraction: 0.85 });
  quotaLow = await quotaFake({ remaining: 15, limit: 100 });
  quotaBroken = await quotaFake({ credits: 'plenty' });
  anthropic = await anthropicFake(ANTHROPIC_KEY, { text: `\`\`\`json\n${JSON.stringify({ intents: KUMA_INTENTS })}\n\`\`\`` });
  failingAnthropic = await anthropicFake(ANTHROPIC_KEY, {
    status: 529,
    body: { type: 'error', error: { type: 'overloaded_error', message: `Overloaded (key ${ANTHROPIC_KEY})` } },
  });
});

afterAll(async () => {
  await closeAllFakes();
});

interface Setup {
  openai?: Fake;
  quota?: Fake;
  anthropic?: Fake;
  timeoutMs?: number;
}

function env({ openai, quota, anthropic: claude, timeoutMs = 2_000 }: Setup): NodeJS.ProcessEnv {
  return {
    CHIFFON_LLM_TIMEOUT_MS: String(timeoutMs),
    ...(openai ? { CHIFFON_LLM_BASE_URL: `${openai.url}/v1`, CHIFFON_LLM_MODEL: 'llama3.1:8b', CHIFFON_LLM_API_KEY: OPENAI_KEY } : {}),
    ...(quota ? { CHIFFON_LLM_QUOTA_URL: `${quota.url}/quota` } : {}),
    ...(claude
      ? { ANTHROPIC_API_KEY: ANTHROPIC_KEY, CHIFFON_ANTHROPIC_BASE_URL: claude.url, CHIFFON_ANTHROPIC_MODEL: 'claude-haiku-4-5' }
      : {}),
  };
}

const outcomes: unknown[] = [];

async function decompose(setup: Setup, message = KUMA_REQUEST): Promise<DecompositionOutcome> {
  const outcome = await createDecomposer(loadLlmConfig(env(setup)))(message, catalog);
  outcomes.push(outcome);
  return outcome;
}

function expectKumaIntents(outcome: DecompositionOutcome): void {
  expect(outcome.result).toEqual({
    ok: true,
    intents: KUMA_INTENTS.map((intent) => ({ ...intent, service: 'kuma' })),
  });
}

function expectNoKeys(value: unknown): void {
  const text = typeof value === 'string' ? value : `${JSON.stringify(value)}\n${inspect(value, { depth: 10 })}`;
  for (const key of KEYS) expect(text).not.toContain(key);
}

describe('decomposition provider chain', () => {
  it('the primary decides when its quota is above the threshold', async () => {
    const before = { chat: validOpenAi.requests.length, quota: quotaHigh.requests.length, anthropic: anthropic.requests.length };
    const outcome = await decompose({ openai: validOpenAi, quota: quotaHigh, anthropic });
    expectKumaIntents(outcome);
    expect(outcome).toMatchObject({ decidedBy: 'openai-compatible', model: 'llama3.1:8b', skipped: [] });
    expect(anthropic.requests.length).toBe(before.anthropic);

    const quotaRequest = quotaHigh.requests[before.quota]!;
    expect(quotaRequest).toMatchObject({ method: 'GET', path: '/quota' });
    expect(quotaRequest.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);

    const chat = validOpenAi.requests[before.chat]!;
    expect(chat.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
    expect(chat.body).toMatchObject({
      model: 'llama3.1:8b',
      response_format: { type: 'json_object' },
      messages: [
        { role: 'system', content: expect.stringContaining('add_portals_to_config') },
        { role: 'user', content: expect.stringContaining(KUMA_REQUEST) },
      ],
    });
    // The prompt carries the catalog's names, never a key.
    expectNoKeys(JSON.stringify(chat.body));
  });

  it('skips the primary when its quota is below the threshold: Anthropic decides', async () => {
    const chatsBefore = validOpenAi.requests.length;
    const outcome = await decompose({ openai: validOpenAi, quota: quotaLow, anthropic });
    expectKumaIntents(outcome);
    expect(outcome).toEqual({
      result: outcome.result,
      decidedBy: 'anthropic',
      model: 'claude-haiku-4-5',
      skipped: [{ provider: 'openai-compatible', reason: 'quota 15% below 20%' }],
    });
    expect(validOpenAi.requests.length).toBe(chatsBefore);
  });

  it('sends Anthropic the documented headers and body shape', async () => {
    const before = anthropic.requests.length;
    await decompose({ openai: validOpenAi, quota: quotaLow, anthropic });
    const request = anthropic.requests[before]!;
    expect(messagesRequestProblem(request, ANTHROPIC_KEY)).toBeUndefined();
    expect(request.headers['anthropic-version']).toBe('2023-06-01');
    expect(request.headers['x-api-key']).toBe(ANTHROPIC_KEY);
    expect(request.headers.authorization).toBeUndefined();
    expect(request.body).toMatchObject({ model: 'claude-haiku-4-5', max_tokens: expect.any(Number), system: expect.any(String) });
  });

  it('falls back to Anthropic when the primary answers invalid JSON', async () => {
    const outcome = await decompose({ openai: invalidJsonOpenAi, anthropic });
    expectKumaIntents(outcome);
    expect(outcome.decidedBy).toBe('anthropic');
    expect(outcome.skipped).toEqual([
      { provider: 'openai-compatible', reason: "the model's answer was refused: the answer is not valid JSON" },
    ]);
  });

  it('falls back to Anthropic when the primary names a playbook the catalog does not have', async () => {
    const outcome = await decompose({ openai: unknownPlaybookOpenAi, anthropic });
    expectKumaIntents(outcome);
    expect(outcome.decidedBy).toBe('anthropic');
    expect(outcome.skipped).toEqual([
      { provider: 'openai-compatible', reason: `the model's answer was refused: intents.0: unknown playbook "nginx-deploy.yml"` },
    ]);
  });

  it('falls back to Anthropic when the primary hangs past the timeout', async () => {
    const started = Date.now();
    const outcome = await decompose({ openai: hangingOpenAi, anthropic, timeoutMs: 300 });
    expect(Date.now() - started).toBeLessThan(5_000);
    expectKumaIntents(outcome);
    expect(outcome.decidedBy).toBe('anthropic');
    expect(outcome.skipped).toEqual([{ provider: 'openai-compatible', reason: 'timed out after 300 ms' }]);
  });

  it('falls back to Anthropic when the primary answers HTTP 500', async () => {
    const outcome = await decompose({ openai: failingOpenAi, anthropic });
    expectKumaIntents(outcome);
    expect(outcome.decidedBy).toBe('anthropic');
    expect(outcome.skipped).toEqual([
      {
        provider: 'openai-compatible',
        reason: `chat/completions at ${failingOpenAi.url}/v1/chat/completions answered HTTP 500 (server_error)`,
      },
    ]);
  });

  it('falls back to Anthropic when the primary is unreachable', async () => {
    const gone = await startFake(() => undefined);
    await gone.close();
    const outcome = await decompose({ openai: gone, anthropic });
    expect(outcome.decidedBy).toBe('anthropic');
    expect(outcome.skipped).toEqual([
      { provider: 'openai-compatible', reason: `chat/completions at ${gone.url}/v1/chat/completions: connection failed (ECONNREFUSED)` },
    ]);
  });

  it('falls back to the deterministic parser when both providers fail, recording both reasons', async () => {
    const outcome = await decompose({ openai: failingOpenAi, anthropic: failingAnthropic });
    expect(outcome.result).toEqual(decomposeRequest(KUMA_REQUEST, catalog));
    expectKumaIntents(outcome);
    expect(outcome.decidedBy).toBe('deterministic');
    expect(outcome.model).toBeUndefined();
    expect(outcome.skipped).toEqual([
      { provider: 'openai-compatible', reason: expect.stringContaining('HTTP 500 (server_error)') },
      { provider: 'anthropic', reason: `messages at ${failingAnthropic.url}/v1/messages answered HTTP 529 (overloaded_error)` },
    ]);
  });

  it('uses the deterministic parser when nothing is configured, and says why', async () => {
    const config = loadLlmConfig({});
    expect(config.openai).toBeUndefined();
    expect(config.anthropic).toBeUndefined();
    const decomposer = createDecomposer(config);
    expect(decomposer.providers).toEqual(['openai-compatible', 'anthropic', 'deterministic']);
    const outcome = await decomposer(KUMA_REQUEST, catalog);
    expectKumaIntents(outcome);
    expect(outcome).toMatchObject({
      decidedBy: 'deterministic',
      skipped: [
        { provider: 'openai-compatible', reason: 'not configured (CHIFFON_LLM_BASE_URL is not set)' },
        { provider: 'anthropic', reason: 'not configured (ANTHROPIC_API_KEY is not set)' },
      ],
    });
    const unplannable = await decomposer('make me a sandwich', catalog);
    expect(unplannable.decidedBy).toBe('deterministic');
    expect(unplannable.result.ok).toBe(false);
  });

  it('tries the primary when its quota endpoint answers an unknown shape, and notes it if the primary then fails', async () => {
    const decided = await decompose({ openai: validOpenAi, quota: quotaBroken, anthropic });
    expect(decided).toMatchObject({ decidedBy: 'openai-compatible', skipped: [] });
    const fellBack = await decompose({ openai: failingOpenAi, quota: quotaBroken, anthropic });
    expect(fellBack.decidedBy).toBe('anthropic');
    expect(fellBack.skipped[0]!.reason).toMatch(
      /^quota unknown \(the quota endpoint answered none of the documented shapes\); chat\/completions .* HTTP 500/,
    );
  });

  it('never puts a key into a result, a recorded reason, a thrown error or the printed configuration', async () => {
    const echoed = await decompose({ openai: keyEchoingOpenAi, anthropic: failingAnthropic });
    expect(echoed.decidedBy).toBe('deterministic');
    expect(echoed.skipped[0]!.reason).toBe(
      `chat/completions at ${keyEchoingOpenAi.url}/v1/chat/completions answered HTTP 401 (invalid_api_key)`,
    );

    const config = loadLlmConfig(env({ openai: keyEchoingOpenAi, quota: quotaHigh, anthropic: failingAnthropic }));
    const openai = createOpenAiCompatibleProvider(config.openai!);
    const claude = createAnthropicProvider(config.anthropic!);
    const errors: unknown[] = [];
    for (const call of [
      () => openai.decompose(KUMA_REQUEST, catalog, AbortSignal.timeout(2_000)),
      () => claude.decompose(KUMA_REQUEST, catalog, AbortSignal.timeout(2_000)),
      () => decomposeWithProviders(KUMA_REQUEST, catalog, [openai, claude], { timeoutMs: 2_000, minQuota: 0.2 }),
    ]) {
      errors.push(
        await call().then(
          () => undefined,
          (error: unknown) => error,
        ),
      );
    }
    expect(errors.every((e) => e instanceof Error)).toBe(true);
    for (const error of errors as Error[]) {
      expectNoKeys(`${error.message}\n${error.stack}\n${inspect(error)}`);
      expect(error.message).not.toMatch(/authorization|bearer|x-api-key/i);
    }
    expect((errors[2] as Error).message).toContain('no decomposition provider answered');

    expectNoKeys(config);
    expectNoKeys(describeLlmConfig(config));
    expect(JSON.stringify(config.anthropic)).toContain('"apiKey":"[redacted]"');
    expect(`${new Secret('x')}`).toBe('[redacted]');
    expectNoKeys(outcomes);
  });

  it('propagates a cancellation instead of falling back', async () => {
    const controller = new AbortController();
    const config = loadLlmConfig(env({ openai: hangingOpenAi, anthropic, timeoutMs: 10_000 }));
    const pending = createDecomposer(config)(KUMA_REQUEST, catalog, controller.signal);
    setTimeout(() => controller.abort(new Error('activity cancelled')), 100);
    await expect(pending).rejects.toThrow('activity cancelled');
  });

  it('bounds a provider that ignores its signal', async () => {
    const stubborn = { name: 'stubborn', decompose: () => new Promise<never>(() => undefined) };
    const outcome = await decomposeWithProviders(KUMA_REQUEST, catalog, [stubborn, createDeterministicProvider()], { timeoutMs: 200 });
    expect(outcome).toMatchObject({ decidedBy: 'deterministic', skipped: [{ provider: 'stubborn', reason: 'timed out after 200 ms' }] });
  });
});

describe('remainingQuotaFrom', () => {
  it('reads the documented quota answers', () => {
    expect(remainingQuotaFrom({ remaining_fraction: 0.15 })).toBe(0.15);
    expect(remainingQuotaFrom({ remaining: 30, limit: 200 })).toBe(0.15);
    expect(remainingQuotaFrom({ key: 'hashed', info: { spend: 8.5, max_budget: 10 } })).toBeCloseTo(0.15);
    expect(remainingQuotaFrom({ info: { spend: 8.5, max_budget: null } })).toBeUndefined();
    expect(remainingQuotaFrom({ remaining: -5, limit: 100 })).toBe(0);
    expect(() => remainingQuotaFrom({ remaining: 5 })).toThrow('none of the documented shapes');
  });
});

describe('loadLlmConfig', () => {
  it('has defaults and refuses what it cannot use, without echoing values', () => {
    const config = loadLlmConfig({ ANTHROPIC_API_KEY: ANTHROPIC_KEY });
    expect(config).toMatchObject({
      minQuota: 0.2,
      timeoutMs: 20_000,
      anthropic: { baseUrl: 'https://api.anthropic.com', model: 'claude-haiku-4-5' },
    });
    expect(config.anthropic!.apiKey.reveal()).toBe(ANTHROPIC_KEY);
    expect(loadLlmConfig({ CHIFFON_LLM_MIN_QUOTA: '15%' }).minQuota).toBe(0.15);
    expect(loadLlmConfig({ CHIFFON_LLM_BASE_URL: 'http://127.0.0.1:11434/v1/', CHIFFON_LLM_MODEL: 'qwen2.5' }).openai).toEqual({
      baseUrl: 'http://127.0.0.1:11434/v1',
      model: 'qwen2.5',
    });
    expect(() => loadLlmConfig({ CHIFFON_LLM_BASE_URL: 'http://127.0.0.1:4000' })).toThrow('CHIFFON_LLM_MODEL');
    expect(() => loadLlmConfig({ CHIFFON_LLM_MIN_QUOTA: '2' })).toThrow('CHIFFON_LLM_MIN_QUOTA');
    expect(() => loadLlmConfig({ CHIFFON_LLM_TIMEOUT_MS: '0' })).toThrow('CHIFFON_LLM_TIMEOUT_MS');
    const withCredentials = () =>
      loadLlmConfig({ CHIFFON_LLM_BASE_URL: `http://user:${OPENAI_KEY}@127.0.0.1:4000`, CHIFFON_LLM_MODEL: 'm' });
    expect(withCredentials).toThrow('must not carry credentials');
    try {
      withCredentials();
    } catch (error) {
      expectNoKeys((error as Error).message);
    }
  });
});
