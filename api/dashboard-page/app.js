// Chiffon's dashboard: plain DOM, no framework, no build step. Every API call carries the person's
// bearer token (kept in sessionStorage); data from the API only ever reaches the page as text
// (textContent), never as markup.

const API = '/api/dashboard';
const TOKEN_KEY = 'chiffon.token';
const RECENT_KEY = 'chiffon.recent';
const RECENT_MAX = 30;

/** Request statuses after which the request changes no more (a failed one may still be retried). */
const ENDED = ['unplannable', 'expired', 'rejected', 'completed', 'stale_plan', 'cancelled'];
const STEP_ENDED = ['completed', 'failed', 'skipped', 'cancelled'];
/** While a request is open, the page looks at it this often even when the live stream is quiet. */
const REFRESH_MS = 15_000;

const view = {
  config: { temporalUiUrl: 'http://127.0.0.1:8233', namespace: 'default' },
  /** The request on screen: its last state, its events and what was rendered from them. */
  current: null,
  live: null,
  /** The request list's page: newest first, LIST_PAGE at a time. */
  listOffset: 0,
  /** The schedules' page (newest first, LIST_PAGE at a time), the last answer shown, and which load is the latest. */
  scheduleOffset: 0,
  /** The fleet's page (agents by name, LIST_PAGE at a time). */
  fleetOffset: 0,
  schedulesShown: '',
  schedulesLoad: 0,
};

const LIST_PAGE = 20;
/** The schedules panel is looked at again this often (next run times pass, runs start). */
const SCHEDULES_REFRESH_MS = 30_000;

// ---------------------------------------------------------------- DOM helpers

const $ = (testid, root = document) => root.querySelector(`[data-testid="${testid}"]`);

