import { authenticate } from '../../src/api/auth';
import { run } from '../../src/cli/token';
import { loadConfig } from '../../src/config';

/** `npm run token`: prints exactly one token the API accepts, and nothing else. */
describe('npm run token', () => {
  let printed: string[];
  let errors: string[];
  beforeEach(() => {
    printed = [];
    errors = [];
    jest.spyOn(console, 'log').mockImplementation((line: string) => void printed.push(line));
    jest.spyOn(console, 'error').mockImplementation((line: string) => void errors.push(line));
  });
  afterEach(() => jest.restoreAllMocks());

  test('mints a token for --sub and --role that the API authenticates, expiring after --ttl', async () => {
    expect(await run(['--sub', 'admin-7', '--role', 'admin', '--ttl', '90s'])).toBe(0);
    expect(printed).toHaveLength(1);
    const token = printed[0]!;
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    await expect(authenticate(`Bearer ${token}`, loadConfig().auth.jwtSecret)).resolves.toEqual({ sub: 'admin-7', role: 'admin' });
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number; iat: number };
    expect(claims.exp - claims.iat).toBe(90);
  });

  test.each([[['--sub', 'x']], [['--role', 'admin']], [['--sub', 'x', '--role', 'root']], [['--sub', 'x', '--role', 'user', '--ttl', 'soon']], [['--sub', 'x', '--role', 'user', '--what']]])(
    'refuses %j with a usage message',
    async (args) => {
      expect(await run(args)).toBe(64);
      expect(printed).toEqual([]);
      expect(errors.join('\n')).not.toBe('');
    },
  );
});
