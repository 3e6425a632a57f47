#!/usr/bin/env node
// Every npm script that must work on a fresh clone goes through here. Plain
// CommonJS with no dependencies: it runs before node_modules exists. It installs
// node_modules when absent or stale, then hands over to the TypeScript CLI, or to
// dist/ for `npm start` and `npm run worker`. `npm run build` compiles dist/ here too,
// so every path that compiles shares one stamp and one lock.
'use strict';

const { spawnSync, spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const stampFile = path.join(root, 'node_modules', '.prorata-install-stamp');

function lockfileHash() {
  const lock = fs.readFileSync(path.join(root, 'package-lock.json'));
  return crypto.createHash('sha256').update(lock).digest('hex');
}

function ensureNodeModules() {
  const wanted = lockfileHash();
  const current = fs.existsSync(stampFile) ? fs.readFileSync(stampFile, 'utf8').trim() : '';
  if (current === wanted) return;
  const why = fs.existsSync(path.join(root, 'node_modules')) ? 'package-lock.json changed' : 'node_modules is missing';
  console.log(`[bootstrap] ${why}: running npm ci`);
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('[bootstrap] npm ci failed; fix the error above and run the command again');
    process.exit(result.status ?? 1);
  }
  fs.writeFileSync(stampFile, wanted + '\n');
}

/** Runs the command in a child and mirrors its exit; Ctrl-C reaches the child through the process group. */
function handOver(args, env = {}) {
  const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...env, ...process.env } });
  const forward = (signal) => child.kill(signal);
  process.on('SIGINT', () => {}); // the terminal already sent SIGINT to the child; wait for it to finish cleanly
  process.on('SIGTERM', forward);
  child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 1)));
}

const sourceDirs = ['src', 'workflows', 'activities'];
// The stamp holds the newest source mtime the last complete build compiled; the lock lets one process build.
const buildStamp = path.join(root, 'dist', '.build-stamp');
const buildLock = path.join(root, 'dist', '.build-lock');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');

function newestSourceMtime(dir) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSourceMtime(full));
    else if (/\.(ts|html|css)$/.test(entry.name)) newest = Math.max(newest, fs.statSync(full).mtimeMs);
  }
  return newest;
}

function newestSource() {
  return Math.max(...sourceDirs.map((dir) => newestSourceMtime(path.join(root, dir))));
}

function isBuilt(newest) {
  const built = fs.existsSync(buildStamp) ? Number(fs.readFileSync(buildStamp, 'utf8')) : NaN;
  return built >= newest;
}

function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/** The pid in the lock file; 0 while its owner has not written it yet, or when it is already gone. */
function lockOwner() {
  try {
    return Number(fs.readFileSync(buildLock, 'utf8')) || 0;
  } catch {
    return 0;
  }
}

/**
 * Runs `build(waited)` holding dist/.build-lock, a file naming its owner's pid; `waited` tells whether another
 * process held it first. A lock whose owner died (killed mid-build) is taken over; two processes taking over the
 * same dead lock at the same instant would both build, as every start did before there was a lock.
 */
function withBuildLock(build) {
  fs.mkdirSync(path.dirname(buildLock), { recursive: true });
  let waited = false;
  for (;;) {
    try {
      fs.writeFileSync(buildLock, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
    }
    const owner = lockOwner();
    if (owner > 0 && !isAlive(owner)) {
      fs.rmSync(buildLock, { force: true });
      continue;
    }
    if (!waited) console.log(`[bootstrap] waiting for process ${owner || '?'} to finish compiling (remove ${path.relative(root, buildLock)} if none is)`);
    waited = true;
    sleep(200);
  }
  try {
    return build(waited);
  } finally {
    fs.rmSync(buildLock, { force: true });
  }
}

/**
 * Compiles src/, workflows/ and activities/ to dist/: `npm run build` always (unless a build that finished
 * while it waited already covered the sources), `npm start` and `npm run worker` when dist/ is missing or
 * older than the sources. Processes started together compile once; the others wait and run that build.
 * The stamp is removed first and written last, so an interrupted build is never taken for a complete one.
 */
function ensureBuild({ force }) {
  if (!fs.existsSync(tsc)) {
    console.error('[bootstrap] node_modules/typescript is missing: run npm ci first');
    process.exit(1);
  }
  if (!force && isBuilt(newestSource())) return;
  const status = withBuildLock((waited) => {
    const newest = newestSource();
    if ((waited || !force) && isBuilt(newest)) return 0;
    console.log('[bootstrap] compiling TypeScript to dist/');
    fs.rmSync(buildStamp, { force: true });
    const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
    if (result.status !== 0) return result.status ?? 1;
    // The admin console is browser code with a tsconfig of its own, compiled into dist/console.
    const consoleBuild = spawnSync(process.execPath, [path.join(root, 'dist', 'src', 'dev', 'console-build.js')], { cwd: root, stdio: 'inherit' });
    if (consoleBuild.status !== 0) return consoleBuild.status ?? 1;
    fs.writeFileSync(`${buildStamp}.${process.pid}`, `${newest}\n`);
    fs.renameSync(`${buildStamp}.${process.pid}`, buildStamp);
    return 0;
  });
  if (status !== 0) process.exit(status);
}

const compiledEntryPoints = {
  start: 'dist/src/api/main.js',
  worker: 'dist/src/temporal/worker-main.js',
};
// WORKER_NODE_FLAGS and WORKER_MALLOC_ENV in src/temporal/node-flags.ts (this file runs before anything is
// compiled). The environment's own values win over these.
const nodeFlags = { start: [], worker: ['--max-semi-space-size=2'] };
const nodeEnv = { start: {}, worker: { MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '131072' } };

const [command = 'help', ...rest] = process.argv.slice(2);
if (command === 'build') {
  // No install here: images and hosts run `npm ci` with their own flags right before `npm run build`.
  ensureBuild({ force: true });
} else if (compiledEntryPoints[command]) {
  ensureNodeModules();
  ensureBuild({ force: false });
  handOver([...nodeFlags[command], path.join(root, compiledEntryPoints[command]), ...rest], nodeEnv[command]);
} else {
  ensureNodeModules();
  handOver(['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts'), command, ...rest]);
}
