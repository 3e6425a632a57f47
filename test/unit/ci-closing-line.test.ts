import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * CI reads a run's closing line to tell whether it executed tests. Jest's own
 * summary is not a form it reads, so `.ci/run` repeats the counts through
 * `.ci/closing-line` as "tests: N passed, N failed, N skipped".
 */

const ciDir = path.resolve(__dirname, '..', '..', '.ci');
const script = path.join(ciDir, 'closing-line');

function closingLineOf(jestOutput: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'closing-line-'));
  try {
    const log = path.join(dir, 'test.log');
    fs.writeFileSync(log, jestOutput);
    return execFileSync('bash', [script, log], { encoding: 'utf8' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('.ci/closing-line', () => {
  it('repeats a passing run in the plain "N passed, N failed" form', () => {
    const output = ['PASS test/unit/config.test.ts', '', 'Test Suites: 58 passed, 58 total',
      'Tests:       997 passed, 997 total', 'Snapshots:   0 total', 'Time:        705 s'].join('\n');
    expect(closingLineOf(output)).toBe('tests: 997 passed, 0 failed, 0 skipped\n');
  });

  it('counts failed, skipped and todo tests from the same summary', () => {
    const output = 'Tests:       2 failed, 3 skipped, 1 todo, 990 passed, 996 total\n';
    expect(closingLineOf(output)).toBe('tests: 990 passed, 2 failed, 4 skipped\n');
  });

  it('says 0 passed when the output holds no jest summary', () => {
    expect(closingLineOf('No tests found, exiting with code 1\n')).toBe('tests: 0 passed, 0 failed, 0 skipped\n');
  });
});

describe('.ci/quietly', () => {
  const contractLike = [
    'echo "[contract] working directory: /tmp/x"',
    'echo "Schemathesis v4.32.5"',
    'echo "============================== No issues found in 3.41s =============================="',
    'echo "[contract] passed  user  9 s"',
  ].join('; ');

  function quietly(command: string) {
    return spawnSync('bash', [path.join(ciDir, 'quietly'), 'bash', '-c', command], { encoding: 'utf8' });
  }

  it('shows only the tagged progress lines of a passing command, never its pytest-style banners', () => {
    const run = quietly(contractLike);
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('[contract] working directory: /tmp/x\n[contract] passed  user  9 s\n');
  });

  it('shows all of a failing command\'s output and keeps its exit status', () => {
    const run = quietly(`${contractLike}; exit 3`);
    expect(run.status).toBe(3);
    expect(run.stdout).toContain('No issues found in 3.41s');
    expect(run.stdout).toContain('Schemathesis v4.32.5');
  });

  it('is how .ci/run runs the contract check', () => {
    const ciRun = fs.readFileSync(path.join(ciDir, 'run'), 'utf8');
    expect(ciRun).toMatch(/^\.ci\/quietly npm run test:contract$/m);
    expect(ciRun).not.toMatch(/^npm run test:contract/m);
  });
});
