import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mongoose from 'mongoose';
import { freePort, isListening, startProcess, waitUntilReady } from '../../src/dev/processes';
import { localStore, startLocalServices } from '../../src/dev/services';
import { uniqueMongoUri } from '../support/services';
import { waitFor } from '../support/wait';

/**
 * The MongoDB-compatible store the local services start: FerretDB over
 * PostgreSQL by default, over SQLite with LOCAL_STORE=sqlite. The test run
 * itself uses the default; this starts a second, SQLite-backed set.
 */
describe('local store backends', () => {
  test('LOCAL_STORE names the backend; anything else is refused', () => {
    expect(localStore({})).toBe('postgresql');
    expect(localStore({ LOCAL_STORE: 'sqlite' })).toBe('sqlite');
    expect(() => localStore({ LOCAL_STORE: 'mysql' })).toThrow(/LOCAL_STORE must be postgresql or sqlite/);
  });

  test('on PostgreSQL, finds by _id and by an indexed field are index scans (the wrapper\'s GIN indexes)', async () => {
    expect(localStore()).toBe('postgresql');
    const connection = await mongoose.createConnection(uniqueMongoUri('store')).asPromise();
    try {
      const collection = connection.db!.collection('probe');
      await collection.insertMany(Array.from({ length: 3_000 }, (_, i) => ({ _id: `k${i}` as never, owner: `o${i % 300}`, other: `x${i}` })));
      await collection.createIndex({ owner: 1 });
      const planOf = async (filter: Record<string, unknown>) => JSON.stringify((await connection.db!.command({ explain: { find: 'probe', filter } })).queryPlanner);
      // The wrapper mirrors indexes once a second.
      await waitFor(() => planOf({ owner: 'o7' }), { until: (plan) => plan.includes('prorata_gin_'), what: 'the wrapper to mirror the index', timeoutMs: 15_000, intervalMs: 250 });
      expect(await planOf({ owner: 'o7' })).toContain('prorata_gin_');
      expect(await planOf({ _id: 'k42' })).toContain('prorata_gin_');
      expect(await planOf({ other: 'x42' })).not.toContain('prorata_gin_'); // not indexed in MongoDB terms: not mirrored
      expect(await collection.countDocuments({ owner: 'o7' })).toBe(10);
    } finally {
      await connection.db!.dropDatabase();
      await connection.close();
    }
  });

  test('when one service cannot start, the ones that did are stopped: nothing is left running', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    // Temporal's Web UI port is taken: the dev server exits during its start-up, after anvil and the store are up.
    const ports = { temporalUi: (taken.address() as net.AddressInfo).port, anvil: await freePort(), mongo: await freePort() };
    try {
      await expect(startLocalServices({ store: 'sqlite', webUi: true, ports, log: () => undefined })).rejects.toThrow(/Temporal dev server exited during start-up[\s\S]*address already in use/);
      expect(await isListening(ports.anvil)).toBe(false);
      expect(await isListening(ports.mongo)).toBe(false);

      // FerretDB's port is taken: it fails after PostgreSQL, under it, is up.
      const storePorts = { mongo: (taken.address() as net.AddressInfo).port, postgres: await freePort() };
      await expect(startLocalServices({ store: 'postgresql', ports: storePorts, log: () => undefined })).rejects.toThrow(/is already in use/);
      expect(await isListening(storePorts.postgres)).toBe(false);
    } finally {
      taken.close();
    }
  }, 120_000);

  test('a service that never becomes ready is stopped when the wait for it gives up', async () => {
    const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'never-ready-')), 'out.log');
    const child = startProcess('never-ready', 'sleep', ['600'], log);
    await expect(waitUntilReady('never-ready', () => Promise.reject(new Error('not yet')), { timeoutMs: 500, process: child })).rejects.toThrow(/was not ready after 500 ms/);
    expect(child.child.exitCode !== null || child.child.signalCode !== null).toBe(true);
  }, 30_000);

  test('the SQLite fallback starts and serves reads and writes', async () => {
    const services = await startLocalServices({ store: 'sqlite', log: () => undefined });
    try {
      expect(services.store).toMatch(/^SQLite /);
      const connection = await mongoose.createConnection(services.mongoUri).asPromise();
      try {
        await connection.db!.collection('roundtrip').insertOne({ _id: 'a' as never, amount: '1' });
        expect(await connection.db!.collection('roundtrip').findOne({ _id: 'a' as never })).toEqual({ _id: 'a', amount: '1' });
      } finally {
        await connection.close();
      }
    } finally {
      await services.stop();
    }
  }, 120_000);
});
