import fs from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import YAML from 'yaml';
import { loadConfig } from '../../src/config';
import { DEV_ONLY_DEFAULTS, ENV_DESCRIPTIONS, SECRET_VARIABLES, envSchema } from '../../src/config/schema';
import { REFUND_SEARCH_ATTRIBUTES } from '../../src/temporal/search-attributes';
import { WORKER_MALLOC_ENV, WORKER_NODE_FLAGS } from '../../src/temporal/node-flags';

/**
 * The deployment files (Dockerfile, .dockerignore, docker-compose.yml,
 * .env.example, ecosystem.config.cjs) are not run by the test suite, so they
 * are checked here against the code they deploy: the config schema, the entry
 * points and the Temporal search attributes. Any drift fails.
 */

const root = path.resolve(__dirname, '..', '..');
const read = (file: string): string => fs.readFileSync(path.join(root, file), 'utf8');

const schemaKeys = Object.keys(envSchema.shape).sort();
const schemaDefaults = envSchema.parse({}) as Record<string, unknown>;
const APP_SERVICES = ['migrate', 'api', 'worker'] as const;
/** Secrets production refuses to take from the development defaults. */
const PRODUCTION_SECRETS = Object.keys(DEV_ONLY_DEFAULTS).sort();

// ---------------------------------------------------------------- helpers ---

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | { target: number; published?: string | number })[];
  container_name?: string;
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  stop_grace_period?: string;
  deploy?: { replicas?: number };
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  [key: string]: unknown;
}

const composeText = read('docker-compose.yml');
const compose = YAML.parse(composeText, { merge: true }) as ComposeFile;
const service = (name: string): ComposeService => {
  const found = compose.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
};

/** A service's environment as name → raw (not yet interpolated) value. */
function environmentOf(name: string): Record<string, string> {
  const env = service(name).environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const at = entry.indexOf('=');
        return at < 0 ? [entry, ''] : [entry.slice(0, at), entry.slice(at + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value === null ? '' : String(value)]));
}

const REFERENCE = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/** Variable names a compose value reads (`${NAME...}` or `$NAME`; `$$` is a literal dollar). */
function referencedVariables(raw: string): string[] {
  return [...raw.matchAll(REFERENCE)].map((match) => match[1] ?? match[4]).filter((name): name is string => Boolean(name));
}

/** Compose interpolation of one value: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $VAR, $$. */
function interpolate(raw: string, vars: Record<string, string | undefined>): { value: string; errors: string[] } {
  const errors: string[] = [];
  const value = raw.replace(REFERENCE, (whole, braced?: string, operator?: string, argument?: string, bare?: string) => {
    if (whole === '$$') return '$';
    const name = (braced ?? bare)!;
    const current = vars[name];
    switch (operator) {
      case ':-':
        return current ? current : (argument ?? '');
      case '-':
        return current !== undefined ? current : (argument ?? '');
      case ':?':
        if (!current) errors.push(`${name}: ${argument}`);
        return current ?? '';
      case '?':
        if (current === undefined) errors.push(`${name}: ${argument}`);
        return current ?? '';
      default:
        return current ?? '';
    }
  });
  return { value, errors };
}

function resolvedEnvironment(name: string, vars: Record<string, string | undefined>): { env: Record<string, string>; errors: string[] } {
  const env: Record<string, string> = {};
  const errors: string[] = [];
  for (const [key, raw] of Object.entries(environmentOf(name))) {
    const result = interpolate(raw, vars);
    env[key] = result.value;
    errors.push(...result.errors);
  }
  return { env, errors };
}

/** Values for the variables compose requires: valid, and not the public development defaults. */
const productionInputs: Record<string, string> = {
  TREASURY_PRIVATE_KEY: `0x${'1'.repeat(64)}`,
  AUTH_JWT_SECRET: 'x'.repeat(48),
  ADMIN_WEBHOOK_SECRET: 'y'.repeat(32),
  BLOCKCHAIN_PROVIDER_URL: 'https://rpc.example.com/v3/key',
};

const commandOf = (name: string): string[] => {
  const command = service(name).command;
  if (command === undefined) return [];
  return Array.isArray(command) ? command : command.split(/\s+/).filter(Boolean);
};

const dependenciesOf = (name: string): Record<string, string | undefined> => {
  const dependsOn = service(name).depends_on ?? {};
  return Array.isArray(dependsOn)
    ? Object.fromEntries(dependsOn.map((target) => [target, 'service_started']))
    : Object.fromEntries(Object.entries(dependsOn).map(([target, options]) => [target, options?.condition ?? 'service_started']));
};

