import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * CI reads a run's closing line to tell whether it executed tests. Jest's own
 * summary is not a form it reads, so `.ci/run` repeats the counts through
 * `.ci/closing-line` as "tests: N passed, N failed, N skipped".
 */

const script = path.resolve(__dirname, '..', '..', '.ci', 'closing-line');

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
