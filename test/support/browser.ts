import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { packageRoot } from '../../src/package-root';

/**
 * Headless Chromium for the browser tests: Debian's `chromium` package driven by
 * playwright-core (no browser download: this machine, developers' and CI's reach
 * only package registries). Installed with apt the first time it is missing.
 */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Where browser tests leave their screenshots (git-ignored). */
export const TEST_OUTPUT_DIR = path.join(packageRoot(), 'test-output');

const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--disable-quic',
];

/** Installs Debian's chromium when /usr/bin/chromium is missing; a clear error when that cannot be done. */
export async function ensureChromium(): Promise<string> {
  if (fs.existsSync(CHROMIUM_PATH)) return CHROMIUM_PATH;
  const manual = 'install it with: apt-get update && apt-get install -y chromium';
  if (process.platform !== 'linux' || !fs.existsSync('/usr/bin/apt-get')) throw new Error(`browser tests need Chromium at ${CHROMIUM_PATH}; this machine has no apt-get: ${manual} (Debian) or equivalent`);
  if (process.getuid?.() !== 0) throw new Error(`browser tests need Chromium at ${CHROMIUM_PATH} and this user cannot install it: as root, ${manual}`);
  process.stdout.write(`[browser] ${CHROMIUM_PATH} is missing: installing Debian's chromium with apt-get (once per machine, a few minutes)\n`);
  const apt = (args: string[]) => run('apt-get', args, { ...process.env, DEBIAN_FRONTEND: 'noninteractive' });
  await apt(['update']);
  await apt(['install', '-y', 'chromium']);
  if (!fs.existsSync(CHROMIUM_PATH)) throw new Error(`apt-get installed chromium but ${CHROMIUM_PATH} is still missing: ${manual}`);
  process.stdout.write(`[browser] chromium installed at ${CHROMIUM_PATH}\n`);
  return CHROMIUM_PATH;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} failed (${code}):\n${output.slice(-4000)}`))));
  });
}

/** A fresh browser profile per run (a throw-away --user-data-dir), headless, at a laptop's 1280×800. */
export async function launchBrowser(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const executablePath = await ensureChromium();
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 800 },
    timeout: 60_000,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => undefined);
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

export function screenshotPath(folder: string, name: string): string {
  const dir = path.join(TEST_OUTPUT_DIR, folder);
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, `${name}.png`);
}
