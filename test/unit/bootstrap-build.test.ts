import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * `npm run build`, `npm start` and `npm run worker` share one compiled dist/.
 * Run against a throw-away project with this repository's bootstrap.cjs and
 * package.json scripts, and sources small enough to compile in a second.
 */
const root = path.resolve(__dirname, '..', '..');

function createProject(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bootstrap-build-'));
  const write = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  };
  for (const file of ['package.json', 'package-lock.json', 'src/dev/bootstrap.cjs']) write(file, fs.readFileSync(path.join(root, file), 'utf8'));
  write('tsconfig.build.json', JSON.stringify({ compilerOptions: { outDir: 'dist', rootDir: '.', module: 'commonjs', target: 'es2022', types: [] }, include: ['src', 'workflows', 'activities'] }));
  write('src/api/main.ts', "console.log('api entry ran');\n");
  write('src/temporal/worker-main.ts', "console.log('worker entry ran');\n");
  write('workflows/index.ts', 'export const workflows = 1;\n');
  write('activities/index.ts', 'export const activities = 1;\n');
  write('src/dev/console-build.ts', "console.log('admin console built');\n"); // the real one compiles src/console
  // node_modules as installed: the install stamp of this lockfile, and the compiler.
  const lock = fs.readFileSync(path.join(dir, 'package-lock.json'));
  write('node_modules/.prorata-install-stamp', `${crypto.createHash('sha256').update(lock).digest('hex')}\n`);
  fs.symlinkSync(path.join(root, 'node_modules', 'typescript'), path.join(dir, 'node_modules', 'typescript'));
  fs.mkdirSync(path.join(dir, 'node_modules', '.bin'));
  fs.symlinkSync('../typescript/bin/tsc', path.join(dir, 'node_modules', '.bin', 'tsc'));
  return dir;
}

function run(dir: string, command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

const compilations = (output: string) => output.split('\n').filter((line) => line.includes('[bootstrap] compiling')).length;

describe('building dist/ (src/dev/bootstrap.cjs)', () => {
  const projects: string[] = [];
  const project = () => {
    const dir = createProject();
    projects.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of projects) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('after `npm run build`, `npm start` runs the build as it is', async () => {
    const dir = project();
    const build = await run(dir, 'npm', ['run', 'build']);
    expect(build).toMatchObject({ code: 0 });
    expect(build.output).toContain('admin console built');
    expect(fs.existsSync(path.join(dir, 'dist', 'src', 'api', 'main.js'))).toBe(true);

    const start = await run(dir, 'npm', ['start']);
    expect(start).toMatchObject({ code: 0 });
    expect(start.output).toContain('api entry ran');
    expect(compilations(start.output)).toBe(0);
  }, 60_000);

  test('three processes started together on a stale build compile it once, and all run it', async () => {
    const dir = project();
    const started = await Promise.all([
      run(dir, process.execPath, ['src/dev/bootstrap.cjs', 'start']),
      run(dir, process.execPath, ['src/dev/bootstrap.cjs', 'worker']),
      run(dir, process.execPath, ['src/dev/bootstrap.cjs', 'worker']),
    ]);
    expect(started.map((result) => result.code)).toEqual([0, 0, 0]);
    expect(started.map((result) => /(api|worker) entry ran/.exec(result.output)?.[0])).toEqual(['api entry ran', 'worker entry ran', 'worker entry ran']);
    expect(compilations(started.map((result) => result.output).join('\n'))).toBe(1);
  }, 60_000);

  test('the lock of a build whose process died does not stop the next start', async () => {
    const dir = project();
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    fs.mkdirSync(path.join(dir, 'dist'));
    fs.writeFileSync(path.join(dir, 'dist', '.build-lock'), String(dead));

    const start = await run(dir, process.execPath, ['src/dev/bootstrap.cjs', 'start']);
    expect(start).toMatchObject({ code: 0 });
    expect(start.output).toContain('api entry ran');
    expect(fs.existsSync(path.join(dir, 'dist', '.build-lock'))).toBe(false);
  }, 60_000);

  test('a source changed after the build makes the next start compile again', async () => {
    const dir = project();
    expect(await run(dir, 'npm', ['run', 'build'])).toMatchObject({ code: 0 });
    const source = path.join(dir, 'src', 'api', 'main.ts');
    fs.writeFileSync(source, "console.log('api entry changed');\n");
    const later = new Date(fs.statSync(path.join(dir, 'dist', 'src', 'api', 'main.js')).mtimeMs + 5_000);
    fs.utimesSync(source, later, later);

    const start = await run(dir, 'npm', ['start']);
    expect(compilations(start.output)).toBe(1);
    expect(start.output).toContain('api entry changed');
  }, 60_000);
});
