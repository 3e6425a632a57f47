export interface WaitOptions {
  /** What is awaited, as the timeout message completes "timed out waiting for …", e.g. "refund rf_1 to complete". */
  what: string;
  timeoutMs?: number;
  intervalMs?: number;
  /** More to say on timeout (read only then), e.g. the history of the workflow that did not finish. */
  diagnose?: () => Promise<string> | string;
}

/**
 * The tests' one way to wait for something that happens on its own time (a worker, a chain, a
 * schedule): reads `read` every `intervalMs` until `until` accepts the value (by default: until it
 * is not undefined) and returns that value. A read that throws counts as "not yet". After
 * `timeoutMs` it fails with what it waited for, the last value read and the last error.
 */
export async function waitFor<T>(read: () => Promise<T> | T, options: WaitOptions & { until: (value: T) => boolean }): Promise<T>;
export async function waitFor<T>(read: () => Promise<T | undefined> | T | undefined, options: WaitOptions): Promise<T>;
export async function waitFor<T>(read: () => Promise<T> | T, options: WaitOptions & { until?: (value: T) => boolean }): Promise<T> {
  const { what, timeoutMs = 30_000, intervalMs = 50, diagnose } = options;
  const until = options.until ?? ((value: T) => value !== undefined);
  const deadline = Date.now() + timeoutMs;
  let last: { value: T } | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await read();
      if (until(value)) return value;
      last = { value };
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const said = [
        `timed out after ${timeoutMs} ms waiting for ${what}`,
        last ? `last value: ${describe(last.value)}` : 'no value read',
        ...(lastError === undefined ? [] : [`last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`]),
        ...(diagnose ? [await Promise.resolve().then(diagnose).catch((error: unknown) => `(diagnosis failed: ${String(error)})`)] : []),
      ];
      throw new Error(said.join('\n'));
    }
    await sleep(intervalMs);
  }
}

/**
 * Lets time pass on purpose: to show that something does not happen for a while, or to move to
 * the next second. Never to wait for something to happen: that is waitFor.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function describe(value: unknown): string {
  const text = JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? `${item}n` : item)) ?? String(value);
  return text.length > 2_000 ? `${text.slice(0, 2_000)}… (${text.length} characters)` : text;
}
