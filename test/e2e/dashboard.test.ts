// The dashboard in a real browser: Debian's headless Chromium driven by playwright-core, against the
// real stack (Temporal dev server, PostgreSQL, a worker, ansible-playbook against localhost, a
// temporary audit repository). The Kuma request is typed with the requester's token (alice), refused
// when she tries to approve it (403), approved after switching to the approver's token (bob) in the
// page's token form, and followed until both steps completed, their audit commits shown. A bad token
// shows its 401; the failure drill (on a stack of its own whose playbooks are a git repository)
// shows the failed step and its suggestions, one dismissed and one accepted, its fix committed there.
// A schedule is created paused from the page's form, resumed, paused, run now; its run waits for
// approval, is approved as standing by the approver, and the panel shows the standing approval; the
// next run runs under it without asking; the panel revokes it and deletes the schedule.
// Screenshots of each stage are kept in test-artifacts/dashboard/ (99-/98-failure.png when a test fails).
//
// Chromium comes from the project's set-up (scripts/setup.sh installs Debian's chromium where it
// can). Without one the browser tests fail under CI=true and are skipped, loudly, elsewhere.
import fs from 'node:fs';
import path from 'node:path';
import git from 'isomorphic-git';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromProjectRoot } from '../../lib/paths.js';
import { playbookRepoCopy, startServices, startStack, type E2EServices, type Stack, deleteSchedules } from '../support/e2e-stack.js';

const KUMA_REQUEST = 'Deploy Kuma Uptime to homelab and add our existing portals to the config';
const SCREENSHOTS = fromProjectRoot('test-artifacts', 'dashboard');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const IN_CI = /^(1|true|yes)$/i.test(process.env.CI ?? '');

/** Where Chromium is, looked for as scripts/setup.sh does: CHIFFON_CHROMIUM, /usr/bin/chromium, the PATH. */
function findChromium(): string | undefined {
  const executable = (file: string) => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (process.env.CHIFFON_CHROMIUM) return executable(process.env.CHIFFON_CHROMIUM) ? process.env.CHIFFON_CHROMIUM : undefined;
  const candidates = [
    '/usr/bin/chromium',
    ...(process.env.PATH ?? '')
      .split(path.delimiter)
      .filter(Boolean)
      .map((dir) => path.join(dir, 'chromium')),
  ];
  return candidates.find(executable);
}

const chromiumPath = findChromium();
const NO_CHROMIUM =
  "no Chromium for the dashboard browser test: install Debian's chromium (npm test runs scripts/setup.sh, which does when it can run apt-get as root) or set CHIFFON_CHROMIUM";
if (!chromiumPath && !IN_CI) console.warn(`\n!!! SKIPPING the dashboard browser tests: ${NO_CHROMIUM} !!!\n`);

/** The tokens the stack made: requester alice, approver bob, admin carol. */
type StackTokens = Stack['tokens'];

let services: E2EServices;
let stack: Stack;
let browser: Browser | undefined;

/** Where the page is: the API's origin (baseUrl is <origin>/api/dashboard). */
const origin = (on: Stack = stack) => on.baseUrl.replace(/\/api\/dashboard$/, '');

beforeAll(async () => {
  services = await startServices('dashboard');
  stack = await startStack(services, 'dashboard');
  fs.rmSync(SCREENSHOTS, { recursive: true, force: true });
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  if (chromiumPath) browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS });
});

/** Schedules a test created: afterAll deletes what is left, so nothing fires while the file ends. */
const schedulesCreated: string[] = [];

afterAll(async () => {
  await browser?.close();
  await deleteSchedules(services, schedulesCreated);
  await stack?.stop();
  await services?.stop();
});

/** A fresh browser tab (its own sessionStorage), collecting what would show a broken page. */
async function openPage(fragment = '', on: Stack = stack): Promise<{ page: Page; problems: string[] }> {
  const context = await browser!.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // Refused API calls (401, 403) log "Failed to load resource"; those are expected, the rest is not.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(`console: ${message.text()}`);
  });
  await page.goto(`${origin(on)}/dashboard/${fragment}`);
  return { page, problems };
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

