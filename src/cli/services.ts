import path from 'node:path';
import { startLocalServices, type LocalServices } from '../dev/services';

export const DEFAULT_PORTS = { temporal: 7233, temporalUi: 8233, mongo: 27017, anvil: 8545, postgres: 55432 };
export const DATA_DIR = path.resolve(__dirname, '..', '..', '.data');

/** Starts (or reuses) the services on their default ports with data under .data/. */
export function startDevServices(): Promise<LocalServices> {
  return startLocalServices({ dataDir: DATA_DIR, ports: DEFAULT_PORTS, webUi: true, reuseRunning: true });
}

export async function waitForShutdownSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

/** `npm run services`: only the services, until Ctrl-C. */
export async function run(): Promise<number> {
  const services = await startDevServices();
  console.log(`[services] data in ${DATA_DIR}; Ctrl-C stops what this command started`);
  const signal = await waitForShutdownSignal();
  console.log(`[services] ${signal}: stopping`);
  await services.stop();
  return 0;
}
