import { bundleWorkflowCode } from '@temporalio/worker';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WORKFLOWS_PATH } from './worker';

/**
 * The workflow bundle, built in a short-lived child process and handed to the
 * worker as a file. Bundling (webpack) inside the worker would leave about
 * 90 MB of its own in the worker's resident memory for the life of the process.
 */
export async function buildWorkflowBundleFile(): Promise<{ codePath: string }> {
  const codePath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'prorata-workflows-')), 'workflow-bundle.js');
  await new Promise<void>((resolve, reject) => {
    // Same runtime flags as this process (tsx when run from sources), same file in its compiled or source form.
    const child = spawn(process.execPath, [...process.execArgv, __filename, codePath], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`bundling the workflows failed (exit ${code})`))));
  });
  return { codePath };
}

async function main(out: string): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} } });
  fs.writeFileSync(out, code);
}

if (require.main === module) {
  main(process.argv[2]!).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
