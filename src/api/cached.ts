/**
 * A value read at most once per `ttlMs`, however many requests ask: the first
 * caller after it expires starts one refresh that every caller shares. Once a
 * value exists, callers get it at once while the refresh runs (stale while
 * revalidating), so a slow dependency never holds requests; until then they wait.
 */
export class Cached<T> {
  private current: { value: T; at: number } | undefined;
  private inFlight: Promise<T> | undefined;

  constructor(
    private readonly load: () => Promise<T>,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async get(): Promise<T> {
    if (this.current && this.now() - this.current.at < this.ttlMs) return this.current.value;
    const refresh = this.refresh();
    if (!this.current) return refresh;
    refresh.catch(() => undefined); // the stale value answers; the next caller retries the refresh
    return this.current.value;
  }

  /** Forget the value: the next caller waits for a fresh one (after a change this process made itself). */
  invalidate(): void {
    this.current = undefined;
  }

  private refresh(): Promise<T> {
    if (!this.inFlight) {
      const startedAt = this.now();
      this.inFlight = this.load()
        .then((value) => {
          this.current = { value, at: startedAt };
          return value;
        })
        .finally(() => (this.inFlight = undefined));
    }
    return this.inFlight;
  }
}
