import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { cacheDir, findOnPath } from './provision';

/**
 * schemathesis, the contract fuzzer of `npm run test:contract`, lives in a Python
 * virtual environment in the cache (like the Go-built binaries), installed once
 * from PyPI with every package pinned by src/dev/schemathesis-requirements.txt
 * and keyed by that file's hash, so editing the pins makes a new environment.
 */

const REQUIREMENTS = path.join(__dirname, 'schemathesis-requirements.txt');
const MIN_PYTHON = [3, 11] as const; // schemathesis 4.32 requires it

export interface Schemathesis {
  version: string;
  /** The virtual environment's interpreter; run the tool as `python -m schemathesis.cli`. */
  python: string;
}

/** The pinned schemathesis version, read from the requirements file (the one place it is written). */
export function schemathesisVersion(): string {
  const pinned = /^schemathesis==(\S+)$/m.exec(fs.readFileSync(REQUIREMENTS, 'utf8'));
  if (!pinned) throw new Error(`${REQUIREMENTS} does not pin schemathesis`);
  return pinned[1]!;
}

export async function ensureSchemathesis(log: (line: string) => void = console.log): Promise<Schemathesis> {
  const version = schemathesisVersion();
  const python = process.env.PYTHON ?? findOnPath('python3');
  const pythonVersion = python ? spawnSync(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' }).stdout.trim() : '';
  const [major, minor] = pythonVersion.split('.').map(Number);
  if (!python || major === undefined || minor === undefined || major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
    throw new Error(
      `The contract check runs schemathesis ${version}, which needs Python ${MIN_PYTHON.join('.')} or newer with the venv module; ` +
        `${python ? `${python} is ${pythonVersion || 'unusable'}` : 'no python3 on PATH'} (set PYTHON to another interpreter).`,
    );
  }
  const requirementsHash = crypto.createHash('sha256').update(fs.readFileSync(REQUIREMENTS)).digest('hex').slice(0, 12);
  const venv = path.join(cacheDir(), `schemathesis-${version}-${requirementsHash}-py${pythonVersion}-${process.platform}-${process.arch}`);
  const venvPython = path.join(venv, 'bin', 'python');
  if (fs.existsSync(venvPython)) return { version, python: venvPython };

  // Built beside the target and renamed into place, so an interrupted install is never used. A venv survives the
  // rename as long as nothing runs its scripts' shebangs: everything here goes through `python -m`.
  const building = fs.mkdtempSync(`${venv}.building-`);
  const started = Date.now();
  log(`[provision] installing schemathesis ${version} into a virtual environment (first time only)...`);
  try {
    await run(python, ['-m', 'venv', building]);
    await run(path.join(building, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-input', '--requirement', REQUIREMENTS]);
    fs.renameSync(building, venv);
  } catch (error) {
    fs.rmSync(building, { recursive: true, force: true });
    if (fs.existsSync(venvPython)) return { version, python: venvPython }; // a concurrent run finished first
    throw error;
  }
  log(`[provision] installed schemathesis ${version} in ${Math.round((Date.now() - started) / 1000)} s: ${venv}`);
  return { version, python: venvPython };
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} failed (exit ${code}):\n${output.trim().split('\n').slice(-30).join('\n')}`))));
  });
}