async function useToken(page: Page, token: string): Promise<void> {
  const panel = page.getByTestId('token-panel');
  if (!(await panel.isVisible())) await page.getByTestId('change-token').click();
  await page.getByTestId('token-input').fill(token);
  await page.getByTestId('token-save').click();
  await panel.waitFor({ state: 'hidden' });
}

/** Waits until `selector` matches `count` elements. */
async function waitForCount(page: Page, selector: string, count: number, timeout = 60_000): Promise<void> {
  const deadline = Date.now() + timeout;
  let seen = await page.locator(selector).count();
  while (seen !== count) {
    if (Date.now() > deadline) throw new Error(`${selector}: ${seen} elements after ${timeout} ms, not ${count}`);
    await page.waitForTimeout(200);
    seen = await page.locator(selector).count();
  }
}

describe('the dashboard page', () => {
  it('is served with its own content types and a Content-Security-Policy, without a token', async () => {
    const root = await fetch(`${origin()}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/dashboard/');

    const expected = { '/dashboard/': 'text/html', '/dashboard/app.js': 'text/javascript', '/dashboard/styles.css': 'text/css' };
    for (const [route, type] of Object.entries(expected)) {
      const response = await fetch(`${origin()}${route}`);
      expect(response.status, route).toBe(200);
      expect(response.headers.get('content-type'), route).toContain(type);
      expect(response.headers.get('content-security-policy'), route).toContain("default-src 'self'");
      // Its own origin only (the live WebSocket included: the browser tests below follow it live).
      expect(response.headers.get('content-security-policy'), route).toMatch(/connect-src 'self';/);
      expect(await response.text()).not.toBe('');
    }

    const config = await fetch(`${origin()}/dashboard/config.json`);
    expect(await config.json()).toEqual({
      temporalUiUrl: (process.env.CHIFFON_TEMPORAL_UI_URL || 'http://127.0.0.1:8233').replace(/\/+$/, ''),
      namespace: stack.config.temporalNamespace,
    });
    // Nothing else of the folder (or outside it) is served.
    for (const route of ['/dashboard/../app.ts', '/dashboard/%2e%2e/app.ts', '/dashboard/routes/dashboard-page.ts']) {
      expect((await fetch(`${origin()}${route}`)).status, route).toBe(404);
    }
  });
});

// Under CI=true a missing browser is a failure, not a skip: the browser tests are part of npm test.
it.runIf(IN_CI && !chromiumPath)('has a Chromium for the browser tests (CI)', () => {
  expect(chromiumPath, NO_CHROMIUM).toBeDefined();
});

describe.skipIf(!chromiumPath)('the dashboard in headless Chromium', () => {
  it('asks for a token and shows the 401 of a bad one', async () => {
    const { page } = await openPage();
    await page.getByTestId('token-panel').waitFor();
    expect(await page.getByTestId('main').isVisible()).toBe(false);
    await useToken(page, 'not-a-real-token');
    const banner = page.getByTestId('auth-error');
    await banner.waitFor({ timeout: 15_000 });
    expect(await banner.textContent()).toMatch(/401/);
    expect(await page.getByTestId('auth-error-change-token').isVisible()).toBe(true);
    await screenshot(page, '00-unauthorized');
    await page.context().close();
  });

  it('signs in from a first-run link (the token in the fragment), then drops it from the address bar', async () => {
    const { page, problems } = await openPage(`#token=${encodeURIComponent(stack.tokens.admin)}`);
    await page.getByTestId('main').waitFor({ timeout: 15_000 });
    expect(await page.getByTestId('token-panel').isVisible()).toBe(false);
    expect(await page.getByTestId('token-state').textContent()).toBe(`token ${stack.tokens.admin.slice(0, 12)}…`);
    expect(page.url()).toBe(`${origin()}/dashboard/`);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('pages the request list, shows the fleet, and fits a phone (390 px) without scrolling sideways', { timeout: 120_000 }, async () => {
    // More requests than a page holds (20).
    for (let i = 0; i < 21; i++) expect((await stack.call('POST', '/chat', { message: 'Set up postgres' })).status).toBe(201);
    const total = (await stack.call('GET', '/requests?limit=1')).body.total as number;
    const { page, problems } = await openPage(`#token=${encodeURIComponent(stack.tokens.approver)}`);
    try {
      await waitForCount(page, '[data-testid="request-list-item"]', 20);
      expect(await page.getByTestId('list-page').textContent()).toBe(`1–20 of ${total}`);
      expect(await page.getByTestId('list-newer').isDisabled()).toBe(true);
      await page.getByTestId('list-older').click();
      await waitForCount(page, '[data-testid="request-list-item"]', Math.min(20, total - 20));
      expect(await page.getByTestId('list-page').textContent()).toBe(`21–${Math.min(40, total)} of ${total}`);
      await page.getByTestId('list-newer').click();
      await waitForCount(page, '[data-testid="request-list-item"]', 20);

      // The stack's agent (localhost) reports to the registry: online, with its load and steps.
      const agent = page.locator('[data-testid="agent"][data-agent="localhost"]');
      await agent.waitFor({ timeout: 15_000 });
      expect(await agent.getAttribute('data-online')).toBe('true');
      expect(await agent.getByTestId('agent-load').textContent()).toMatch(
        /^load \d+\.\d\d on \d+ CPU · \d+\/\d+ steps running · \d+ of \d+ MB free$/,
      );
      // Its pressure figures where the kernel has them (what the capacity guard judges by), and no
      // pager for a fleet that fits one page.
      if (fs.existsSync('/proc/pressure/cpu')) {
        expect(await agent.getByTestId('agent-pressure').textContent()).toMatch(
          /^pressure: CPU \d+\.\d% \(limit \d+%\) · memory \d+\.\d% \(limit \d+%\)$/,
        );
      }
      expect(await page.getByTestId('fleet-pager').isHidden()).toBe(true);

      // A phone: the request and its plan on a 390 px wide screen, nothing wider than the screen.
      await page.setViewportSize({ width: 390, height: 844 });
      await page.locator('[data-testid="request-list-item"] button').first().click();
      await page.getByTestId('request-detail').waitFor();
      await waitForCount(page, '[data-testid="plan-step"]', 1);
      expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
      await screenshot(page, '07-phone-390');
      expect(problems).toEqual([]);
    } finally {
      await page.context().close();
    }
  });

  it(
    'plans the Kuma request, takes the approver’s decision and follows both steps to their audit commits',
    { timeout: 300_000 },
    async () => {
      const tokens = stack.tokens;
      const { page, problems } = await openPage();
      try {
        await kumaThroughTheDashboard(page, problems, tokens);
      } catch (error) {
        // What the page showed when it went wrong, and what the API said, for the test's artifacts.
        await screenshot(page, '99-failure').catch(() => {});
        const id = (
          await page
            .getByTestId('request-id')
            .textContent()
            .catch(() => null)
        )?.trim();
        const state = id ? await stack.call('GET', `/requests/${id}`, undefined, {}, 'admin').catch(() => undefined) : undefined;
        if (state && error instanceof Error) error.message += `\nrequest ${id} according to the API: ${JSON.stringify(state.body)}`;
        throw error;
      } finally {
        await page.context().close();
      }
    },
  );
});

describe.skipIf(!chromiumPath)('a check run from the dashboard', () => {
  it('checks the pending plan and shows what would change beside it, with its diffs', { timeout: 180_000 }, async () => {
    const { page, problems } = await openPage();
    try {
      // The requester checks their own request (nothing in this file sets up PostgreSQL).
      await useToken(page, stack.tokens.requester);
      await page.getByTestId('chat-input').fill('Set up postgres');
      await page.getByTestId('chat-submit').click();
      await page.getByTestId('request-status').filter({ hasText: 'pending approval' }).waitFor({ timeout: 90_000 });
      const requestId = (await page.getByTestId('request-id').textContent())!.trim();
      await page.getByTestId('check-button').click();
      const summary = page.getByTestId('check-summary');
      await summary.filter({ hasText: /would change on 1 host/ }).waitFor({ timeout: 90_000 });
      expect(await summary.textContent()).toMatch(/^Check run 1 by alice: \d+ tasks would change on 1 host$/);

      const step = page.locator('[data-testid="plan-step"][data-step-index="0"]');
      await step.getByTestId('step-check').click();
      const diffs = await step.getByTestId('check-diff').allTextContents();
      expect(diffs.some((diff) => diff.includes('+max_connections'))).toBe(true);
      // The check's events are marked as such in the step's log; the step itself has not run.
      expect(await step.locator('[data-testid="task-event"][data-mode="check"]').count()).toBeGreaterThan(0);
      expect(await step.getAttribute('data-status')).toBe('pending');
      await screenshot(page, '07-check-run');
      expect(fs.existsSync(path.join(stack.config.stateDir, 'postgres'))).toBe(false);
      expect((await stack.call('POST', '/approve', { request_id: requestId, approved: false, comment: 'only checking' })).status).toBe(200);
      expect(problems).toEqual([]);
    } catch (error) {
      await screenshot(page, '97-check-run-failure').catch(() => {});
      throw error;
    } finally {
      await page.context().close();
    }
  });
});

describe.skipIf(!chromiumPath)('a failed request in the dashboard', () => {
  // Accepting a suggestion commits the fix to the playbook repository: this stack's is a git
  // repository made from a copy of the sample playbooks (the project's own stay as they are).
  let gitStack: Stack;
  let playbooks: string;
  beforeAll(async () => {
    playbooks = playbookRepoCopy(path.join(services.scratch, 'playbooks-git'));
    const author = { name: 'Test', email: 'test@localhost' };
    await git.init({ fs, dir: playbooks, defaultBranch: 'main' });
    await git.add({ fs, dir: playbooks, filepath: '.' });
    await git.commit({ fs, dir: playbooks, message: 'Sample playbooks', author, committer: author });
    gitStack = await startStack(services, 'dashboard-git', { config: { playbookRepo: playbooks } });
  }, 60_000);
  afterAll(async () => {
    await gitStack?.stop();
  });

  it(
    'shows the failure and the suggestions of its step, dismisses one and accepts another, its fix committed to the playbooks',
    { timeout: 240_000 },
    async () => {
      const { page, problems } = await openPage('', gitStack);
      try {
        await useToken(page, gitStack.tokens.admin);
        await page.getByTestId('chat-input').fill('Run the failure drill');
        await page.getByTestId('chat-submit').click();
        await page.getByTestId('request-status').filter({ hasText: 'pending approval' }).waitFor({ timeout: 90_000 });
        const requestId = (await page.getByTestId('request-id').textContent())!.trim();
        // Approved by someone else (bob) through the API; the page follows.
        const hash = (await gitStack.call('GET', `/requests/${requestId}`)).body.plan.hash;
        expect(
          (await gitStack.call('POST', '/approve', { request_id: requestId, approved: true, plan_hash: hash }, {}, 'approver')).status,
        ).toBe(200);

        await page.getByTestId('request-status').filter({ hasText: 'failed' }).waitFor({ timeout: 90_000 });
        const step = page.locator('[data-testid="plan-step"][data-status="failed"]').first();
        await step.getByTestId('step-failure').waitFor({ timeout: 30_000 });
        expect(await step.locator('[data-testid="task-result"][data-status="failed"]').count()).toBeGreaterThan(0);
        expect(await page.getByTestId('action-retry').isVisible()).toBe(true);
        await step.getByTestId('suggestion').first().waitFor({ timeout: 30_000 });
        await screenshot(page, '06-failed-with-suggestions');

        const failedTask = (await gitStack.call('GET', `/requests/${requestId}`)).body.steps.find((s: any) => s.status === 'failed')
          .task_id as string;
        const stored = (await gitStack.call('GET', `/suggestions?task_id=${encodeURIComponent(failedTask)}`)).body.suggestions as any[];
        const find = (rule: string, line: number) => {
          const found = stored.find((s) => s.rule === rule && s.line === line);
          if (!found) throw new Error(`no suggestion ${rule}@${line}: ${stored.map((s) => `${s.rule}@${s.line}`).join(', ')}`);
          return found.id as string;
        };
        const item = (id: string, status?: string) =>
          step.locator(`[data-testid="suggestion"][data-suggestion-id="${id}"]${status ? `[data-status="${status}"]` : ''}`);

        // Dismissed: a finding ansible-lint cannot fix (fixed by hand, if at all).
        const risky = find('risky-file-permissions', 18);
        expect(await item(risky).getByTestId('suggestion-accept').count()).toBe(0);
        await item(risky).getByTestId('suggestion-dismiss').click();
        await item(risky, 'dismissed').waitFor({ timeout: 15_000 });
        const dismissed = await gitStack.call('GET', `/suggestions?status=dismissed&task_id=${encodeURIComponent(failedTask)}`);
        expect(dismissed.body.suggestions).toHaveLength(1);
        expect(dismissed.body.suggestions[0].decided_by).toBe('carol');

        // Accepted: ansible-lint --fix applies it, and the playbook repository has the commit.
        const fqcn = find('fqcn[action-core]', 23);
        const headBefore = await git.resolveRef({ fs, dir: playbooks, ref: 'HEAD' });
        await item(fqcn).getByTestId('suggestion-accept').click();
        await item(fqcn, 'accepted').waitFor({ timeout: 90_000 });
        const commit = (await item(fqcn).getByTestId('suggestion-commit').textContent())!.trim();
        expect(commit).toMatch(/^[0-9a-f]{40}$/);
        expect(await item(fqcn).getByTestId('suggestion-status').textContent()).toBe('accepted');
        expect(await item(fqcn).textContent()).toContain('applied by carol in commit');
        await item(fqcn).scrollIntoViewIfNeeded();
        await screenshot(page, '08-suggestion-accepted');

        const log = await git.log({ fs, dir: playbooks });
        expect(log[0]!.oid).toBe(commit);
        expect(log[1]!.oid).toBe(headBefore);
        expect(fs.readFileSync(path.join(playbooks, 'failure-drill.yml'), 'utf8')).toContain('ansible.builtin.shell:');
        const accepted = await gitStack.call('GET', `/suggestions?status=accepted&task_id=${encodeURIComponent(failedTask)}`);
        expect(accepted.body.suggestions.find((s: any) => s.id === fqcn)).toMatchObject({ decided_by: 'carol', commit_hash: commit });
        expect(problems).toEqual([]);
      } catch (error) {
        await screenshot(page, '98-failure-drill-failure').catch(() => {});
        throw error;
      } finally {
        await page.context().close();
      }
    },
  );
});

describe.skipIf(!chromiumPath)('schedules in the dashboard', () => {
  it(
    'creates a paused schedule from the form, resumes, pauses and runs it; its run is approved as standing, which the panel shows and the next run runs under; revokes it and deletes the schedule',
    { timeout: 240_000 },
    async () => {
      const { page, problems } = await openPage();
      try {
        await schedulesThroughTheDashboard(page);
        expect(problems).toEqual([]);
      } catch (error) {
        await screenshot(page, '96-schedules-failure').catch(() => {});
        throw error;
      } finally {
        await page.context().close();
      }
    },
  );
});

/** A schedule through the page: created by the requester (alice), its run approved as standing by the approver (bob). */
async function schedulesThroughTheDashboard(page: Page): Promise<void> {
  // 1. Created paused from the form (every 7 days: nothing fires by itself during the test).
  await useToken(page, stack.tokens.requester);
  const panel = page.getByTestId('schedules-panel');
  await page.getByTestId('schedule-message').fill('Set up postgres');
  await page.getByTestId('schedule-every').fill('7d');
  await page.getByTestId('schedule-note').fill('from the browser test');
  await page.getByTestId('schedule-paused').check();
  await page.getByTestId('schedule-create').click();
  const listed = panel.getByTestId('schedule').filter({ hasText: 'from the browser test' });
  await listed.waitFor({ timeout: 30_000 });
  const scheduleId = (await listed.getAttribute('data-schedule-id'))!;
  schedulesCreated.push(scheduleId);
  expect(scheduleId).toMatch(/^schedule-[0-9a-f]{16}$/);
  const mine = panel.locator(`[data-testid="schedule"][data-schedule-id="${scheduleId}"]`);
  const paused = (value: boolean) => panel.locator(`[data-testid="schedule"][data-schedule-id="${scheduleId}"][data-paused="${value}"]`);
  await paused(true).waitFor();
  expect(await mine.getByTestId('schedule-message-text').textContent()).toBe('Set up postgres');
  expect(await mine.getByTestId('schedule-when').textContent()).toMatch(/^every 7d · by alice · created /);
  expect(await mine.getByTestId('schedule-next').textContent()).toBe('paused: nothing fires until it is resumed');
  expect(await mine.getByTestId('schedule-standing').textContent()).toBe('no standing approval: each run waits for approval');
  expect(await mine.getByTestId('schedule-runs').textContent()).toBe('no run yet');
  expect(await page.getByTestId('schedules-page').textContent()).toMatch(/^1–\d+ of \d+$/);
  await screenshot(page, '09-schedule-created');

  // 2. Resumed (its next run shows), then paused again.
  await mine.getByTestId('schedule-resume').click();
  await paused(false).waitFor({ timeout: 15_000 });
  expect(await mine.getByTestId('schedule-next').textContent()).toMatch(/^next run /);
  await mine.getByTestId('schedule-pause').click();
  await paused(true).waitFor({ timeout: 15_000 });
  expect((await stack.call('GET', `/schedules/${scheduleId}`)).body.paused).toBe(true);

  // 3. Run now: the run shows as going, a request of its own waiting for approval, asked by alice.
  await mine.getByTestId('schedule-run').click();
  const running = mine.getByTestId('schedule-running-run');
  await running.waitFor({ timeout: 30_000 });
  const runId = (await running.getAttribute('data-request-id'))!;
  expect(runId.startsWith(`${scheduleId}-`), runId).toBe(true);
  await running.click();
  await page.getByTestId('request-id').filter({ hasText: runId }).waitFor({ timeout: 15_000 });
  await page.getByTestId('request-status').filter({ hasText: 'pending approval' }).waitFor({ timeout: 90_000 });
  expect(await page.getByTestId('request-schedule').textContent()).toBe(scheduleId);
  expect(await page.getByTestId('requested-by').textContent()).toBe('alice');
  expect(await page.getByTestId('approve-standing-button').isVisible()).toBe(true);
  expect(await page.getByTestId('standing-hint').textContent()).toContain(
    'later runs of this schedule with this exact plan run without asking',
  );
  expect(await page.getByTestId('plan-changed').isVisible()).toBe(false);
  await screenshot(page, '10-schedule-run-waiting');

  // 4. The approver approves it as standing; the panel shows the standing approval.
  await useToken(page, stack.tokens.approver);
  await page.getByTestId('decision-comment').fill('this plan, every week');
  await page.getByTestId('approve-standing-button').click();
  await page.getByTestId('decision-text').filter({ hasText: 'this plan, every week' }).waitFor({ timeout: 30_000 });
  expect(await page.getByTestId('decision-text').textContent()).toMatch(/^Approved as standing by bob /);
  const standing = mine.locator('[data-testid="schedule-standing"][data-approver="bob"]');
  await standing.waitFor({ timeout: 30_000 });
  const planHash = (await stack.call('GET', `/requests/${runId}`)).body.plan.hash as string;
  expect(await standing.getByTestId('schedule-standing-hash').textContent()).toBe(planHash.slice(0, 12));
  expect(await standing.getByTestId('schedule-standing-run').getAttribute('data-request-id')).toBe(runId);
  expect((await stack.call('GET', `/schedules/${scheduleId}`)).body.standing_approval).toMatchObject({
    approver: 'bob',
    plan_hash: planHash,
    request_id: runId,
    comment: 'this plan, every week',
  });
  expect(await page.getByTestId('request-standing').textContent()).toBe(
    `approved as standing: the schedule's later runs with plan ${planHash.slice(0, 12)} run without asking, until an approver revokes it`,
  );
  await screenshot(page, '11-approved-as-standing');

  // 5. A phone: the panel at 390 px wide, nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await mine.scrollIntoViewIfNeeded();
  expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
  await screenshot(page, '12-phone-390-approved-as-standing');
  await panel.screenshot({ path: path.join(SCREENSHOTS, '12-schedules-phone-390.png') });
  await page.setViewportSize({ width: 1280, height: 1000 });

  // 6. Once the approved run completed, the next run (Run now again) runs under the standing
  // approval, no one asked; the page says so.
  await page.getByTestId('request-status').filter({ hasText: 'completed' }).waitFor({ timeout: 120_000 });
  // Its workflow ends a moment after it completed; until then Run now would be skipped (one run at a time).
  await expect
    .poll(async () => (await stack.call('GET', `/schedules/${scheduleId}`)).body.running_request_id, { timeout: 30_000 })
    .toBeNull();
  await mine.getByTestId('schedule-run').click();
  const runLinks = `[data-testid="schedule"][data-schedule-id="${scheduleId}"] [data-testid="schedule-runs"] a`;
  await waitForCount(page, runLinks, 2, 30_000);
  const nextRun = page.locator(runLinks).first();
  const nextRunId = (await nextRun.getAttribute('data-request-id'))!;
  expect(nextRunId).not.toBe(runId);
  await nextRun.click();
  await page.getByTestId('request-id').filter({ hasText: nextRunId }).waitFor({ timeout: 15_000 });
  await page.getByTestId('request-status').filter({ hasText: 'completed' }).waitFor({ timeout: 120_000 });
  const standingId = (await stack.call('GET', `/schedules/${scheduleId}`)).body.standing_approval.id as string;
  expect(await page.getByTestId('decision-text').textContent()).toMatch(
    /^Approved by the standing approval of bob \(no one was asked\) at /,
  );
  expect(await page.getByTestId('request-standing').textContent()).toBe(`the standing approval ${standingId} (bob): no one was asked`);
  expect(await page.getByTestId('approve-standing-button').isVisible()).toBe(false);
  await screenshot(page, '13-run-under-standing-approval');

  // 7. Revoked: each run waits again.
  await mine.getByTestId('schedule-revoke').click();
  await mine.getByTestId('schedule-standing').filter({ hasText: 'each run waits for approval' }).waitFor({ timeout: 15_000 });
  expect((await stack.call('GET', `/schedules/${scheduleId}`)).body.standing_approval).toBeNull();

  // 8. Deleted, after the page's confirmation.
  const confirmed: string[] = [];
  page.once('dialog', (dialog) => {
    confirmed.push(dialog.message());
    void dialog.accept();
  });
  await mine.getByTestId('schedule-delete').click();
  await mine.waitFor({ state: 'detached', timeout: 15_000 });
  expect(confirmed).toEqual([expect.stringMatching(/^Delete the schedule “Set up postgres” \(every 7d\)\?/)]);
  expect((await stack.call('GET', `/schedules/${scheduleId}`)).status).toBe(404);
  await screenshot(page, '14-schedule-deleted');
}

/** The Kuma request through the page, from the requester's token to both audit commits. */
async function kumaThroughTheDashboard(page: Page, problems: string[], tokens: StackTokens): Promise<void> {
  // 1. The page asks for a token; the requester's opens it.
  await page.getByTestId('token-panel').waitFor();
  await screenshot(page, '01-token');
  await useToken(page, tokens.requester);

  // 2. The request: two intents, two plan steps, the portals from the inventory.
  await page.getByTestId('chat-input').fill(KUMA_REQUEST);
  await page.getByTestId('chat-submit').click();
  await page.getByTestId('request-status').filter({ hasText: 'pending approval' }).waitFor({ timeout: 90_000 });
  const requestId = (await page.getByTestId('request-id').textContent())!.trim();
  expect(requestId).toMatch(/^[0-9a-f]{12}$/);
  await waitForCount(page, '[data-testid="intent"]', 2);
  expect(await page.getByTestId('intent').allTextContents()).toEqual([
    expect.stringContaining('deploy_kuma'),
    expect.stringContaining('add_portals_to_config'),
  ]);
  await waitForCount(page, '[data-testid="plan-step"]', 2);
  expect(await page.getByTestId('step-playbook').allTextContents()).toEqual(['kuma-deploy.yml', 'kuma-config-update.yml']);
  const monitors = page.locator('[data-testid="plan-step"][data-step-index="1"] [data-testid="var-row"][data-var="kuma_monitors"]');
  expect(await monitors.getByTestId('var-source').textContent()).toBe('inventory:portals');
  expect(await monitors.textContent()).toContain('portal-1');
  await screenshot(page, '02-plan');

  // 3. The requester's token may not approve (no approver role; four-eyes would refuse it too): the page says why.
  await page.getByTestId('decision-comment').fill('my own request');
  await page.getByTestId('approve-button').click();
  const refusal = page.getByTestId('auth-error');
  await refusal.waitFor({ timeout: 15_000 });
  expect(await refusal.textContent()).toMatch(/403/);
  await screenshot(page, '03-requester-may-not-approve');

  // 4. The approver's token, through the page's token form, and the approval with a comment.
  await page.getByTestId('auth-error-change-token').click();
  await useToken(page, tokens.approver);
  await refusal.waitFor({ state: 'hidden' });
  // The approver's token also signed the browser in to the codec endpoint (for the Temporal Web UI).
  await expect
    .poll(async () => (await page.context().cookies(`${origin()}/api/codec/decode`)).find((c) => c.name === 'chiffon_codec'), {
      timeout: 10_000,
    })
    .toMatchObject({
      httpOnly: true,
      sameSite: 'Strict',
      path: '/api/codec',
    });
  expect(
    await page.evaluate(
      async () =>
        (await fetch('/api/codec/decode', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"payloads":[]}' }))
          .status,
    ),
  ).toBe(200);
  await page.getByTestId('decision-comment').fill('ship it from the dashboard');
  await page.getByTestId('approve-button').click();
  await page.getByTestId('decision-text').filter({ hasText: 'ship it from the dashboard' }).waitFor({ timeout: 30_000 });
  expect(await page.getByTestId('decision-text').textContent()).toMatch(/^Approved by bob /);
  expect(await page.getByTestId('requested-by').textContent()).toBe('alice');

  // 5. Live output: task results of the first step arrive while the request runs.
  const firstStep = page.locator('[data-testid="plan-step"][data-step-index="0"]');
  await firstStep.getByTestId('task-result').first().waitFor({ timeout: 60_000 });
  await screenshot(page, '04-live-output');

  // 6. Both steps complete, then the request; each step shows its audit commit.
  await waitForCount(page, '[data-testid="plan-step"][data-status="completed"]', 2, 120_000);
  await page.getByTestId('request-status').filter({ hasText: 'completed' }).waitFor({ timeout: 60_000 });
  await waitForCount(page, '[data-testid="audit-commit"]', 2, 30_000);
  await screenshot(page, '05-completed');

  for (const index of [0, 1]) {
    const step = page.locator(`[data-testid="plan-step"][data-step-index="${index}"]`);
    const results = await step.getByTestId('task-result').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-status')));
    expect(results.length, `task results of step ${index}`).toBeGreaterThan(0);
    expect(
      results.every((status) => status === 'ok' || status === 'changed' || status === 'skipped'),
      String(results),
    ).toBe(true);
    expect(await step.getByTestId('step-stats').count()).toBeGreaterThan(0);
  }
  const detail = await stack.call('GET', `/requests/${requestId}`, undefined, {}, 'admin');
  expect(detail.status).toBe(200);
  expect(detail.body.status).toBe('completed');
  const commits = detail.body.steps.map((s: any) => s.audit_commit);
  expect(await page.getByTestId('audit-commit').allTextContents()).toEqual(commits);
  const audited = (await stack.auditLog()).map((entry) => entry.oid);
  for (const commit of commits) expect(audited).toContain(commit);

  // 7. The link to the request's workflow in the Temporal UI.
  const uiBase = (process.env.CHIFFON_TEMPORAL_UI_URL || 'http://127.0.0.1:8233').replace(/\/+$/, '');
  expect(await page.getByTestId('temporal-link').getAttribute('href')).toBe(
    `${uiBase}/namespaces/${stack.config.temporalNamespace}/workflows/request-${requestId}`,
  );
  expect(await page.getByTestId('live-status').textContent()).toContain('live');
  expect(problems).toEqual([]);
}
