/** `promise`, or a rejection once `ms` have passed: reads that must not hold a health check or a scrape open. */
export function within<T>(promise: Promise<T>, ms: number, what = 'the read'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
