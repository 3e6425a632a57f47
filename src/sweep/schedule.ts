import {
  encodeScheduleOverlapPolicy,
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleOptions,
  type ScheduleOptionsAction,
} from '@temporalio/client';
import { msToTs, toPayloads } from '@temporalio/common';
import { randomUUID } from 'node:crypto';
import type { Connection } from 'mongoose';
import { latestSweepRun, type SweepRunRecord } from './sweep-runs';

export const SWEEP_WORKFLOW_TYPE = 'refundSweepWorkflow';

/** Stable id: one schedule per task queue, found again after every restart and deploy. */
export function sweepScheduleId(taskQueue: string): string {
  return `${taskQueue}-sweep`;
}

export interface SweepScheduleSettings {
  taskQueue: string;
  intervalMs: number;
}

/**
 * Creates the sweep schedule, or brings an existing one up to date with the
 * configured interval; one that already matches is left alone ('unchanged').
 * An update re-sends the whole schedule, its paused state and note included,
 * so it carries the state it described along with that description's conflict
 * token: Temporal drops an update whose token is stale, so a pause an operator
 * sends meanwhile is never overwritten (the SDK's `handle.update` sends no
 * token, and Temporal applies a pause before an update handled with it in one
 * workflow task). A dropped update is described again and re-sent.
 */
