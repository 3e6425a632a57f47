/**
 * Refund ids this API process started or decided on in the last `windowMs`:
 * their records may still be an activity behind their workflows, so reads of
 * them ask the workflow (read-your-writes for the caller of this API). Bounded:
 * the oldest entries go first.
 */
export class RecentChanges {
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly windowMs = 10_000,
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  touch(refundId: string): void {
    this.touched.delete(refundId);
    this.touched.set(refundId, this.now());
    if (this.touched.size > this.maxEntries) this.touched.delete(this.touched.keys().next().value!);
  }

  has(refundId: string): boolean {
    const at = this.touched.get(refundId);
    if (at === undefined) return false;
    if (this.now() - at < this.windowMs) return true;
    this.touched.delete(refundId);
    return false;
  }
}
