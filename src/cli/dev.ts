import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ethers } from 'ethers';
import { connectTreasury } from '../chain/treasury';
import { loadConfigOrExit } from '../config';
import { buildConsole } from '../dev/console-build';
import { ANVIL_CHAIN_ID } from '../dev/services';
import { WORKER_MALLOC_ENV, WORKER_NODE_FLAGS } from '../temporal/node-flags';
import { createLogger } from '../logger';
import { describeReport, migrate } from '../persistence/migrate';
import { connectMongo } from '../persistence/mongo';
import { DATA_DIR, startDevServices, waitForShutdownSignal } from './services';

const root = path.resolve(__dirname, '..', '..');
const DEV_TREASURY_FUNDS = ethers.parseEther('10000');

/**
 * `npm run dev`: the whole product on this machine. Local services on their
 * default ports (data under .data/, so refunds survive restarts), then the
 * migration, then one worker and the API. Ctrl-C stops everything it started.
 */
export async function run(): Promise<number> {
  const config = loadConfigOrExit();
  const services = await startDevServices();
  const children: ChildProcess[] = [];
  try {
    await prepareLocalState(config);
    if (buildConsole() !== 0) throw new Error('the admin console does not compile: see the errors above');
    // The console links refunds to the Web UI started here, unless .env or the environment says otherwise.
    process.env.TEMPORAL_WEB_UI_URL ||= services.temporalUiUrl;
    children.push(startChild('worker', 'src/temporal/worker-main.ts', WORKER_NODE_FLAGS, WORKER_MALLOC_ENV), startChild('api', 'src/api/main.ts'));
    console.log(
      [
        '',
        `[dev] API              http://127.0.0.1:${config.port}   (GET /api/status, docs at /api/docs/openapi.json)`,
        `[dev] admin console    http://127.0.0.1:${config.port}/admin   (sign in with an admin token)`,
        `[dev] Temporal Web UI  ${services.temporalUiUrl}`,
        `[dev] Temporal         ${services.temporalAddress}   MongoDB ${services.mongoUri}   anvil ${services.chainUrl}`,
        `[dev] data in ${DATA_DIR}; mint a token with: npm run token -- --sub admin-1 --role admin`,
        '[dev] Ctrl-C stops everything',
        '',
      ].join('\n'),
    );
    const stopped = await Promise.race([waitForShutdownSignal(), ...children.map((child) => exitOf(child))]);
    console.log(`[dev] ${stopped}: stopping`);
    return stopped.endsWith('exited') ? 1 : 0;
  } finally {
    await Promise.all(children.map((child) => stopChild(child)));
    await services.stop();
    console.log('[dev] stopped');
  }
}

/** Indexes exist and, on the local chain, the treasury has money to refund with. */
async function prepareLocalState(config: ReturnType<typeof loadConfigOrExit>): Promise<void> {
  const logger = createLogger('warn');
  const mongo = await connectMongo(config.db.uri, logger);
  try {
    for (const line of describeReport(await migrate(mongo))) console.log(`[dev] migrate: ${line}`);
  } finally {
    await mongo.close();
  }
  const treasury = await connectTreasury(config.chain);
  try {
    if (treasury.chainId === ANVIL_CHAIN_ID && (await treasury.provider.getBalance(treasury.address)) === 0n) {
      await treasury.provider.send('anvil_setBalance', [treasury.address, ethers.toQuantity(DEV_TREASURY_FUNDS)]);
    }
    console.log(`[dev] treasury ${treasury.address} holds ${ethers.formatEther(await treasury.provider.getBalance(treasury.address))} ETH`);
  } finally {
    treasury.provider.destroy();
  }
}

/** `env`: defaults for variables the environment does not set. */
function startChild(name: string, entry: string, nodeFlags: readonly string[] = [], env: Readonly<Record<string, string>> = {}): ChildProcess {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', path.join(root, entry)], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...env, ...process.env } });
  Object.defineProperty(child, 'displayName', { value: name });
  return child;
}

function exitOf(child: ChildProcess): Promise<string> {
  const name = (child as ChildProcess & { displayName?: string }).displayName;
  return new Promise((resolve) => child.once('exit', (code) => resolve(`${name} exited (${code})`)));
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 35_000);
  await exited;
  clearTimeout(timer);
}