export async function ensureSweepSchedule(client: Client, settings: SweepScheduleSettings): Promise<'created' | 'updated' | 'unchanged'> {
  const scheduleId = sweepScheduleId(settings.taskQueue);
  const wanted = wantedSchedule(settings);
  try {
    await client.schedule.create({ scheduleId, ...wanted, state: { note: 'created by the refund service' } });
    return 'created';
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
  const handle = client.schedule.getHandle(scheduleId);
  for (let attempt = 1; ; attempt += 1) {
    const current = await handle.describe();
    const differences = scheduleDifferences(current, settings);
    if (differences.length === 0) return attempt === 1 ? 'unchanged' : 'updated';
    if (attempt > UPDATE_ATTEMPTS) throw new SweepScheduleNotUpdated(scheduleId, differences);
    await client.workflowService.updateSchedule({
      namespace: client.options.namespace,
      scheduleId,
      schedule: { ...current.raw.schedule, spec: encodedSpec(wanted.spec), action: encodedAction(client, wanted.action), policies: encodedPolicies(wanted.policies) },
      conflictToken: current.raw.conflictToken,
      identity: client.options.identity,
      requestId: randomUUID(),
    });
    await new Promise((resolve) => setTimeout(resolve, 100 * attempt)); // the scheduler's workflow applies it
  }
}

const UPDATE_ATTEMPTS = 5;

/** The schedule still differs from this worker's configuration after every update: another process keeps changing it. */
export class SweepScheduleNotUpdated extends Error {
  constructor(scheduleId: string, differences: string[]) {
    super(`the sweep schedule ${scheduleId} still differs from this worker's configuration after ${UPDATE_ATTEMPTS} updates (another worker with another PRO_RATA_REFUND_SCHEDULE_INTERVAL?): ${differences.join('; ')}`);
    this.name = 'SweepScheduleNotUpdated';
  }
}

/** Temporal raises a shorter catch-up window to its minimum. */
const MIN_CATCHUP_WINDOW_MS = 10_000;

function wantedSchedule(settings: SweepScheduleSettings) {
  const spec = { intervals: [{ every: settings.intervalMs }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: SWEEP_WORKFLOW_TYPE,
    workflowId: `${sweepScheduleId(settings.taskQueue)}-run`,
    taskQueue: settings.taskQueue,
    args: [{}],
  } satisfies ScheduleOptionsAction;
  // SKIP: a sweep still running when the next is due makes the next one pointless.
  // The catch-up window lets a sweep missed during a short outage run once on recovery.
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: Math.max(MIN_CATCHUP_WINDOW_MS, Math.min(settings.intervalMs, 3_600_000)), pauseOnFailure: false };
  return { spec, action, policies } satisfies Pick<ScheduleOptions, 'spec' | 'action' | 'policies'>;
}

/** What of the described schedule is not as configured; Temporal keeps intervals to the second. */
function scheduleDifferences(current: ScheduleDescription, settings: SweepScheduleSettings): string[] {
  const { spec, action, policies } = wantedSchedule(settings);
  const seconds = (ms: number | undefined) => (ms === undefined ? undefined : Math.round(ms / 1000));
  const described = {
    intervals: (current.spec.intervals ?? []).map((interval) => `${seconds(interval.every)} s${interval.offset ? ` + ${seconds(interval.offset)} s` : ''}`).join(', '),
    calendars: current.spec.calendars?.length ?? 0,
    workflow: `${current.action.workflowType} ${current.action.workflowId} on ${current.action.taskQueue} with ${JSON.stringify(current.action.args)}`,
    policies: `${current.policies.overlap}, catch-up ${seconds(current.policies.catchupWindow)} s, pause on failure ${current.policies.pauseOnFailure}`,
  };
  const configured = {
    intervals: `${seconds(spec.intervals[0]!.every)} s`,
    calendars: 0,
    workflow: `${action.workflowType} ${action.workflowId} on ${action.taskQueue} with ${JSON.stringify(action.args)}`,
    policies: `${policies.overlap}, catch-up ${seconds(policies.catchupWindow)} s, pause on failure ${policies.pauseOnFailure}`,
  };
  return (Object.keys(configured) as (keyof typeof configured)[]).filter((key) => described[key] !== configured[key]).map((key) => `${key}: ${described[key]}, configured ${configured[key]}`);
}

type Wanted = ReturnType<typeof wantedSchedule>;
type RawSchedule = NonNullable<ScheduleDescription['raw']['schedule']>;

function encodedSpec(spec: Wanted['spec']): RawSchedule['spec'] {
  return { interval: spec.intervals.map((interval) => ({ interval: msToTs(interval.every) })) };
}

/** The client's payload converter, as the SDK's own update uses (this service configures no payload codec). */
function encodedAction(client: Client, action: Wanted['action']): RawSchedule['action'] {
  return {
    startWorkflow: {
      workflowId: action.workflowId,
      workflowType: { name: action.workflowType },
      taskQueue: { name: action.taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
      input: { payloads: toPayloads(client.options.loadedDataConverter.payloadConverter, ...action.args) },
    },
  };
}

const TASK_QUEUE_KIND_NORMAL = 1;

function encodedPolicies(policies: Wanted['policies']): RawSchedule['policies'] {
  return { overlapPolicy: encodeScheduleOverlapPolicy(policies.overlap), catchupWindow: msToTs(policies.catchupWindow), pauseOnFailure: policies.pauseOnFailure };
}

export interface SweepStatus {
  scheduleId: string;
  intervalMs: number;
  paused: boolean | null;
  note: string | null;
  nextRunAt: string | null;
  lastRun: SweepRunRecord | null;
  error?: string;
}

/** What the API needs from the sweep: run it now, pause or resume it, and describe it for /api/status and /statistics. */
export class SweepControl {
  readonly scheduleId: string;

  constructor(
    private readonly client: Client,
    private readonly mongo: Connection,
    private readonly settings: SweepScheduleSettings,
  ) {
    this.scheduleId = sweepScheduleId(settings.taskQueue);
  }

  /** Runs the sweep now. A sweep already running is not doubled: the sweep workflow id is fixed per run. */
  async trigger(): Promise<void> {
    await this.client.withDeadline(Date.now() + 10_000, () => this.client.schedule.getHandle(this.scheduleId).trigger(ScheduleOverlapPolicy.SKIP));
  }

  /**
   * Stops the scheduled runs (a trigger still runs one). The note is the
   * schedule's own, so it survives deploys (see ensureSweepSchedule). Returns
   * the note as stored (cut to fit). Temporal applies the change through the
   * schedule's own workflow, so a description asked for right after may not
   * show it yet.
   */
  async pause(note: string): Promise<string> {
    const stored = scheduleNote(note);
    await this.client.withDeadline(Date.now() + 10_000, () => this.client.schedule.getHandle(this.scheduleId).pause(stored));
    return stored;
  }

  /** Resumes the scheduled runs; as `pause`. */
  async unpause(note: string): Promise<string> {
    const stored = scheduleNote(note);
    await this.client.withDeadline(Date.now() + 10_000, () => this.client.schedule.getHandle(this.scheduleId).unpause(stored));
    return stored;
  }

  /** The schedule as Temporal describes it within `describeWithinMs`; `paused: null` and `error` when it does not. */
  async status(describeWithinMs = 5_000): Promise<SweepStatus> {
    const lastRun = await latestSweepRun(this.mongo).catch(() => null);
    const base = { scheduleId: this.scheduleId, intervalMs: this.settings.intervalMs, lastRun };
    try {
      const description = await this.client.withDeadline(Date.now() + describeWithinMs, () => this.client.schedule.getHandle(this.scheduleId).describe());
      return {
        ...base,
        paused: description.state.paused,
        note: description.state.note ?? null,
        nextRunAt: description.info.nextActionTimes[0]?.toISOString() ?? null,
      };
    } catch (error) {
      const message = error instanceof ScheduleNotFoundError ? 'schedule not created yet (start a worker)' : (error as Error).message;
      return { ...base, paused: null, note: null, nextRunAt: null, error: message };
    }
  }
}

/** Temporal refuses a schedule note over 1000 bytes: a longer one is cut, and says so. */
const SCHEDULE_NOTE_BYTES = 1000;

export function scheduleNote(note: string): string {
  if (Buffer.byteLength(note) <= SCHEDULE_NOTE_BYTES) return note;
  let kept = '';
  for (const character of note) {
    if (Buffer.byteLength(kept + character) > SCHEDULE_NOTE_BYTES - 3) break;
    kept += character;
  }
  return `${kept}...`;
}
