import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

/** A child process whose output goes to a log file, so a failed start can show its last lines. */
export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
  stop(timeoutMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

/**
 * Runs the command under a tiny shell watchdog that stops it when our end of its
 * stdin pipe closes, i.e. when this process dies, even by SIGKILL: a crashed test
 * run or dev session leaves no Temporal or anvil behind holding ports. A TERM or
 * INT to the watchdog is passed on, and it waits for the service to shut down.
 */
const WATCHDOG = [
  // Background jobs of a non-interactive shell get /dev/null as stdin, so keep the pipe on fd 3 first.
  'exec 3<&0',
  'trap \'kill -TERM "$service" 2>/dev/null\' TERM INT',
  '"$@" </dev/null 3<&- & service=$!',
  '(cat <&3 >/dev/null; kill -TERM "$service" 2>/dev/null) &',
  'wait "$service"; status=$?',
  'wait "$service" 2>/dev/null',
  'exit $status',
].join('\n');

export function startProcess(name: string, command: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env, cwd?: string): ManagedProcess {
  const out = fs.openSync(logFile, 'a');
  // A process group of its own: Ctrl-C in a terminal reaches the API and the worker, which finish first;
  // whoever started the service stops it afterwards (or the watchdog does, if that owner dies).
  const child = spawn('sh', ['-c', WATCHDOG, `${name}-watchdog`, command, ...args], { stdio: ['pipe', out, out], env, cwd, detached: true });
  fs.closeSync(out);
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => resolve(code));
    child.on('error', () => resolve(-1));
  });
  const stop = async (timeoutMs = 10_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    // The watchdog's group holds the service too: killing only the watchdog would leave it running.
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  };
  return { name, child, logFile, stop, exited };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    child.kill(signal); // the group is gone already
  }
}

export function logTail(file: string, lines = 25): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function isListening(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls `probe` until it succeeds; fails early if the process dies, with its log tail. */
export async function waitUntilReady(what: string, probe: () => Promise<unknown>, options: { timeoutMs: number; process?: ManagedProcess }): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  let died = false;
  options.process?.exited.then(() => (died = true));
  while (Date.now() < deadline) {
    if (died) {
      throw new Error(`${what} exited during start-up. Last output (${options.process!.logFile}):\n${logTail(options.process!.logFile)}`);
    }
    try {
      await probe();
      return;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  const tail = options.process ? `\nLast output (${options.process.logFile}):\n${logTail(options.process.logFile)}` : '';
  // Nobody else holds the process yet: left running, it would outlive the start-up that gave up on it.
  await options.process?.stop();
  throw new Error(`${what} was not ready after ${options.timeoutMs} ms: ${String(lastError)}${tail}`);
}
