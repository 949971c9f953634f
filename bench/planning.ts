// 3. Planning: request → plan latency with the deterministic parser, over catalogs of 20 and 2,000
// playbooks. End to end: the request workflow is started with the planReady Update (as POST /chat
// does) and timed until the plan comes back; each run asks for another service. Where the time goes
// is read from each request's history (server timestamps; local activities from their markers): the
// decompose and plan activities' share, the workflow tasks' run time, and the rest, Temporal handing tasks to the worker
// (schedule → start). In process: the same decompose + plan as pure functions over the already
// scanned catalog, and ansible-inventory itself (without and with the inventory memo).
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import proto from '@temporalio/proto';
import { scanCatalog } from '../services/catalog/catalog.js';
import { listInventory, readInventory } from '../services/inventory/inventory.js';
import { decomposeRequest } from '../domain/decompose.js';
import { planRequest } from '../domain/plan.js';
import { workflowIdFor } from '../domain/request-state.js';
import type { BenchStack } from './stack.js';
import { serviceName, writeGeneratedRepo } from './fixtures/repos.js';
import { summarize } from './stats.js';

export interface PlanningResult {
  catalogSize: number;
  n: number;
  endToEndMs: ReturnType<typeof summarize>;
  /** From the requests' histories: where the end-to-end time went (per request). */
  breakdownMs: {
    decomposeActivity: ReturnType<typeof summarize>;
    planActivity: ReturnType<typeof summarize>;
    /** Other local activities of those workflow tasks (recordRequest of pending_approval). */
    otherLocalActivities: ReturnType<typeof summarize>;
    /** Workflow tasks' time after their last local activity: workflow code, the task's completion RPC. */
    afterLocalActivities: ReturnType<typeof summarize>;
    workflowTasks: ReturnType<typeof summarize>;
    /** Schedule → start of every workflow and activity task: Temporal's matching and the worker's polling. */
    temporalDispatch: ReturnType<typeof summarize>;
    /** First to last history event (start → Update completed); the rest of end to end is the client's RPCs. */
    server: ReturnType<typeof summarize>;
  };
  parseAndPlanMs: ReturnType<typeof summarize>;
  /** ansible-inventory --list itself (what every plan paid before the memo). */
  inventoryReadMs: ReturnType<typeof summarize>;
  /** readInventory when the inventory has not changed (content hash, memo). */
  inventoryMemoMs: ReturnType<typeof summarize>;
  errors: string[];
}

export async function measurePlanning(stack: BenchStack, catalogSize: number, n: number): Promise<PlanningResult> {
  const repo = writeGeneratedRepo(path.join(stack.scratch, `catalog-${catalogSize}`), catalogSize);
  const messageFor = (i: number) => `Deploy ${serviceName((i * 7919) % catalogSize)} please`;
  const errors: string[] = [];

  // In process: the parser and the planner alone (the catalog and inventory are read once).
  const catalog = await scanCatalog(repo);
  const inventoryPath = path.join(repo, 'inventory', 'hosts.yml');
  const inventory = await readInventory(inventoryPath);
  const pure: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    const decomposed = decomposeRequest(messageFor(i), catalog);
    if (decomposed.ok) planRequest(decomposed.intents, catalog, inventory, { planId: randomUUID(), newTaskId: randomUUID });
    pure.push(performance.now() - started);
  }
  const timed = async (times: number, read: () => Promise<unknown>) => {
    const samples: number[] = [];
    for (let i = 0; i < times; i++) {
      const started = performance.now();
      await read();
      samples.push(performance.now() - started);
    }
    return summarize(samples);
  };
  const inventoryReadMs = await timed(Math.min(n, 5), () => listInventory(inventoryPath));
  const inventoryMemoMs = await timed(n, () => readInventory(inventoryPath));

  const worker = await stack.startWorker(`plan${catalogSize}`, { playbookRepo: repo });
  const endToEnd: number[] = [];
  const requestIds: string[] = [];
  try {
    await stack.submit(worker, messageFor(n)); // warm-up (fills the catalog cache), not counted
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      const { requestId, state } = await stack.submit(worker, messageFor(i));
      const ms = performance.now() - started;
      if (state.status === 'pending_approval' && state.plan?.steps.length === 1) {
        endToEnd.push(ms);
        requestIds.push(requestId);
      } else errors.push(`request ${requestId}: ${state.status} ${state.error?.message ?? ''}`);
    }
  } finally {
    await worker.stop();
  }

  const phases = await Promise.all(requestIds.map((id) => planningPhases(stack, id)));
  const pick = (key: keyof (typeof phases)[number]) => summarize(phases.map((p) => p[key]));
  return {
    catalogSize,
    n,
    endToEndMs: summarize(endToEnd),
    breakdownMs: {
      decomposeActivity: pick('decompose'),
      planActivity: pick('plan'),
      otherLocalActivities: pick('otherLocal'),
      afterLocalActivities: pick('afterLocal'),
      workflowTasks: pick('workflowTasks'),
      temporalDispatch: pick('dispatch'),
      server: pick('server'),
    },
    parseAndPlanMs: summarize(pure),
    inventoryReadMs,
    inventoryMemoMs,
    errors,
  };
}

