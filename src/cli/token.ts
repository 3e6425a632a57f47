import { parseArgs } from 'node:util';
import { mintToken, ROLES, ttlSeconds, type Role } from '../api/auth';
import { loadConfigOrExit } from '../config';

const USAGE = 'usage: npm run token -- --sub <id> --role <user|creator|admin> [--ttl 1h]';

/** `npm run token -- --sub <id> --role <role> [--ttl 1h]`: prints a bearer token for the local API, and nothing else. */
export async function run(args: string[]): Promise<number> {
  let values: { sub?: string; role?: string; ttl?: string };
  try {
    ({ values } = parseArgs({ args, options: { sub: { type: 'string' }, role: { type: 'string' }, ttl: { type: 'string', default: '1h' } }, strict: true }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 64;
  }
  const { sub, role, ttl = '1h' } = values;
  if (!sub || !role || !ROLES.includes(role as Role)) {
    console.error(USAGE);
    return 64;
  }
  let seconds: number;
  try {
    seconds = ttlSeconds(ttl);
  } catch (error) {
    console.error((error as Error).message);
    return 64;
  }
  if (seconds <= 0) {
    console.error('--ttl must be positive');
    return 64;
  }
  const config = loadConfigOrExit();
  console.log(await mintToken(config.auth.jwtSecret, { sub, role: role as Role }, seconds));
  return 0;
}
