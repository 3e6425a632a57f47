import fs from 'node:fs';
import path from 'node:path';
import { envSchema } from '../../src/config/schema';

const root = path.resolve(__dirname, '..', '..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
const scripts = Object.keys((JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts);

describe('README stays true to the code', () => {
  test('its configuration table lists every variable of the config schema, and no other', () => {
    const listed = [...readme.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((match) => match[1]);
    expect(listed.sort()).toEqual(Object.keys(envSchema.shape).sort());
  });

  test('every npm command it mentions exists in package.json', () => {
    const mentioned = new Set([...readme.matchAll(/npm run ([a-z:]+)/g)].map((match) => match[1]!));
    for (const script of mentioned) expect(scripts).toContain(script);
    expect(readme).toMatch(/npm run dev[\s\S]*npm test/);
  });

  test('the files it points to exist', () => {
    const linked = [...readme.matchAll(/\]\(((?:src|workflows|activities|docs)[^)]*|[A-Z]+\.md|\.env\.example)\)/g)].map((match) => match[1]!);
    expect(linked.length).toBeGreaterThan(5);
    for (const file of linked) expect(fs.existsSync(path.join(root, file.split('#')[0]!))).toBe(true);
  });
});