const containerPorts = (name: string): number[] =>
  (service(name).ports ?? []).map((port) => {
    if (typeof port === 'object') return Number(port.target);
    const spec = String(port).replace(/\/(tcp|udp)$/, '');
    return Number(spec.slice(spec.lastIndexOf(':') + 1));
  });

/** Seconds of a compose duration such as 45s, 1m30s, 2m. */
function durationSeconds(value: string): number {
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0) throw new Error(`not a duration: ${value}`);
  const unit: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };
  return parts.reduce((total, [, amount, suffix]) => total + Number(amount) * unit[suffix!]!, 0);
}

interface DockerInstruction {
  keyword: string;
  args: string;
}

/** Dockerfile instructions with line continuations joined and comments dropped. */
function dockerInstructions(text: string): DockerInstruction[] {
  const lines: string[] = [];
  let pending = '';
  for (const line of text.split(/\r?\n/)) {
    if (/^\s*#/.test(line)) continue;
    if (/\\\s*$/.test(line)) {
      pending += line.replace(/\\\s*$/, ' ');
      continue;
    }
    const joined = (pending + line).trim();
    pending = '';
    if (joined) lines.push(joined);
  }
  return lines.map((line) => {
    const [keyword = '', ...rest] = line.split(/\s+/);
    return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
  });
}

const dockerfile = dockerInstructions(read('Dockerfile'));
const stages: DockerInstruction[][] = [];
for (const instruction of dockerfile) {
  if (instruction.keyword === 'FROM') stages.push([]);
  stages.at(-1)?.push(instruction);
}
const finalStage = stages.at(-1) ?? [];

/** The exec-form array of the final stage's CMD. */
function dockerCmd(): string[] {
  const cmd = finalStage.filter((instruction) => instruction.keyword === 'CMD').at(-1);
  if (!cmd) throw new Error('the Dockerfile has no CMD in its final stage');
  const parsed: unknown = JSON.parse(cmd.args);
  if (!Array.isArray(parsed)) throw new Error('the Dockerfile CMD is not in exec form');
  return parsed.map(String);
}

/** The dist/ file an argv runs with node. */
const scriptOf = (argv: string[]): string | undefined => argv.find((arg) => /^dist\/.+\.js$/.test(arg));

interface Pm2App {
  name: string;
  script: string;
  exec_mode?: string;
  instances?: number | string;
  kill_timeout?: number;
  node_args?: string[];
  increment_var?: string;
  env?: Record<string, unknown>;
  env_production?: Record<string, unknown>;
}

const ECOSYSTEM_VARIABLES = ['API_INSTANCES', 'WORKER_INSTANCES', 'WORKER_METRICS_PORT', 'WORKER_SHUTDOWN_GRACE_MS', ...Object.keys(WORKER_MALLOC_ENV)];

/** ecosystem.config.cjs as PM2 would load it with these environment variables (others unset). */
function loadEcosystem(vars: Record<string, string> = {}): Pm2App[] {
  const saved = Object.fromEntries(ECOSYSTEM_VARIABLES.map((name) => [name, process.env[name]]));
  for (const name of ECOSYSTEM_VARIABLES) delete process.env[name];
  Object.assign(process.env, vars);
  try {
    let apps: Pm2App[] = [];
    jest.isolateModules(() => {
      apps = (require(path.join(root, 'ecosystem.config.cjs')) as { apps: Pm2App[] }).apps;
    });
    return apps;
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

const pm2App = (apps: Pm2App[], name: string): Pm2App => {
  const app = apps.find((candidate) => candidate.name === name);
  if (!app) throw new Error(`ecosystem.config.cjs has no app ${name}`);
  return app;
};

/** What a local ./.env (never committed) would feed the ecosystem file; defaults are checked only when it is silent. */
const localDotEnv: Record<string, string | undefined> = fs.existsSync(path.join(root, '.env')) ? parseEnv(read('.env')) : {};

interface EnvExampleEntry {
  key: string;
  value: string;
  comments: string[];
}

/** .env.example as assignments, each with the comment lines right above it. */
function parseEnvExample(text: string): EnvExampleEntry[] {
  const entries: EnvExampleEntry[] = [];
  let comments: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed === '') {
      comments = [];
    } else if (trimmed.startsWith('#')) {
      comments.push(trimmed.replace(/^#\s?/, ''));
    } else {
      const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(trimmed);
      if (!match) throw new Error(`.env.example: not an assignment: ${line}`);
      entries.push({ key: match[1]!, value: match[2]!, comments });
      comments = [];
    }
  }
  return entries;
}

// ----------------------------------------------------------------- tests ---

describe('docker-compose.yml', () => {
  test('has exactly the expected services', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['api', 'migrate', 'mongodb', 'postgresql', 'temporal', 'temporal-setup', 'temporal-ui', 'worker'].sort(),
    );
  });

  test('api, worker and migrate share one environment (the x-app-env anchor)', () => {
    expect(composeText).toMatch(/^x-app-env:\s*&app-env\s*$/m);
    const api = environmentOf('api');
    for (const name of APP_SERVICES) expect(environmentOf(name)).toEqual(api);
  });

  test.each(APP_SERVICES)('%s gets only variables of envSchema, and all of them', (name) => {
    const keys = Object.keys(environmentOf(name));
    expect(keys.filter((key) => !schemaKeys.includes(key))).toEqual([]);
    expect(schemaKeys.filter((key) => !keys.includes(key))).toEqual([]);
  });

  test('a default written in the file is the code\'s own default, unless it points at a compose service or is a production choice', () => {
    /** Where compose deliberately differs from the code's default (which suits npm run dev). */
    const composeChoices: Record<string, string> = {
      DB_URI: 'the mongodb service',
      TEMPORAL_ADDRESS: 'the temporal service',
      BLOCKCHAIN_NETWORK: 'a production stack pays on a real network; the code\'s default is the local anvil',
    };
    const differing = [...composeText.matchAll(/\$\{([A-Z0-9_]+):-([^}]*)\}/g)]
      .map(([, name, value]) => ({ name: name!, value: value! }))
      .filter(({ name, value }) => value !== '' && name in schemaDefaults && !(name in composeChoices) && String(schemaDefaults[name]) !== value)
      .map(({ name, value }) => `${name}: compose ${value}, code ${String(schemaDefaults[name])}`);
    expect(differing).toEqual([]);
  });

  test('each app variable is read from the variable of the same name, secrets never written in the file', () => {
    for (const [key, raw] of Object.entries(environmentOf('api'))) {
      const references = referencedVariables(raw);
      expect({ key, references: references.filter((reference) => reference !== key) }).toEqual({ key, references: [] });
      if ((SECRET_VARIABLES as readonly string[]).includes(key)) expect({ key, interpolated: references.includes(key) }).toEqual({ key, interpolated: true });
    }
  });

  test.each(['api', 'worker', 'migrate'])('%s must be given the production secrets: compose refuses to start without them', (name) => {
    expect(PRODUCTION_SECRETS).toEqual(expect.arrayContaining(['ADMIN_WEBHOOK_SECRET', 'AUTH_JWT_SECRET', 'TREASURY_PRIVATE_KEY']));
    const env = environmentOf(name);
    for (const secret of PRODUCTION_SECRETS) expect({ secret, raw: env[secret] }).toEqual({ secret, raw: expect.stringMatching(new RegExp(`^\\$\\{${secret}:\\?.+\\}$`)) });
    const { errors } = resolvedEnvironment(name, {});
    for (const secret of PRODUCTION_SECRETS) expect(errors).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${secret}: `))]));
  });

  test('with the required values set, the app environment is a valid production config pointing at the compose services', () => {
    const { env, errors } = resolvedEnvironment('api', productionInputs);
    expect(errors).toEqual([]);
    expect(env.NODE_ENV).toBe('production');
    const parsed = envSchema.safeParse(env);
    expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
    expect(() => loadConfig(env)).not.toThrow();

    const services = Object.keys(compose.services);
    expect(services).toContain(new URL(env.DB_URI!).hostname);
    expect(env.DB_URI).toBe('mongodb://mongodb:27017/web3db');
    expect(env.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(services).toContain(env.TEMPORAL_ADDRESS!.split(':')[0]);
    expect(String(env.PORT)).toBe('5000');
  });

  test('the worker can be scaled: no container_name, no published ports', () => {
    const worker = service('worker');
    expect(worker.container_name).toBeUndefined();
    expect(worker.ports ?? []).toEqual([]);
    expect(worker.deploy?.replicas ?? 1).toBeGreaterThanOrEqual(1);
  });

  test('a stopping worker gets longer than WORKER_SHUTDOWN_GRACE_MS before it is killed', () => {
    const grace = service('worker').stop_grace_period;
    expect(grace).toBeDefined();
    expect(durationSeconds(grace!) * 1000).toBeGreaterThan(schemaDefaults.WORKER_SHUTDOWN_GRACE_MS as number);
  });

  test('api and the Temporal UI publish their ports', () => {
    expect(containerPorts('api')).toContain(5000);
    expect(containerPorts('temporal-ui')).toContain(8080);
  });

  test('start order: dependencies exist, health conditions have health checks, apps wait for migrate and Temporal setup', () => {
    for (const name of Object.keys(compose.services)) {
      for (const [target, condition] of Object.entries(dependenciesOf(name))) {
        expect({ name, target, exists: target in compose.services }).toEqual({ name, target, exists: true });
        if (condition === 'service_healthy') {
          const healthcheck = service(target).healthcheck;
          expect({ target, healthcheck: Boolean(healthcheck?.test) && !healthcheck?.disable }).toEqual({ target, healthcheck: true });
        }
      }
    }
    expect(dependenciesOf('migrate')).toMatchObject({ mongodb: 'service_healthy' });
    for (const name of ['api', 'worker']) {
      expect(dependenciesOf(name)).toMatchObject({
        mongodb: 'service_healthy',
        migrate: 'service_completed_successfully',
        'temporal-setup': 'service_completed_successfully',
      });
    }
    expect(dependenciesOf('temporal')).toMatchObject({ postgresql: 'service_healthy' });
    expect(dependenciesOf('temporal-setup')).toMatchObject({ temporal: 'service_healthy' });
  });

  test('Temporal runs on PostgreSQL, and temporal-setup registers every search attribute the workflows set, as Keyword', () => {
    const temporal = service('temporal');
    expect(temporal.image).toMatch(/^temporalio\/auto-setup(:|$)/);
    expect(environmentOf('temporal')).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgresql' });
    expect(service('postgresql').image).toMatch(/^postgres:16/);
    expect(service('mongodb').image).toMatch(/^mongo:7/);
    expect(service('temporal-ui').image).toMatch(/^temporalio\/ui(:|$)/);

    const setup = service('temporal-setup');
    expect(setup.image).toMatch(/^temporalio\/admin-tools(:|$)/);
    const script = [setup.entrypoint, setup.command].flat().filter(Boolean).join('\n');
    expect(script).toMatch(/search-attribute create/);
    expect(script).toMatch(/--type Keyword/);
    expect(REFUND_SEARCH_ATTRIBUTES.map((key) => key.name).sort()).toEqual(['CreatorId', 'RefundStatus', 'SubscriptionId', 'UserId']);
    for (const key of REFUND_SEARCH_ATTRIBUTES) {
      expect(key.type).toBe('KEYWORD');
      expect(script).toMatch(new RegExp(`\\b${key.name}\\b`));
    }
    // the namespace the attributes go into is the one the apps use
    const namespaces = Object.values(environmentOf('temporal-setup')).flatMap(referencedVariables);
    expect(namespaces).toContain('TEMPORAL_NAMESPACE');
  });

  test('api, worker and migrate run this image with the entry points of the Dockerfile and ecosystem.config.cjs', () => {
    for (const name of APP_SERVICES) {
      expect(service(name).build).toBeDefined();
      expect(service(name).image).toBe(service('api').image);
    }
    const apps = loadEcosystem();
    expect(scriptOf(commandOf('api'))).toBe(scriptOf(dockerCmd()));
    expect(scriptOf(commandOf('worker'))).toBe(pm2App(apps, 'prorata-refund-worker').script);
    expect(commandOf('migrate')).toEqual(['node', 'dist/src/cli/main.js', 'migrate']);
  });
});

describe('.env.example', () => {
  const text = read('.env.example');
  const entries = parseEnvExample(text);

  test('lists exactly the variables of envSchema, each once', () => {
    const keys = entries.map((entry) => entry.key);
    expect(keys.filter((key, index) => keys.indexOf(key) !== index)).toEqual([]);
    expect([...keys].sort()).toEqual(schemaKeys);
  });

  test('describes each variable with its ENV_DESCRIPTIONS line right above it', () => {
    for (const { key, comments } of entries) {
      expect({ key, described: comments.includes(ENV_DESCRIPTIONS[key as keyof typeof ENV_DESCRIPTIONS]) }).toEqual({ key, described: true });
    }
  });

  test('its values parse through envSchema and are the defaults', () => {
    const given = Object.fromEntries(entries.filter((entry) => entry.value !== '').map((entry) => [entry.key, entry.value]));
    const parsed = envSchema.safeParse(given);
    expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
    expect(parsed.data).toEqual(schemaDefaults);
  });

  test('a variable is left empty only when the schema has no value for it', () => {
    for (const { key } of entries.filter((entry) => entry.value === '')) {
      expect({ key, unsetByDefault: [undefined, false, ''].includes(schemaDefaults[key] as undefined | boolean | string) }).toEqual({ key, unsetByDefault: true });
    }
  });

  test('is read the same way by Node (process.loadEnvFile) as by this test', () => {
    const byNode = parseEnv(text);
    expect(byNode).toEqual(Object.fromEntries(entries.map((entry) => [entry.key, entry.value])));
  });
});

describe('Dockerfile', () => {
  const froms = dockerfile.filter((instruction) => instruction.keyword === 'FROM');

  test('is multi-stage on node:20-bookworm-slim: a build stage, then a runtime stage', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from.args).toMatch(/^node:20-bookworm-slim(\s|$)/);
    const build = stages[0]!;
    const runs = (stage: DockerInstruction[]) => stage.filter((instruction) => instruction.keyword === 'RUN').map((instruction) => instruction.args);
    expect(runs(build).join('\n')).toMatch(/npm ci\b/);
    expect(runs(build).join('\n')).toMatch(/npm run build\b/);
    expect(runs(finalStage).join('\n')).toMatch(/npm ci\b[^\n]*--omit=dev/);
    for (const run of [...runs(build), ...runs(finalStage)].filter((args) => /npm ci\b/.test(args))) expect(run).toMatch(/--ignore-scripts/);
    const copies = finalStage.filter((instruction) => instruction.keyword === 'COPY').map((instruction) => instruction.args);
    expect(copies).toEqual(expect.arrayContaining([expect.stringMatching(/^--from=\S+\s+\S*dist\/?\s+/)]));
  });

  test('runs as a non-root user with NODE_ENV=production', () => {
    const users = finalStage.filter((instruction) => instruction.keyword === 'USER');
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)!.args.split(':')[0]).not.toMatch(/^(root|0)$/);
    const env = finalStage.filter((instruction) => instruction.keyword === 'ENV').map((instruction) => instruction.args).join(' ');
    expect(env).toMatch(/\bNODE_ENV=production\b/);
  });

  test('exposes 5000, checks /api/status, and starts the API by default', () => {
    const exposed = finalStage.filter((instruction) => instruction.keyword === 'EXPOSE').flatMap((instruction) => instruction.args.split(/\s+/));
    expect(exposed).toContain('5000');
    const healthcheck = finalStage.find((instruction) => instruction.keyword === 'HEALTHCHECK');
    expect(healthcheck?.args).toMatch(/127\.0\.0\.1/);
    expect(healthcheck?.args).toMatch(/\/api\/status/);
    expect(dockerCmd()).toEqual(['node', 'dist/src/api/main.js']);
  });
});

describe('.dockerignore', () => {
  const patterns = read('.dockerignore')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const toRegExp = (pattern: string) =>
    new RegExp(
      `^${pattern
        .replace(/^\//, '')
        .replace(/\/$/, '')
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*\*/g, '\u0000')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]')
        .replace(/\u0000/g, '.*')}(/.*)?$`,
    );
  const ignored = (file: string) =>
    patterns.reduce((state, pattern) => (pattern.startsWith('!') ? (toRegExp(pattern.slice(1)).test(file) ? false : state) : toRegExp(pattern).test(file) ? true : state), false);

  test('keeps local state and secrets out of the build context', () => {
    for (const file of ['node_modules', 'dist', '.git', '.env', '.env.production']) expect({ file, ignored: ignored(file) }).toEqual({ file, ignored: true });
  });

  test('keeps what the build needs', () => {
    for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src/config/schema.ts']) {
      expect({ file, ignored: ignored(file) }).toEqual({ file, ignored: false });
    }
  });
});

describe('ecosystem.config.cjs (PM2)', () => {
  test('runs the same compiled entry points as the image and `npm start` / `npm run worker`', () => {
    const apps = loadEcosystem();
    expect(apps.map((app) => app.name).sort()).toEqual(['prorata-refund-api', 'prorata-refund-worker']);
    const api = pm2App(apps, 'prorata-refund-api');
    const worker = pm2App(apps, 'prorata-refund-worker');
    expect(api.script).toBe(scriptOf(dockerCmd()));
    expect(worker.script).toBe(scriptOf(commandOf('worker')));

    // the same files bootstrap.cjs runs for `npm start` and `npm run worker`
    const bootstrap = read('src/dev/bootstrap.cjs');
    expect(bootstrap).toMatch(new RegExp(`start:\\s*'${api.script}'`));
    expect(bootstrap).toMatch(new RegExp(`worker:\\s*'${worker.script}'`));

    // the worker's Node flags and malloc settings, everywhere it is started
    const mallocAssignments = Object.entries(WORKER_MALLOC_ENV).map(([name, value]) => `${name}=${value}`);
    expect(worker.node_args).toEqual([...WORKER_NODE_FLAGS]);
    expect(worker.env).toMatchObject(WORKER_MALLOC_ENV);
    expect(worker.env_production).toMatchObject(WORKER_MALLOC_ENV);
    expect(commandOf('worker')).toEqual(['env', ...mallocAssignments, 'node', ...WORKER_NODE_FLAGS, worker.script]);
    expect(bootstrap).toMatch(new RegExp(`worker: \\[${WORKER_NODE_FLAGS.map((flag) => `'${flag}'`).join(', ')}\\]`));
    expect(bootstrap).toMatch(new RegExp(`worker: \\{ ${Object.entries(WORKER_MALLOC_ENV).map(([name, value]) => `${name}: '${value}'`).join(', ')} \\}`));
    expect(read('src/cli/dev.ts')).toMatch(/startChild\('worker', [^)]*, WORKER_NODE_FLAGS, WORKER_MALLOC_ENV\)/);
    const workerCommandLine = `env ${mallocAssignments.join(' ')} node ${WORKER_NODE_FLAGS.join(' ')} ${worker.script}`;
    expect(read('Dockerfile')).toContain(workerCommandLine);
    expect(read('DEPLOYMENT.md')).toContain(workerCommandLine);
    expect(read('src/cli/main.ts')).toMatch(/\bmigrate:\s*\{/);

    // dist/<path>.js is the compiled src/<path>.ts
    const tsconfig = JSON.parse(read('tsconfig.json')) as { compilerOptions: { rootDir: string; outDir: string } };
    expect(tsconfig.compilerOptions).toMatchObject({ rootDir: '.', outDir: 'dist' });
    for (const script of [api.script, worker.script]) expect(script).toMatch(/^dist\/src\/.+\.js$/);
  });

  test('API in cluster mode, API_INSTANCES instances (default max); production env', () => {
    const defaults = pm2App(loadEcosystem(), 'prorata-refund-api');
    expect(defaults.exec_mode).toBe('cluster');
    if (localDotEnv.API_INSTANCES === undefined) expect(defaults.instances).toBe('max');
    expect(defaults.env_production).toMatchObject({ NODE_ENV: 'production' });
    expect(pm2App(loadEcosystem({ API_INSTANCES: '3' }), 'prorata-refund-api').instances).toBe(3);
  });

  test('workers forked, WORKER_INSTANCES instances (default 2), each with its own metrics port, time to shut down', () => {
    const worker = pm2App(loadEcosystem({ WORKER_METRICS_PORT: '9464', WORKER_SHUTDOWN_GRACE_MS: '30000' }), 'prorata-refund-worker');
    expect(worker.exec_mode).toBe('fork');
    if (localDotEnv.WORKER_INSTANCES === undefined) expect(worker.instances).toBe(2);
    expect(worker.kill_timeout).toBe(35000);
    expect(worker.kill_timeout).toBeGreaterThan(schemaDefaults.WORKER_SHUTDOWN_GRACE_MS as number);
    expect(worker.increment_var).toBe('WORKER_METRICS_PORT');
    expect(Number(worker.env?.WORKER_METRICS_PORT)).toBe(9464);
    expect(worker.env_production).toMatchObject({ NODE_ENV: 'production' });
    expect(Object.keys({ ...worker.env, ...worker.env_production }).filter((key) => !schemaKeys.includes(key) && !(key in WORKER_MALLOC_ENV))).toEqual([]);

    expect(pm2App(loadEcosystem({ WORKER_INSTANCES: '5' }), 'prorata-refund-worker').instances).toBe(5);
    const longerGrace = pm2App(loadEcosystem({ WORKER_SHUTDOWN_GRACE_MS: '60000' }), 'prorata-refund-worker');
    expect(longerGrace.kill_timeout).toBeGreaterThan(60000);
    // metrics off: no port to increment
    const metricsOff = pm2App(loadEcosystem({ WORKER_METRICS_PORT: '0' }), 'prorata-refund-worker');
    expect(metricsOff.increment_var).toBeUndefined();
  });
});
