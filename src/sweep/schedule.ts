import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleOptionsAction, type ScheduleSpec } from '@temporalio/client';
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
 * configured interval. `update` re-sends the whole schedule, so the current
 * paused state and note are carried over: an operator's pause survives deploys.
 */
export async function ensureSweepSchedule(client: Client, settings: SweepScheduleSettings): Promise<'created' | 'updated'> {
  const scheduleId = sweepScheduleId(settings.taskQueue);
  const spec: ScheduleSpec = { intervals: [{ every: settings.intervalMs }] };
  const action: ScheduleOptionsAction = {
    type: 'startWorkflow',
    workflowType: SWEEP_WORKFLOW_TYPE,
    workflowId: `${scheduleId}-run`,
    taskQueue: settings.taskQueue,
    args: [{}],
  };
  // SKIP: a sweep still running when the next is due makes the next one pointless.
  // The catch-up window lets a sweep missed during a short outage run once on recovery.
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: Math.min(settings.intervalMs, 3_600_000), pauseOnFailure: false };
  try {
    await client.schedule.create({ scheduleId, spec, action, policies, state: { note: 'created by the refund service' } });
    return 'created';
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
  await client.schedule.getHandle(scheduleId).update((previous) => ({
    ...previous,
    spec,
    action,
    policies,
    state: { ...previous.state, paused: previous.state.paused, note: previous.state.note },
  }));
  return 'updated';
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