const EventType = proto.temporal.api.enums.v1.EventType;

/**
 * Where a planned request's time went, from its history up to the planReady Update's completion.
 * decompose and plan run as local activities: recorded as markers (core_local_activity) whose data
 * holds the activity type and the worker's complete_time; each one's share is the time from the
 * workflow task's start (or the previous local activity's completion) to its own completion, so it
 * includes the worker's activation round trip that ran it. Other local activities (recordRequest)
 * are `otherLocal`; `afterLocal` is each workflow task's time after its last local activity (workflow
 * code, the task's completion RPC).
 */
export async function planningPhases(stack: BenchStack, requestId: string) {
  const history = await stack.client.workflow.getHandle(workflowIdFor(requestId)).fetchHistory();
  const events = history.events ?? [];
  const end = events.findIndex((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED);
  // The local activities the Update's workflow task ran after it (recordRequest) are recorded after it.
  let last = end;
  while (last >= 0 && events[last + 1]?.eventType === EventType.EVENT_TYPE_MARKER_RECORDED) last++;
  const upTo = last >= 0 ? events.slice(0, last + 1) : events;
  const at = (e: (typeof events)[number]) => Number(String(e.eventTime?.seconds ?? 0)) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
  const byId = new Map(upTo.map((e) => [String(e.eventId), e]));
  const activityName = new Map<string, string>();
  const out = {
    decompose: 0,
    plan: 0,
    otherLocal: 0,
    afterLocal: 0,
    workflowTasks: 0,
    dispatch: 0,
    server: upTo.length ? at(upTo[upTo.length - 1]!) - at(upTo[0]!) : 0,
  };
  /** The start of the running workflow task, then the completion of its last local activity. */
  let lastPoint: number | undefined;
  /** When the running workflow task completed (its markers follow that event). */
  let taskCompleted: number | undefined;
  const closeTask = () => {
    if (taskCompleted !== undefined && lastPoint !== undefined) out.afterLocal += Math.max(0, taskCompleted - lastPoint);
    taskCompleted = undefined;
  };
  for (const e of upTo) {
    const scheduled = (id: unknown) => byId.get(String(id));
    switch (e.eventType) {
      case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        activityName.set(String(e.eventId), e.activityTaskScheduledEventAttributes?.activityType?.name ?? '');
        break;
      case EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED: {
        const s = scheduled(e.workflowTaskStartedEventAttributes?.scheduledEventId);
        if (s) out.dispatch += at(e) - at(s);
        closeTask();
        lastPoint = at(e);
        break;
      }
      case EventType.EVENT_TYPE_MARKER_RECORDED: {
        const m = e.markerRecordedEventAttributes;
        if (m?.markerName !== 'core_local_activity' || lastPoint === undefined) break;
        const data = m.details?.data?.payloads?.[0]?.data;
        let marker: { activity_type?: string; complete_time?: { seconds?: number | string; nanos?: number } } | undefined;
        try {
          marker = data ? (JSON.parse(Buffer.from(data).toString('utf8')) as typeof marker) : undefined;
        } catch {
          marker = undefined;
        }
        const done = marker?.complete_time;
        if (!done) break;
        const completed = Number(done.seconds ?? 0) * 1000 + (done.nanos ?? 0) / 1e6;
        const share = Math.max(0, completed - lastPoint);
        lastPoint = Math.max(lastPoint, completed);
        if (marker?.activity_type === 'decompose' || marker?.activity_type === 'plan') out[marker.activity_type] += share;
        else out.otherLocal += share;
        break;
      }
      case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: {
        const s = scheduled(e.workflowTaskCompletedEventAttributes?.startedEventId);
        if (s) out.workflowTasks += at(e) - at(s);
        taskCompleted = at(e);
        break;
      }
      case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED: {
        const s = scheduled(e.activityTaskStartedEventAttributes?.scheduledEventId);
        if (s) out.dispatch += at(e) - at(s);
        break;
      }
      case EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: {
        const a = e.activityTaskCompletedEventAttributes;
        const started = scheduled(a?.startedEventId);
        const name = activityName.get(String(a?.scheduledEventId));
        if (started && (name === 'decompose' || name === 'plan')) out[name] += at(e) - at(started);
        break;
      }
    }
  }
  closeTask();
  return out;
}
