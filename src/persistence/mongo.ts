import mongoose, { type Connection } from 'mongoose';
import type { Logger } from '../logger';

/**
 * One mongoose connection per process, passed explicitly to whatever needs it
 * (models are bound to it), so tests can open several against throw-away databases.
 */
export async function connectMongo(uri: string, logger?: Logger): Promise<Connection> {
  const connection = mongoose.createConnection(uri, {
    serverSelectionTimeoutMS: 5_000,
    autoIndex: false, // indexes are created by `npm run migrate`, never implicitly at start
    autoCreate: false,
  });
  connection.on('disconnected', () => logger?.warn({ component: 'MongoDB' }, 'MongoDB disconnected'));
  connection.on('reconnected', () => logger?.info({ component: 'MongoDB' }, 'MongoDB reconnected'));
  await connection.asPromise();
  logger?.info({ component: 'MongoDB', db: connection.name }, 'MongoDB connected');
  return connection;
}

/** Reachability probe for /api/status: a ping with a short deadline. */
export async function pingMongo(connection: Connection, timeoutMs = 2_000): Promise<boolean> {
  try {
    if (!connection.db) return false;
    await withTimeout(connection.db.admin().ping(), timeoutMs);
    return true;
  } catch {
    return false;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms).unref())]);
}
