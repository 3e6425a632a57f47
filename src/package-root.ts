import { existsSync } from 'node:fs';
import path from 'node:path';

/** The folder holding package.json: the checkout, or /app in the image. The same from src/ (tsx) and from dist/src/ (compiled). */
export function packageRoot(from = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}
