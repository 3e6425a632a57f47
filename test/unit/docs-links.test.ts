import fs from 'node:fs';
import path from 'node:path';

/** Every relative link of the documentation points at a file that exists, and at a heading that exists in it. */
const root = path.resolve(__dirname, '..', '..');
const documents = ['README.md', 'DEPLOYMENT.md', ...fs.readdirSync(path.join(root, 'docs')).filter((file) => file.endsWith('.md')).map((file) => `docs/${file}`)];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\- _]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = fs.readFileSync(path.join(root, file), 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((match) => anchorOf(match[1]!.replace(/`/g, ''))));
}

describe('documentation links', () => {
  test.each(documents)('%s links only to files and headings that exist', (document) => {
    const text = fs.readFileSync(path.join(root, document), 'utf8').replace(/```[\s\S]*?```/g, '');
    const broken: string[] = [];
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^(https?:|mailto:)/.test(target!)) continue;
      const [file, anchor] = target!.split('#') as [string, string | undefined];
      const resolved = file === '' ? document : path.normalize(path.join(path.dirname(document), file));
      if (!fs.existsSync(path.join(root, resolved))) {
        broken.push(`${target} (no file ${resolved})`);
        continue;
      }
      if (anchor && resolved.endsWith('.md') && !anchorsOf(resolved).has(anchor)) broken.push(`${target} (no heading #${anchor} in ${resolved})`);
    }
    expect(broken).toEqual([]);
  });

  test.each(documents)('%s names only source files that exist', (document) => {
    const text = fs.readFileSync(path.join(root, document), 'utf8');
    const named = [...text.matchAll(/`((?:src|activities|workflows|test|bench|scripts)\/[\w./-]+\.(?:ts|cjs|js|go|sh|json))`/g)].map((match) => match[1]!);
    expect(named.filter((file) => !fs.existsSync(path.join(root, file)))).toEqual([]);
  });
});
