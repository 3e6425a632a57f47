#!/usr/bin/env node
// Every npm script that must work on a fresh clone goes through here. Plain
// CommonJS with no dependencies: it runs before node_modules exists. It installs
// node_modules when absent or stale, then hands over to the TypeScript CLI.
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
function handOver(args) {
  const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
  const forward = (signal) => child.kill(signal);
  process.on('SIGINT', () => {}); // the terminal already sent SIGINT to the child; wait for it to finish cleanly
  process.on('SIGTERM', forward);
  child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 1)));
}

const sourceDirs = ['src', 'workflows', 'activities'];
const buildStamp = path.join(root, 'dist', '.build-stamp');

function newestSourceMtime(dir) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSourceMtime(full));
    else if (/\.(ts|html|css)$/.test(entry.name)) newest = Math.max(newest, fs.statSync(full).mtimeMs);
  }
  return newest;
}

/** `npm start` and `npm run worker` run compiled code; compile first when dist/ is missing or older than the sources. */
function ensureBuild() {
  const built = fs.existsSync(buildStamp) ? fs.statSync(buildStamp).mtimeMs : 0;
  const newest = Math.max(...sourceDirs.map((dir) => newestSourceMtime(path.join(root, dir))));
  if (built >= newest) return;
  console.log('[bootstrap] compiling TypeScript to dist/');
  const result = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
  fs.writeFileSync(buildStamp, new Date().toISOString() + '\n');
}

const compiledEntryPoints = {
  start: 'dist/src/api/main.js',
  worker: 'dist/src/temporal/worker-main.js',
};

ensureNodeModules();
const [command = 'help', ...rest] = process.argv.slice(2);
if (compiledEntryPoints[command]) {
  ensureBuild();
  handOver([path.join(root, compiledEntryPoints[command]), ...rest]);
} else {
  handOver(['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts'), command, ...rest]);
}
