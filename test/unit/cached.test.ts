import { Cached } from '../../src/api/cached';

describe('Cached (the /api/status probes)', () => {
  test('callers within the ttl share one load; after it, the stale value answers while one refresh runs', async () => {
    let now = 0;
    let loads = 0;
    let release: (value: number) => void = () => undefined;
    const cached = new Cached(
      () => {
        loads += 1;
        return loads === 1 ? Promise.resolve(1) : new Promise<number>((resolve) => (release = resolve));
      },
      1_000,
      () => now,
    );
    expect(await Promise.all([cached.get(), cached.get()])).toEqual([1, 1]);
    expect(loads).toBe(1);
    now = 1_500;
    expect(await Promise.all([cached.get(), cached.get(), cached.get()])).toEqual([1, 1, 1]); // not held by the slow refresh
    expect(loads).toBe(2);
    release(2);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await cached.get()).toBe(2);
    expect(loads).toBe(2);
  });

  test('a first load that fails is the caller\'s error; the next caller tries again', async () => {
    let fail = true;
    const cached = new Cached(async () => {
      if (fail) throw new Error('down');
      return 'up';
    }, 1_000);
    await expect(cached.get()).rejects.toThrow('down');
    fail = false;
    await expect(cached.get()).resolves.toBe('up');
  });
});
