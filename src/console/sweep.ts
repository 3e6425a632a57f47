import type { ApiResult } from './api.js';
import { facts, h, replaceChildren } from './dom.js';
import { explainFailure, formatDuration, formatElapsed, formatInstant, groupThousands } from './format.js';
import type { Statistics, SweepStatus } from './types.js';
import { ageText, countdownText, poll, say, section, submitOnce, unknown, type ConsoleContext, type View } from './ui.js';

const REFRESH_MS = 5000;
const BASE = '/api/refunds/pro-rata';

/** The periodic sweep: its schedule, what its last run did, and running, pausing or resuming it. */
export function sweepView(context: ConsoleContext): View {
  const outcome = h('div', { class: 'outcome', role: 'status', 'aria-live': 'polite', hidden: true });
  const state = h('div');
  const lastRun = h('div');
  const element = h('div', { class: 'view' }, h('h1', {}, 'Sweep'), outcome, h('div', { class: 'grid' }, state, controls(context, outcome, (status) => render(status)), lastRun));

  const render = (sweep: SweepStatus) => {
    replaceChildren(state, schedule(sweep));
    replaceChildren(lastRun, run(sweep));
  };
  const refresh = async () => {
    const result = await context.api.get<Statistics>(`${BASE}/statistics`);
    if (!result.ok) {
      say(outcome, 'error', explainFailure(result.failure));
      return;
    }
    context.setPendingCount(String(result.body.pendingCount));
    render(result.body.sweep);
  };
  return { element, stop: poll(refresh, REFRESH_MS) };
}

function schedule(sweep: SweepStatus): HTMLElement {
  const stateText =
    sweep.paused === null
      ? h('span', { class: 'error-text' }, `unknown${sweep.error ? `: ${sweep.error}` : ''}`)
      : sweep.paused
        ? h('span', { class: 'badge status-failed' }, 'paused')
        : h('span', { class: 'badge status-completed' }, 'running on schedule');
  return section(
    'Schedule',
    facts([
      ['State', stateText],
      ['Note', sweep.note ?? unknown('none')],
      ['Every', formatDuration(sweep.intervalMs)],
      ['Next run', sweep.paused ? 'none while paused' : sweep.nextRunAt ? [formatInstant(sweep.nextRunAt), ' · ', countdownText(sweep.nextRunAt)] : unknown()],
      ['Schedule id', h('code', {}, sweep.scheduleId)],
    ]),
  );
}

function run(sweep: SweepStatus): HTMLElement {
  const last = sweep.lastRun;
  if (!last) return section('Last run', h('p', { class: 'muted' }, 'No sweep has run yet.'));
  const count = (value: number) => groupThousands(String(value));
  return section(
    'Last run',
    facts([
      ['Finished', [formatInstant(last.finishedAt), ' · ', ageText(last.finishedAt), ' ago']],
      ['Took', formatElapsed(last.durationMs)],
      ['Found', count(last.found)],
      ['Started refunds', count(last.started)],
      ['Skipped', count(last.skipped)],
      ['Records repaired', count(last.reconciled)],
      ['Errors', last.errors > 0 ? h('span', { class: 'error-text' }, count(last.errors)) : '0'],
    ]),
    last.errorSamples.length ? h('ul', { class: 'plain' }, ...last.errorSamples.map((sample) => h('li', { class: 'error-text' }, sample))) : null,
  );
}

function controls(context: ConsoleContext, outcome: HTMLElement, render: (status: SweepStatus) => void): HTMLElement {
  const trigger = h('form', { class: 'decision', novalidate: true }, h('p', {}, 'Run a sweep now, even while paused. A sweep already running is not doubled.'), h('button', { type: 'submit', class: 'primary' }, 'Run now'));
  submitOnce({
    form: trigger,
    outcome,
    action: 'trigger',
    input: () => ({}),
    send: (input, key) => context.api.post(`${BASE}/trigger`, input, key),
    done: () => 'Sweep started. Its counts appear under Last run when it finishes.',
  });

  const pauseNote = h('input', { id: 'pause-note', name: 'note', type: 'text', maxlength: 1000, autocomplete: 'off' });
  const pause = h('form', { class: 'decision', novalidate: true }, h('label', { for: 'pause-note' }, 'Why pause (required)'), pauseNote, h('button', { type: 'submit', class: 'danger' }, 'Pause'));
  submitOnce({
    form: pause,
    outcome,
    action: 'pause',
    input: () => ({ note: pauseNote.value.trim() }),
    check: (input) => ((input as { note: string }).note ? null : 'Say why the sweep is paused: the note is what the next person reads.'),
    send: (input, key) => context.api.post<SweepStatus>(`${BASE}/sweep/pause`, input, key) as Promise<ApiResult<SweepStatus>>,
    done: (status) => {
      render(status);
      pauseNote.value = '';
      return 'Sweep paused. Scheduled runs stop until someone unpauses it.';
    },
  });

  const unpauseNote = h('input', { id: 'unpause-note', name: 'note', type: 'text', maxlength: 1000, autocomplete: 'off' });
  const unpause = h('form', { class: 'decision', novalidate: true }, h('label', { for: 'unpause-note' }, 'Note (optional)'), unpauseNote, h('button', { type: 'submit' }, 'Unpause'));
  submitOnce({
    form: unpause,
    outcome,
    action: 'unpause',
    input: () => (unpauseNote.value.trim() ? { note: unpauseNote.value.trim() } : {}),
    send: (input, key) => context.api.post<SweepStatus>(`${BASE}/sweep/unpause`, input, key) as Promise<ApiResult<SweepStatus>>,
    done: (status) => {
      render(status);
      unpauseNote.value = '';
      return 'Sweep unpaused. It runs on schedule again.';
    },
  });
  return section('Run, pause, unpause', trigger, pause, unpause);
}