/** el('li', {className: 'x', testid: 'y', text: 'z'}, child, 'text child', ...) */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === 'text') node.textContent = String(value);
    else if (key === 'className') node.className = value;
    else if (key === 'testid') node.dataset.testid = value;
    else if (key === 'data') Object.assign(node.dataset, value);
    else if (key === 'onclick') node.addEventListener('click', value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

function show(node, visible) {
  node.hidden = !visible;
}

function setBanner(testid, text) {
  const node = $(testid);
  node.textContent = text ?? '';
  show(node, Boolean(text));
}

function shortHash(hash, length = 12) {
  return typeof hash === 'string' ? hash.slice(0, length) : '';
}

function formatTime(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

function formatValue(value) {
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

function statusBadge(status, testid) {
  return el('span', { className: `badge status-${status}`, testid, text: status.replaceAll('_', ' ') });
}

function setStatusBadge(node, status) {
  node.className = `badge status-${status}`;
  node.textContent = String(status).replaceAll('_', ' ');
  node.dataset.status = status;
}

// ---------------------------------------------------------------- token

function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

function renderTokenState() {
  const value = token();
  // Only the token's public prefix (chf_ and 8 characters, as `npm run token -- list` shows it).
  $('token-state').textContent = value ? `token ${value.slice(0, 12)}…` : 'no token';
  show($('main'), Boolean(value));
}

function openTokenPanel() {
  show($('token-panel'), true);
  show($('token-cancel'), Boolean(token()));
  show($('token-forget'), Boolean(token()));
  const input = $('token-input');
  input.value = '';
  input.focus();
}

function saveToken(event) {
  event.preventDefault();
  const value = $('token-input').value.trim();
  if (!value) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  void codecSession('POST', value);
  tokenChanged();
}

/**
 * Signs this browser in to (or out of) the codec endpoint, so the Temporal Web UI can show the
 * sealed payloads of a request (its cookie; README: Payloads sealed in Temporal). Only approvers'
 * and admins' tokens may; for any other the answer is a 403, which changes nothing here.
 */
async function codecSession(method, value) {
  try {
    await fetch('/api/codec/session', { method, headers: value ? { authorization: `Bearer ${value}` } : {} });
  } catch {
    // The dashboard works without it.
  }
}

function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  void codecSession('DELETE');
  stopLive();
  renderTokenState();
  openTokenPanel();
}

function tokenChanged() {
  show($('token-panel'), false);
  show($('auth-error'), false);
  renderTokenState();
  void loadList();
  void loadSchedules();
  if (view.current) {
    void refreshRequest();
    startLive();
  } else if (requestIdFromHash()) {
    void openRequest(requestIdFromHash());
  }
}

// ---------------------------------------------------------------- API calls

class ApiCallError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** The API's errors come as {error: {code, message}} or {error: 'code', message}. */
function errorFrom(status, body) {
  const nested = body && typeof body.error === 'object' && body.error !== null ? body.error : {};
  const code = typeof body?.error === 'string' ? body.error : (nested.code ?? `http_${status}`);
  const message = body?.message ?? nested.message ?? `HTTP ${status}`;
  return new ApiCallError(status, code, message, body);
}

function showAuthError(err) {
  const text =
    err.status === 401
      ? `Your token was refused (401 ${err.code}): ${err.message}. Enter another token.`
      : `Not allowed with this token (403 ${err.code}): ${err.message}`;
  $('auth-error-text').textContent = text;
  show($('auth-error'), true);
}

async function api(method, path, body) {
  const headers = { accept: 'application/json', authorization: `Bearer ${token()}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${API}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const answer = await response.json().catch(() => null);
  if (response.ok) return answer;
  const err = errorFrom(response.status, answer);
  if (response.status === 401 || response.status === 403) showAuthError(err);
  throw err;
}

/** Runs `work` with `button` disabled; a failure is shown in the banner `errorTestid` (401/403 at the top). */
async function withButton(button, errorTestid, work) {
  button.disabled = true;
  setBanner(errorTestid, '');
  try {
    return await work();
  } catch (err) {
    if (!(err instanceof ApiCallError) || (err.status !== 401 && err.status !== 403)) setBanner(errorTestid, describeError(err));
    else if (err.status === 403) setBanner(errorTestid, `Refused: ${err.message}`);
    return undefined;
  } finally {
    button.disabled = false;
  }
}

function describeError(err) {
  if (err instanceof ApiCallError) return `${err.message} (${err.status} ${err.code})`;
  // fetch() rejects with a TypeError when the server cannot be reached at all.
  if (err instanceof TypeError) return `The API cannot be reached: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------- request list

function recentRequests() {
  try {
    const list = JSON.parse(sessionStorage.getItem(RECENT_KEY) ?? '[]');
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

function remember(request) {
  const entry = { request_id: request.request_id, status: request.status, message: request.message };
  const others = recentRequests().filter((r) => r.request_id !== entry.request_id);
  sessionStorage.setItem(RECENT_KEY, JSON.stringify([entry, ...others].slice(0, RECENT_MAX)));
}

function listItems(body) {
  if (Array.isArray(body)) return body;
  return body?.requests ?? body?.items ?? [];
}

async function loadList() {
  if (!token()) return;
  void loadFleet();
  try {
    const body = await api('GET', `/requests?limit=${LIST_PAGE}&offset=${view.listOffset}`);
    const items = listItems(body).map((r) => ({ ...r, request_id: r.request_id ?? r.id }));
    renderList(items, items.length === 0 ? (view.listOffset > 0 ? 'no more requests' : 'no requests yet') : '');
    renderPager('list', view.listOffset, body?.total ?? items.length);
  } catch (err) {
    if (err instanceof ApiCallError && (err.status === 404 || err.status === 405)) {
      renderList(recentRequests(), 'opened in this tab');
      // Still tells a bad token apart from a good one.
      await api('GET', '/suggestions?limit=1').catch(() => {});
    } else {
      renderList(recentRequests(), err instanceof ApiCallError && err.status < 500 ? '' : describeError(err));
    }
  }
}

/** A list's pager (`<prefix>-page`, `-newer`, `-older`): "1–20 of 45", and whether there is a page before and after. */
function renderPager(prefix, offset, total) {
  const first = total === 0 ? 0 : offset + 1;
  const last = Math.min(offset + LIST_PAGE, total);
  $(`${prefix}-page`).textContent = `${first}–${last} of ${total}`;
  $(`${prefix}-newer`).disabled = offset === 0;
  $(`${prefix}-older`).disabled = last >= total;
}

function turnPage(delta) {
  view.listOffset = Math.max(0, view.listOffset + delta * LIST_PAGE);
  void loadList();
}

// ---------------------------------------------------------------- fleet

/** The agents (workers) as the registry knows them: online or not, load, steps running of their limit. */
async function loadFleet() {
  try {
    const body = await api('GET', `/agents?limit=${LIST_PAGE}&offset=${view.fleetOffset}`);
    const agents = body.agents ?? [];
    if (agents.length === 0 && view.fleetOffset > 0 && body.total > 0) {
      view.fleetOffset = 0; // the agents of that page went away: back to the first
      return loadFleet();
    }
    renderFleet(agents);
    renderPager('fleet', view.fleetOffset, body.total ?? agents.length);
    show($('fleet-pager'), (body.total ?? 0) > LIST_PAGE);
  } catch (err) {
    $('fleet-note').textContent = err instanceof ApiCallError && err.status < 500 ? '' : describeError(err);
  }
}

function turnFleetPage(delta) {
  view.fleetOffset = Math.max(0, view.fleetOffset + delta * LIST_PAGE);
  void loadFleet();
}

function renderFleet(agents) {
  $('fleet-note').textContent = agents.length === 0 ? 'no agent has reported yet' : '';
  $('fleet-list').replaceChildren(
    ...agents.map((agent) =>
      el(
        'li',
        { testid: 'agent', data: { agent: agent.name, online: String(agent.online) } },
        el('code', { text: agent.name }),
        ' ',
        statusBadge(agent.online ? 'online' : 'offline', 'agent-online'),
        el('div', {
          className: 'hint',
          testid: 'agent-load',
          text: `load ${agent.load_average_1.toFixed(2)} on ${agent.cpu_count} CPU · ${agent.running_steps}/${agent.max_steps} steps running · ${agent.memory_free_mb} of ${agent.memory_total_mb} MB free`,
        }),
        // The kernel's pressure figures, where it has them: what the capacity guard judges by.
        agent.cpu_pressure_10 === null || agent.cpu_pressure_10 === undefined
          ? null
          : el('div', {
              className: 'hint',
              testid: 'agent-pressure',
              text: `pressure: CPU ${agent.cpu_pressure_10.toFixed(1)}% (limit ${agent.max_cpu_pressure}%) · memory ${(agent.memory_pressure_10 ?? 0).toFixed(1)}% (limit ${agent.max_memory_pressure}%)`,
            }),
      ),
    ),
  );
}

function renderList(items, note) {
  $('list-note').textContent = note;
  const list = $('request-list');
  list.replaceChildren(
    ...items.map((item) => {
      const open = el(
        'button',
        { type: 'button', className: 'link', onclick: () => openRequest(item.request_id) },
        el('code', { text: item.request_id }),
        ' ',
        statusBadge(item.status ?? 'unknown'),
      );
      const line = el('div', { className: 'list-message', text: item.message ?? '' });
      return el(
        'li',
        {
          testid: 'request-list-item',
          data: { requestId: item.request_id },
          className: item.request_id === view.current?.id ? 'selected' : '',
        },
        open,
        line,
      );
    }),
  );
}

// ---------------------------------------------------------------- schedules

/** Loads the schedules' page; an answer older than the latest load, or the same as shown, changes nothing. */
async function loadSchedules() {
  if (!token()) return;
  const load = ++view.schedulesLoad;
  try {
    const body = await api('GET', `/schedules?limit=${LIST_PAGE}&offset=${view.scheduleOffset}`);
    if (load !== view.schedulesLoad) return;
    const schedules = body?.schedules ?? [];
    const total = body?.total ?? schedules.length;
    // The last one of a page was deleted: the page before.
    if (schedules.length === 0 && view.scheduleOffset > 0 && total > 0) {
      view.scheduleOffset = Math.max(0, view.scheduleOffset - LIST_PAGE);
      return loadSchedules();
    }
    const shown = JSON.stringify(body);
    if (shown === view.schedulesShown) return;
    view.schedulesShown = shown;
    renderSchedules(schedules, total);
  } catch (err) {
    if (load !== view.schedulesLoad) return;
    view.schedulesShown = '';
    $('schedules-note').textContent = err instanceof ApiCallError && (err.status === 401 || err.status === 403) ? '' : describeError(err);
  }
}

function renderSchedules(schedules, total) {
  $('schedules-note').textContent = schedules.length === 0 ? 'no schedules yet' : '';
  $('schedule-list').replaceChildren(...schedules.map(scheduleItem));
  renderPager('schedules', view.scheduleOffset, total);
  show($('schedules-pager'), total > 0);
}

function turnSchedulePage(delta) {
  view.scheduleOffset = Math.max(0, view.scheduleOffset + delta * LIST_PAGE);
  void loadSchedules();
}

/** Shows a schedule an action answered with in place of the one listed. */
function replaceSchedule(schedule) {
  view.schedulesShown = '';
  const listed = $('schedule-list').querySelector(`[data-schedule-id="${CSS.escape(schedule.schedule_id)}"]`);
  if (listed) listed.replaceWith(scheduleItem(schedule));
  else void loadSchedules();
}

function scheduleWhen(s) {
  if (s.every) return `every ${s.every}`;
  return `cron ${s.cron ?? '?'} (${s.timezone ?? 'UTC'})`;
}

/** A link that opens a request on this page (and, as a link, in another tab). */
function requestLink(requestId, label, testid) {
  return el(
    'a',
    {
      href: `#/requests/${requestId}`,
      testid,
      title: requestId,
      data: { requestId },
      onclick: (event) => {
        event.preventDefault();
        void openRequest(requestId).then(() => $('request-detail').scrollIntoView({ block: 'start' }));
      },
    },
    label,
  );
}

function scheduleItem(s) {
  const standing = s.standing_approval;
  const runs = [...(s.recent_runs ?? [])];
  if (s.running_request_id && !runs.some((r) => r.request_id === s.running_request_id))
    runs.unshift({ request_id: s.running_request_id, scheduled_at: null });
  const facts = [scheduleWhen(s), s.created_by ? `by ${s.created_by}` : null, `created ${formatTime(s.created_at)}`];
  const button = (testid, label, action, className = 'small secondary', title) =>
    el('button', { type: 'button', className, testid, title, onclick: (e) => scheduleAction(s, action, e.currentTarget) }, label);

  return el(
    'li',
    { testid: 'schedule', className: 'schedule', data: { scheduleId: s.schedule_id, paused: String(s.paused) } },
    el(
      'div',
      { className: 'schedule-head' },
      el('strong', { className: 'schedule-message', testid: 'schedule-message-text', text: s.message }),
      statusBadge(s.paused ? 'paused' : 'active', 'schedule-state'),
    ),
    el('div', { className: 'hint', testid: 'schedule-when', text: facts.filter(Boolean).join(' · ') }),
    s.note ? el('div', { className: 'hint', testid: 'schedule-note-shown', text: `note: ${s.note}` }) : null,
    el('div', {
      testid: 'schedule-next',
      text: s.paused
        ? 'paused: nothing fires until it is resumed'
        : s.next_runs?.length
          ? `next run ${formatTime(s.next_runs[0])}`
          : 'no next run',
    }),
    standing
      ? el(
          'div',
          { testid: 'schedule-standing', className: 'approved', data: { approver: standing.approver } },
          'standing approval by ',
          el('strong', { text: standing.approver }),
          ' of plan ',
          el('code', { testid: 'schedule-standing-hash', title: standing.plan_hash, text: shortHash(standing.plan_hash) }),
          `, given ${formatTime(standing.approved_at)} on `,
          requestLink(standing.request_id, 'this run', 'schedule-standing-run'),
          ': its later runs with this plan run without asking',
          standing.comment ? el('q', { text: standing.comment }) : null,
        )
      : el('div', { testid: 'schedule-standing', className: 'hint', text: 'no standing approval: each run waits for approval' }),
    el(
      'div',
      { className: 'schedule-runs', testid: 'schedule-runs' },
      runs.length ? 'runs: ' : el('span', { className: 'hint', text: 'no run yet' }),
      ...runs.flatMap((run, i) => {
        const going = run.request_id === s.running_request_id;
        const label = `${run.scheduled_at ? formatTime(run.scheduled_at) : run.request_id}${going ? ' (going)' : ''}`;
        return [i > 0 ? ' · ' : null, requestLink(run.request_id, label, going ? 'schedule-running-run' : 'schedule-run-link')];
      }),
    ),
    el(
      'div',
      { className: 'row' },
      s.paused ? button('schedule-resume', 'Resume', 'resume') : button('schedule-pause', 'Pause', 'pause'),
      button('schedule-run', 'Run now', 'run', 'small secondary', 'start a run now (skipped while one is going)'),
      standing
        ? button(
            'schedule-revoke',
            'Revoke standing approval',
            'revoke',
            'small secondary',
            'approvers only: the next run waits for a person again',
          )
        : null,
      button('schedule-delete', 'Delete', 'delete', 'small danger'),
      el('span', { className: 'spacer' }),
      /^https?:\/\//i.test(s.temporal_url ?? '')
        ? el('a', { href: s.temporal_url, target: '_blank', rel: 'noopener noreferrer', className: 'hint' }, 'in the Temporal UI ↗')
        : null,
    ),
  );
}

async function scheduleAction(s, action, button) {
  const path = `/schedules/${encodeURIComponent(s.schedule_id)}`;
  if (action === 'delete') {
    const sure = window.confirm(
      `Delete the schedule “${s.message}” (${scheduleWhen(s)})? Nothing fires any more and its standing approval is revoked; a run already going goes on.`,
    );
    if (!sure) return;
    const deleted = await withButton(button, 'schedule-error', () => api('DELETE', path));
    if (deleted) {
      view.schedulesShown = '';
      await loadSchedules();
    }
    return;
  }
  const answer = await withButton(button, 'schedule-error', () => api('POST', `${path}/${action}`, {}));
  if (!answer) return;
  replaceSchedule(answer);
  // Temporal starts the run a moment after it accepted it: look again until it shows.
  if (action === 'run') void watchForRun(answer, runsOf(s).concat(runsOf(answer)));
}

/** The requests a schedule started that it shows: its recent runs and the one going. */
function runsOf(schedule) {
  return [...(schedule.recent_runs ?? []).map((r) => r.request_id), schedule.running_request_id].filter(Boolean);
}

/** Looks at the schedule until a run it had not shown before appears (a run is skipped while one is going). */
async function watchForRun(schedule, known) {
  const WATCH_S = 20;
  for (let i = 0; i < WATCH_S; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    let now;
    try {
      now = await api('GET', `/schedules/${encodeURIComponent(schedule.schedule_id)}`);
    } catch {
      return;
    }
    if (runsOf(now).some((id) => !known.includes(id))) {
      replaceSchedule(now);
      void loadList();
      return;
    }
  }
  setBanner(
    'schedule-error',
    `Run now started no run of “${schedule.message}” within ${WATCH_S} s: a schedule runs one at a time, and a run of it may still be going.`,
  );
}

async function createSchedule(event) {
  event.preventDefault();
  const value = (testid) => $(testid).value.trim();
  const body = { message: value('schedule-message') };
  if (!body.message) return;
  const every = value('schedule-every');
  const cron = value('schedule-cron');
  if (Boolean(every) === Boolean(cron)) {
    setBanner('schedule-error', 'Give either an interval (every 1h, 30m, 7d) or a cron expression (0 4 * * 0), not both.');
    return;
  }
  if (every) body.every = every;
  if (cron) body.cron = cron;
  if (value('schedule-timezone')) body.timezone = value('schedule-timezone');
  if (value('schedule-note')) body.note = value('schedule-note');
  if ($('schedule-paused').checked) body.paused = true;
  const created = await withButton($('schedule-create'), 'schedule-error', () => api('POST', '/schedules', body));
  if (!created) return;
  $('schedule-form').reset();
  view.scheduleOffset = 0;
  view.schedulesShown = '';
  await loadSchedules();
  // Temporal's list of schedules catches up a moment later: meanwhile the new one is shown from the answer.
  if (!$('schedule-list').querySelector(`[data-schedule-id="${CSS.escape(created.schedule_id)}"]`)) {
    $('schedule-list').prepend(scheduleItem(created));
    $('schedules-note').textContent = '';
    setTimeout(() => void loadSchedules(), 2000);
  }
}

// ---------------------------------------------------------------- asking

async function submitChat(event) {
  event.preventDefault();
  const message = $('chat-input').value.trim();
  if (!message) return;
  show($('chat-progress'), true);
  const request = await withButton($('chat-submit'), 'chat-error', async () => {
    try {
      return await api('POST', '/chat', { message });
    } catch (err) {
      if (err instanceof ApiCallError && err.code === 'unplannable') throw unplannableError(err);
      throw err;
    }
  });
  show($('chat-progress'), false);
  if (!request) return;
  $('chat-input').value = '';
  remember(request);
  showRequest(request);
  void loadList();
}

function unplannableError(err) {
  const known = err.body?.error?.known_services ?? err.body?.known_services ?? [];
  const services = known.length ? ` Chiffon knows: ${known.join(', ')}.` : '';
  return new Error(`Nothing in that can be planned: ${err.message}.${services}`);
}

// ---------------------------------------------------------------- one request

function emptyCurrent(id) {
  return { id, request: null, lastSeq: 0, events: [], planKey: '', taskRows: new Map(), audits: new Map(), inputKey: '' };
}

async function openRequest(id) {
  const trimmed = String(id).trim();
  if (!trimmed) return;
  view.current = emptyCurrent(trimmed);
  if (location.hash !== `#/requests/${trimmed}`) history.replaceState(null, '', `#/requests/${trimmed}`);
  clearDetail();
  show($('request-detail'), true);
  $('request-id').textContent = trimmed;
  await refreshRequest();
  startLive();
}

/** Shows a request just answered by the API (POST /chat) without asking for it again. */
function showRequest(request) {
  view.current = emptyCurrent(request.request_id);
  history.replaceState(null, '', `#/requests/${request.request_id}`);
  clearDetail();
  show($('request-detail'), true);
  renderRequest(request);
  startLive();
}

function clearDetail() {
  // Nothing of the request shown before stays on screen while the next one loads.
  setStatusBadge($('request-status'), 'loading');
  $('request-message').textContent = '';
  $('request-facts').replaceChildren();
  $('decision-summary').replaceChildren();
  show($('decision-form'), false);
  setBanner('plan-changed', '');
  setBanner('request-error', '');
  show($('check-summary'), false);
  for (const action of Object.keys(ACTIONS)) show($(`action-${action}`), false);
  $('plan-meta').textContent = '';
  $('steps').replaceChildren();
  $('intents').replaceChildren();
  $('input-form').replaceChildren();
  $('decision-comment').value = '';
  setBanner('detail-error', '');
}

async function refreshRequest() {
  const current = view.current;
  if (!current) return;
  try {
    const request = await api('GET', `/requests/${encodeURIComponent(current.id)}`);
    if (view.current === current) renderRequest(request);
  } catch (err) {
    if (view.current === current && !(err instanceof ApiCallError && err.status === 401)) setBanner('detail-error', describeError(err));
  }
}

let refreshTimer;
/** Many events arrive together: one GET after they settle. */
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    await refreshRequest();
    await loadList();
    await loadSchedules();
  }, 250);
}

function renderRequest(request) {
  const current = view.current;
  const statusChanged = current.request?.status !== request.status;
  current.request = request;
  remember(request);
  setBanner('detail-error', '');
  renderHeader(request);
  renderFacts(request);
  renderIntents(request);
  renderInputForm(request);
  renderDecision(request);
  renderActions(request);
  renderSteps(request);
  if (statusChanged) markSelected();
}

function renderHeader(request) {
  $('request-id').textContent = request.request_id;
  setStatusBadge($('request-status'), request.status);
  $('request-message').textContent = request.message ?? '';
  const link = $('temporal-link');
  const url = temporalLink(request);
  if (url) link.href = url;
  show(link, Boolean(url));
  setBanner('request-error', request.error?.message ?? request.paused_reason ?? '');
}

function temporalLink(request) {
  const base = view.config.temporalUiUrl;
  if (!/^https?:\/\//i.test(base)) return '';
  const workflowId = request.workflow_id ?? `request-${request.request_id}`;
  return `${base}/namespaces/${encodeURIComponent(view.config.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

function renderFacts(request) {
  const facts = [];
  const add = (term, value, testid) => {
    if (value === undefined || value === null || value === '') return;
    facts.push(el('dt', { text: term }), el('dd', { text: value, testid }));
  };
  add('asked by', request.requested_by, 'requested-by');
  const decomposition = request.decomposition;
  if (decomposition) {
    add('read by', [decomposition.decided_by, decomposition.model].filter(Boolean).join(' · '), 'decided-by');
    for (const skipped of decomposition.skipped ?? []) add(`skipped ${skipped.provider}`, skipped.reason);
  }
  add('paused', request.paused_reason);
  const schedule = request.schedule;
  if (schedule) {
    add('started by schedule', schedule.schedule_id, 'request-schedule');
    const decision = request.decision;
    if (decision?.standing_approval_id)
      add(
        'ran under',
        `the standing approval ${decision.standing_approval_id} (${decision.approver}): no one was asked`,
        'request-standing',
      );
    else if (decision?.standing)
      add(
        'standing',
        `approved as standing: the schedule's later runs with plan ${shortHash(decision.plan_hash)} run without asking, until an approver revokes it`,
        'request-standing',
      );
  }
  for (const action of request.operator_actions ?? []) add(action.action, `${action.by} at ${formatTime(action.at)}`);
  $('request-facts').replaceChildren(...facts);
}

function renderIntents(request) {
  $('intents').replaceChildren(
    ...(request.intents ?? []).map((intent) =>
      el(
        'li',
        { testid: 'intent' },
        el('strong', { text: intent.name }),
        ` ${intent.service ?? ''} → `,
        el('code', { text: intent.playbook ?? '' }),
        intent.source ? el('span', { className: 'hint', text: ` (from “${intent.source}”)` }) : null,
      ),
    ),
  );
  if (!request.intents?.length) $('intents').append(el('li', { className: 'hint', text: 'none' }));
}

// ---------------------------------------------------------------- needs_input

function renderInputForm(request) {
  const missing = request.status === 'needs_input' ? (request.missing_inputs ?? []) : [];
  show($('input-section'), missing.length > 0);
  const key = JSON.stringify(missing);
  if (key === view.current.inputKey) return;
  view.current.inputKey = key;
  const fields = missing.flatMap((entry) =>
    entry.vars.map((name) => {
      const id = `input-${entry.playbook}-${name}`.replace(/[^A-Za-z0-9_-]/g, '_');
      return el(
        'div',
        { className: 'field' },
        el('label', { for: id }, el('code', { text: entry.playbook }), ` ${name}`),
        el('textarea', { id, rows: 2, testid: 'input-value', data: { playbook: entry.playbook, name } }),
      );
    }),
  );
  const submit = el('button', { type: 'submit', testid: 'input-submit', text: 'Plan again with these values' });
  $('input-form').replaceChildren(...fields, submit);
}

/** A value typed as JSON is taken as JSON ([...], {...}, 3001, true); anything else as text. */
function parseInputValue(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function submitInput(event) {
  event.preventDefault();
  const values = {};
  for (const field of $('input-form').querySelectorAll('[data-testid="input-value"]')) {
    if (!field.value.trim()) continue;
    const { playbook, name } = field.dataset;
    values[playbook] = { ...(values[playbook] ?? {}), [name]: parseInputValue(field.value.trim()) };
  }
  const id = view.current.id;
  const request = await withButton($('input-submit'), 'detail-error', () =>
    api('POST', `/requests/${encodeURIComponent(id)}/input`, { values }),
  );
  if (request) renderRequest(request);
}

// ---------------------------------------------------------------- decision and actions

function renderDecision(request) {
  const pending = request.status === 'pending_approval' && request.plan;
  show($('decision-form'), Boolean(pending));
  // Approve is offered once Ansible's preview says every step can run (plans from before the
  // preflight have none: preview_status null).
  const previewing = request.plan?.preview_status === 'running';
  $('approve-button').disabled = Boolean(pending && previewing);
  $('approve-button').title = previewing ? 'waiting for the preview of what will run' : '';
  // A run a schedule started may be approved as standing: the schedule's later runs with this very plan run without asking.
  const scheduled = Boolean(request.schedule);
  show($('approve-standing-button'), scheduled);
  show($('standing-hint'), scheduled);
  $('approve-standing-button').disabled = Boolean(pending && previewing);
  const changedFrom = request.schedule?.plan_changed_from;
  setBanner(
    'plan-changed',
    changedFrom ? `The plan changed since the standing approval (was ${shortHash(changedFrom)}): this run waits for a person.` : '',
  );
  $('plan-hash').textContent = shortHash(request.plan?.hash, 16);
  renderCheckSummary(request);
  const decisions = [...(request.previous_decisions ?? []), ...(request.decision ? [request.decision] : [])];
  const summary = decisions.map((d) => describeDecision(d));
  if (summary.length === 0 && !pending) summary.push(el('p', { className: 'hint', text: 'no decision' }));
  $('decision-summary').replaceChildren(...summary);
}

/** The latest check run in one line; while it runs, Check is not offered again. */
function renderCheckSummary(request) {
  const check = request.check_run;
  const going = check && (check.status === 'waiting' || check.status === 'running');
  $('check-button').disabled = Boolean(going);
  const line = $('check-summary');
  show(line, Boolean(check));
  if (!check) return;
  line.dataset.status = check.status;
  const stale = check.for_current_plan ? '' : ' (of an earlier plan)';
  line.textContent = `Check run ${check.number} by ${check.requested_by}${stale}: ${check.summary}`;
}

async function checkPlan() {
  const id = view.current?.id;
  if (!id) return;
  const request = await withButton($('check-button'), 'detail-error', () =>
    api('POST', `/requests/${encodeURIComponent(id)}/preview`, { check: true }),
  );
  if (request) renderRequest(request);
}

function describeDecision(decision) {
  const verdict = decision.approved ? (decision.standing ? 'Approved as standing' : 'Approved') : 'Rejected';
  const by = decision.standing_approval_id ? `the standing approval of ${decision.approver} (no one was asked)` : decision.approver;
  return el(
    'p',
    { testid: 'decision-text', className: decision.approved ? 'approved' : 'rejected' },
    el('strong', { text: verdict }),
    ` by ${by} at ${formatTime(decision.decided_at)}`,
    decision.comment ? el('q', { text: decision.comment }) : null,
  );
}

async function decide(approved, standing = false) {
  const request = view.current?.request;
  if (!request?.plan) return;
  const body = { request_id: request.request_id, approved, plan_hash: request.plan.hash };
  if (standing) body.standing = true;
  const comment = $('decision-comment').value.trim();
  if (comment) body.comment = comment;
  const button = $(standing ? 'approve-standing-button' : approved ? 'approve-button' : 'reject-button');
  const answer = await withButton(button, 'detail-error', () => api('POST', '/approve', body));
  if (!answer) return;
  $('decision-comment').value = '';
  await refreshRequest();
  void loadList();
  if (request.schedule) void loadSchedules();
}

const ACTIONS = {
  cancel: (status) => !ENDED.includes(status),
  retry: (status) => status === 'failed' || status === 'unrunnable',
  resume: (status) => status === 'paused',
};

function renderActions(request) {
  for (const [action, allowed] of Object.entries(ACTIONS)) show($(`action-${action}`), allowed(request.status));
}

async function operatorAction(action) {
  const id = view.current?.id;
  if (!id) return;
  const request = await withButton($(`action-${action}`), 'detail-error', () =>
    api('POST', `/requests/${encodeURIComponent(id)}/${action}`, {}),
  );
  if (request) renderRequest(request);
}

// ---------------------------------------------------------------- plan steps

function renderSteps(request) {
  const current = view.current;
  const planSteps = request.plan?.steps ?? [];
  $('plan-meta').textContent = planMeta(request);
  const key = `${request.plan?.hash ?? ''}:${planSteps.length}`;
  if (key !== current.planKey) {
    current.planKey = key;
    current.taskRows.clear();
    $('steps').replaceChildren(...planSteps.map(stepCard));
    for (const event of current.events) renderEvent(event);
  }
  for (const planStep of planSteps) {
    const runStep = (request.steps ?? []).find((s) => s.index === planStep.index);
    updateStepCard(planStep, runStep);
  }
}

function planMeta(request) {
  const plan = request.plan;
  if (!plan) return request.status === 'planning' ? 'planning…' : 'no plan';
  const parts = [`plan ${plan.plan_id}`, `hash ${shortHash(plan.hash)}`];
  if (plan.repo_commit) parts.push(`playbooks at ${shortHash(plan.repo_commit)}`);
  if (plan.decided_by) parts.push(`decided by ${plan.decided_by}`);
  return parts.join(' · ');
}

function stepCard(step) {
  return el(
    'li',
    { className: 'step', testid: 'plan-step', data: { stepIndex: step.index } },
    el(
      'div',
      { className: 'step-head' },
      el('span', { className: 'step-number', text: `${step.index + 1}` }),
      el('code', { className: 'playbook', testid: 'step-playbook', text: step.playbook }),
      el('span', { className: 'hint', text: `${step.service} · ${step.intent}` }),
      el('span', { className: 'spacer' }),
      statusBadge(step.status ?? 'pending', 'step-status'),
    ),
    varsTable(step),
    el(
      'details',
      { className: 'preview', testid: 'step-preview', hidden: '' },
      el('summary', { testid: 'preview-summary' }),
      el('div', { testid: 'preview-hosts', className: 'hint' }),
      el('ol', { testid: 'preview-tasks', className: 'preview-tasks' }),
    ),
    el(
      'details',
      { className: 'check', testid: 'step-check', hidden: '' },
      el('summary', { testid: 'check-step-summary' }),
      el('ol', { testid: 'check-tasks', className: 'check-tasks' }),
    ),
    el('div', { className: 'step-timing hint', testid: 'step-timing' }),
    el('div', { className: 'banner error', testid: 'step-failure', hidden: '' }),
    el('ol', { className: 'events', testid: 'step-events' }),
    el('div', { className: 'audit', testid: 'step-audit', hidden: '' }),
  );
}

function varsTable(step) {
  const names = Object.keys(step.vars ?? {});
  if (names.length === 0) return el('p', { className: 'hint', text: 'no variables' });
  const rows = names.map((name) =>
    el(
      'tr',
      { testid: 'var-row', data: { var: name } },
      el('th', { scope: 'row' }, el('code', { text: name })),
      el('td', {}, el('pre', { text: formatValue(step.vars[name]) })),
      el('td', {}, el('span', { className: 'source', testid: 'var-source', text: step.var_sources?.[name] ?? 'request' })),
    ),
  );
  return el(
    'table',
    { className: 'vars', testid: 'step-vars' },
    el('thead', {}, el('tr', {}, el('th', { text: 'variable' }), el('th', { text: 'value' }), el('th', { text: 'from' }))),
    el('tbody', {}, ...rows),
  );
}

/** What Ansible will do for the step (its --list-hosts --list-tasks), or why it cannot run. */
function renderPreview(card, preview) {
  const details = $('step-preview', card);
  show(details, Boolean(preview));
  if (!preview) return;
  details.dataset.ok = String(preview.ok);
  $('preview-summary', card).textContent = preview.ok
    ? `Ansible will run ${preview.tasks.length} task(s) on ${preview.hosts.length} host(s)`
    : `cannot run: ${preview.problems.join('; ')}`;
  $('preview-hosts', card).textContent = preview.hosts.length ? `hosts: ${preview.hosts.join(', ')}` : 'no host';
  $('preview-tasks', card).replaceChildren(
    ...preview.tasks.map((task) =>
      el(
        'li',
        { testid: 'preview-task' },
        task.role ? el('code', { text: `${task.role} : ` }) : null,
        task.name,
        task.tags.length ? el('span', { className: 'hint', text: ` [${task.tags.join(', ')}]` }) : null,
      ),
    ),
  );
}

/** What the step's check run found: the tasks that would change (with their diffs) or were not checked. */
function renderCheckStep(card, check, index) {
  const details = $('step-check', card);
  const step = check?.steps.find((s) => s.index === index);
  show(details, Boolean(step));
  if (!step) return;
  const changed = step.tasks.filter((t) => t.status === 'changed');
  const unchecked = step.tasks.filter((t) => t.unchecked);
  details.dataset.status = step.status;
  const parts = [changed.length ? `${changed.length} task result(s) would change` : 'nothing would change'];
  if (unchecked.length) parts.push(`${unchecked.length} not checked`);
  if (step.message) parts.push(step.message);
  $('check-step-summary', card).textContent = `check: ${parts.join(' · ')}`;
  $('check-tasks', card).replaceChildren(
    ...[...changed, ...unchecked].map((task) =>
      el(
        'li',
        { testid: 'check-task', data: { status: task.status, host: task.host } },
        el('span', { text: `${task.task} on ${task.host}: ${task.unchecked ? `not checked (${task.unchecked})` : 'would change'}` }),
        task.diff ? el('pre', { className: 'diff', testid: 'check-diff', text: task.diff }) : null,
      ),
    ),
  );
}

function cardOf(index) {
  return $('steps').querySelector(`[data-step-index="${Number(index)}"]`);
}

function updateStepCard(planStep, runStep) {
  const card = cardOf(planStep.index);
  if (!card) return;
  const status = runStep?.status ?? planStep.status ?? 'pending';
  setStatusBadge($('step-status', card), status);
  card.dataset.status = status;
  const timing = [];
  const host = runStep?.host ?? planStep.host;
  if (host) timing.push(`--limit ${host}`);
  if (planStep.tags?.length) timing.push(`--tags ${planStep.tags.join(',')}`);
  if (planStep.become) timing.push('become');
  if (runStep?.agent ?? planStep.agent) timing.push(`agent ${runStep?.agent ?? planStep.agent}`);
  if (runStep?.waiting_reason) timing.push(runStep.waiting_reason);
  if (runStep?.attempt > 1) timing.push(`attempt ${runStep.attempt}`);
  if (runStep?.started_at) timing.push(`started ${formatTime(runStep.started_at)}`);
  if (runStep?.finished_at) timing.push(`finished ${formatTime(runStep.finished_at)}`);
  if (runStep?.exit_code !== null && runStep?.exit_code !== undefined) timing.push(`exit ${runStep.exit_code}`);
  $('step-timing', card).textContent = timing.join(' · ');
  renderPreview(card, planStep.preview);
  renderCheckStep(card, view.current.request?.check_run, planStep.index);
  if (runStep && STEP_ENDED.includes(status)) void loadAudit(card, runStep);
}

// ---------------------------------------------------------------- live output

function liveUrl(id, afterSeq) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const query = new URLSearchParams({ request_id: id, after_seq: String(afterSeq), access_token: token() });
  return `${scheme}//${location.host}${API}/ws?${query}`;
}

function setLiveState(text, state) {
  const node = $('live-status');
  node.textContent = text;
  node.dataset.state = state;
}

function stopLive() {
  const live = view.live;
  view.live = null;
  if (!live) return;
  live.stopped = true;
  clearTimeout(live.timer);
  clearInterval(live.poll);
  live.socket?.close(1000);
}

/** Follows the current request's events over the WebSocket, reconnecting with the last seq seen. */
function startLive() {
  stopLive();
  const current = view.current;
  if (!current || !token()) return;
  const live = { current, socket: null, stopped: false, retries: 0, timer: undefined };
  live.poll = setInterval(() => {
    if (!ENDED.includes(current.request?.status)) void refreshRequest();
  }, REFRESH_MS);
  view.live = live;
  connect(live);
}

function connect(live) {
  if (live.stopped) return;
  const socket = new WebSocket(liveUrl(live.current.id, live.current.lastSeq));
  live.socket = socket;
  let opened = false;
  setLiveState('connecting…', 'connecting');
  socket.addEventListener('open', () => {
    opened = true;
    live.retries = 0;
    setLiveState('● live', 'open');
  });
  socket.addEventListener('message', (message) => {
    if (view.current === live.current) receive(parseEvent(message.data));
  });
  socket.addEventListener('close', () => {
    if (live.stopped) return;
    setLiveState('reconnecting…', 'closed');
    void reconnect(live, opened);
  });
}

function parseEvent(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * A socket that closed before it opened was refused (a bad token, an unknown request) or the server
 * is away: the same events over HTTP say which, and fill the gap meanwhile.
 */
async function reconnect(live, opened) {
  if (!opened) {
    try {
      const page = await api(
        'GET',
        `/requests/${encodeURIComponent(live.current.id)}/events?format=json&after_seq=${live.current.lastSeq}`,
      );
      for (const event of page.events ?? []) receive(event);
    } catch (err) {
      if (err instanceof ApiCallError && (err.status === 401 || err.status === 403)) {
        setLiveState('not following: token refused', 'closed');
        return; // Until the token changes (tokenChanged restarts the stream).
      }
      if (err instanceof ApiCallError && err.status === 400) {
        // The API will not follow this request at all: trying again changes nothing (the page still refreshes it).
        setLiveState(`not following: ${describeError(err)}`, 'closed');
        return;
      }
    }
  }
  const delay = Math.min(1000 * 2 ** live.retries, 15_000);
  live.retries += 1;
  live.timer = setTimeout(() => connect(live), delay);
}

function receive(event) {
  const current = view.current;
  if (!event || typeof event.seq !== 'number' || event.seq <= current.lastSeq) return;
  current.lastSeq = event.seq;
  current.events.push(event);
  renderEvent(event);
  if (['request_status', 'step_status', 'preview', 'check_run'].includes(event.kind)) scheduleRefresh();
}

function renderEvent(event) {
  if (event.kind === 'request_status') {
    if (event.payload?.status) setStatusBadge($('request-status'), event.payload.status);
    return;
  }
  const card = event.step_index === null || event.step_index === undefined ? null : cardOf(event.step_index);
  if (!card) return;
  const log = $('step-events', card);
  const render = EVENT_RENDERERS[event.kind];
  if (render) render(log, event, card);
  log.scrollTop = log.scrollHeight;
}

const EVENT_RENDERERS = {
  play_start: (log, event) => log.append(el('li', { className: 'play', text: `play: ${event.payload?.play?.name ?? ''}` })),
  task_start: (log, event) => taskRow(log, event),
  task_result: (log, event) => addTaskResult(taskRow(log, event), event.payload ?? {}),
  stats: (log, event) => log.append(statsRow(event.payload?.stats ?? {})),
  step_status: (log, event, card) => {
    const payload = event.payload ?? {};
    const check = payload.mode === 'check';
    // A check run's status is its own: the step's badge is the real run's.
    if (!check) {
      setStatusBadge($('step-status', card), payload.status);
      card.dataset.status = payload.status;
    }
    const parts = [`${check ? 'check' : 'step'} ${payload.status}`];
    if (payload.activity_attempt > 1) parts.push(`delivery ${payload.activity_attempt}`);
    if (payload.reason) parts.push(payload.reason); // why it waits, or why its agent holds it
    if (payload.exit_code !== undefined) parts.push(`exit ${payload.exit_code}`);
    if (payload.outcome && payload.status !== 'completed') parts.push(payload.outcome);
    log.append(el('li', { className: `step-event status-${payload.status}`, testid: 'step-event', text: parts.join(' · ') }));
  },
};

/** One row per task of a run: its name, then one chip per host as results come. */
function taskRow(log, event) {
  const task = event.payload?.task ?? {};
  const key = `${event.task_id}:${task.id ?? task.name}`;
  const rows = view.current.taskRows;
  let row = rows.get(key);
  if (!row || !row.isConnected) {
    const check = event.payload?.mode === 'check';
    row = el(
      'li',
      {
        className: check ? 'task check' : 'task',
        testid: 'task-event',
        data: { taskName: task.name ?? '', mode: check ? 'check' : 'run' },
      },
      el('span', {
        className: 'task-name',
        text: `${check ? '[check] ' : ''}${task.name ?? 'task'}${event.payload?.handler ? ' (handler)' : ''}`,
      }),
      el('span', { className: 'results' }),
    );
    log.append(row);
    rows.set(key, row);
  }
  return row;
}

function addTaskResult(row, payload) {
  row.dataset.status = payload.status;
  const chip = el(
    'span',
    { className: `result status-${payload.status}`, testid: 'task-result', data: { status: payload.status, host: payload.host } },
    `${payload.host}: ${payload.status}`,
  );
  if (payload.action) chip.title = payload.action;
  row.querySelector('.results').append(chip);
  if (payload.message) row.append(el('div', { className: 'task-message', text: payload.message }));
}

function statsRow(stats) {
  const hosts = Object.entries(stats).map(
    ([host, counts]) =>
      `${host}: ${
        Object.entries(counts)
          .filter(([, n]) => n > 0)
          .map(([name, n]) => `${name}=${n}`)
          .join(' ') || 'nothing'
      }`,
  );
  return el('li', { className: 'stats', testid: 'step-stats', text: `recap ${hosts.join(' · ')}` });
}

// ---------------------------------------------------------------- audit and suggestions

/** Loads a finished step's audit once it has a commit (until then, again at the next refresh). */
async function loadAudit(card, runStep) {
  const current = view.current;
  const cached = current.audits.get(runStep.task_id);
  if (cached === 'loading' || (cached && cached.git?.commit)) return;
  current.audits.set(runStep.task_id, 'loading');
  try {
    const audit = await api('GET', `/audit/task/${encodeURIComponent(runStep.task_id)}`);
    current.audits.set(runStep.task_id, audit);
    if (view.current === current && card.isConnected) renderAudit(card, audit);
  } catch {
    current.audits.delete(runStep.task_id);
  }
}

function renderAudit(card, audit) {
  const task = audit.task ?? {};
  const git = audit.git ?? {};
  const failure = $('step-failure', card);
  const failed = task.status === 'failed' || task.status === 'cancelled';
  failure.textContent = failed ? `${task.status}: ${task.outcome ?? ''}` : '';
  show(failure, failed && Boolean(task.outcome));

  const box = $('step-audit', card);
  const commit = git.commit
    ? el('code', { testid: 'audit-commit', title: git.commit, text: git.commit })
    : el('span', { className: 'hint', text: 'not committed yet' });
  const parts = [
    el('h4', { text: 'Audit' }),
    el('p', {}, 'task ', el('code', { text: task.task_id }), ` ${task.status} · commit `, commit, git.path ? ` · ${git.path}` : ''),
    task.outcome && !failed ? el('p', { className: 'hint', text: task.outcome }) : null,
    suggestionsSection(card, task),
    git.content
      ? el('details', {}, el('summary', { text: 'audit record' }), el('pre', { text: JSON.stringify(git.content, null, 2) }))
      : null,
  ];
  box.replaceChildren(...parts.filter(Boolean));
  show(box, true);
}

function suggestionsSection(card, task) {
  const suggestions = task.suggestions ?? [];
  if (suggestions.length === 0) return task.status === 'failed' ? el('p', { className: 'hint', text: 'no suggestions' }) : null;
  return el(
    'div',
    { className: 'suggestions', testid: 'suggestions' },
    el('h4', { text: `Suggestions (${suggestions.length})` }),
    el('ul', {}, ...suggestions.map((s) => suggestionItem(card, task, s))),
    el('div', { className: 'banner error', testid: 'suggestion-error', hidden: '' }),
  );
}

function suggestionItem(card, task, s) {
  const where = [s.path, s.line].filter((part) => part !== null && part !== undefined).join(':');
  const item = el(
    'li',
    { testid: 'suggestion', data: { suggestionId: s.id, status: s.status } },
    el(
      'div',
      {},
      el('span', { className: 'badge', text: s.category }),
      ' ',
      el('code', { text: s.rule }),
      where ? ` ${where}` : '',
      ' ',
      statusBadge(s.status, 'suggestion-status'),
    ),
    el('div', { text: s.message }),
    s.suggested_change ? el('div', { className: 'hint', text: `→ ${s.suggested_change}` }) : null,
    s.commit_hash
      ? el(
          'div',
          { className: 'hint' },
          `applied by ${s.decided_by ?? '?'} in commit `,
          el('code', { testid: 'suggestion-commit', text: s.commit_hash }),
        )
      : null,
  );
  if (s.status === 'open') {
    // Accepting applies the change (ansible-lint's fix or the stored patch) and commits it; a finding
    // without either is fixed by hand and then dismissed.
    const automatic = s.fixable || Boolean(s.patch);
    item.append(
      el(
        'div',
        { className: 'row' },
        automatic
          ? el(
              'button',
              {
                type: 'button',
                className: 'small',
                testid: 'suggestion-accept',
                onclick: (e) => decideSuggestion(card, task, s, 'accept', e.currentTarget),
              },
              'Accept (apply and commit)',
            )
          : el('span', { className: 'hint', text: 'no automatic fix: edit the playbook, then dismiss' }),
        el(
          'button',
          {
            type: 'button',
            className: 'small secondary',
            testid: 'suggestion-dismiss',
            onclick: (e) => decideSuggestion(card, task, s, 'dismiss', e.currentTarget),
          },
          'Dismiss',
        ),
      ),
    );
  }
  return item;
}

async function decideSuggestion(card, task, suggestion, action, button) {
  const errorBox = card.querySelector('[data-testid="suggestion-error"]');
  button.disabled = true;
  try {
    await api('POST', `/suggestions/${encodeURIComponent(suggestion.id)}/${action}`, {});
    view.current.audits.delete(task.task_id);
    const audit = await api('GET', `/audit/task/${encodeURIComponent(task.task_id)}`);
    view.current.audits.set(task.task_id, audit);
    renderAudit(card, audit);
  } catch (err) {
    button.disabled = false;
    errorBox.textContent = describeError(err);
    show(errorBox, true);
  }
}

// ---------------------------------------------------------------- start

function markSelected() {
  for (const item of $('request-list').children) item.classList.toggle('selected', item.dataset.requestId === view.current?.id);
}

function requestIdFromHash() {
  // A scheduled run's id ends with its time: schedule-<hex>-2026-12-07T04:00:00Z.
  const match = /^#\/requests\/([A-Za-z0-9._:-]{1,200})$/.exec(location.hash);
  return match ? match[1] : '';
}

async function loadConfig() {
  try {
    const response = await fetch('/dashboard/config.json');
    if (response.ok) Object.assign(view.config, await response.json());
  } catch {
    // The defaults stand.
  }
}

function wire() {
  $('token-form').addEventListener('submit', saveToken);
  $('token-cancel').addEventListener('click', () => show($('token-panel'), false));
  $('token-forget').addEventListener('click', forgetToken);
  $('change-token').addEventListener('click', openTokenPanel);
  $('auth-error-change-token').addEventListener('click', openTokenPanel);
  $('chat-form').addEventListener('submit', submitChat);
  $('input-form').addEventListener('submit', submitInput);
  $('approve-button').addEventListener('click', () => decide(true));
  $('approve-standing-button').addEventListener('click', () => decide(true, true));
  $('check-button').addEventListener('click', () => void checkPlan());
  $('reject-button').addEventListener('click', () => decide(false));
  for (const action of Object.keys(ACTIONS)) $(`action-${action}`).addEventListener('click', () => operatorAction(action));
  $('refresh-list').addEventListener('click', () => loadList());
  $('list-newer').addEventListener('click', () => turnPage(-1));
  $('fleet-newer').addEventListener('click', () => turnFleetPage(-1));
  $('fleet-older').addEventListener('click', () => turnFleetPage(1));
  $('list-older').addEventListener('click', () => turnPage(1));
  $('schedule-form').addEventListener('submit', createSchedule);
  $('refresh-schedules').addEventListener('click', () => loadSchedules());
  $('schedules-newer').addEventListener('click', () => turnSchedulePage(-1));
  $('schedules-older').addEventListener('click', () => turnSchedulePage(1));
  setInterval(() => void loadSchedules(), SCHEDULES_REFRESH_MS);
  $('open-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void openRequest($('open-input').value);
  });
  window.addEventListener('hashchange', () => {
    const id = requestIdFromHash();
    if (id && id !== view.current?.id) void openRequest(id);
  });
}

/**
 * A sign-in link (`npm start`'s first run prints one: .../dashboard/#token=...) carries the token in
 * the URL's fragment, which the browser never sends anywhere; it is kept like a typed token and
 * taken out of the address bar and the history at once.
 */
function takeTokenFromFragment() {
  const match = /^#token=([^&]+)$/.exec(location.hash);
  if (!match) return;
  const value = decodeURIComponent(match[1]).trim();
  history.replaceState(null, '', location.pathname + location.search);
  if (!value) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  void codecSession('POST', value);
}

async function start() {
  takeTokenFromFragment();
  wire();
  renderTokenState();
  await loadConfig();
  if (!token()) {
    openTokenPanel();
    return;
  }
  void loadList();
  void loadSchedules();
  const id = requestIdFromHash();
  if (id) await openRequest(id);
}

void start();
