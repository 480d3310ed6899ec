// Writes man/numadvisor.8 and man/numadvisor-numad.8 from their prose (man/*.8.md) and the option tables in src/
// (src/cli/man-pages.ts); `--check` exits 1 when a committed page is out of date instead of writing it.
//   npx tsx scripts/gen-man.mts [--check]
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MAN_PAGES, renderManPages } from '../src/cli/man-pages.ts';

const dir = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'man');
const check = process.argv.includes('--check');
const sources = Object.fromEntries(MAN_PAGES.map((p) => [p.file, readFileSync(path.join(dir, `${p.file}.md`), 'utf8')])) as Record<(typeof MAN_PAGES)[number]['file'], string>;
let stale = 0;
for (const [file, text] of renderManPages(sources)) {
  const target = path.join(dir, file);
  if (!check) {
    writeFileSync(target, text);
    continue;
  }
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    current = '';
  }
  if (current !== text) {
    process.stderr.write(`${target} is out of date: run npx tsx scripts/gen-man.mts\n`);
    stale++;
  }
}
process.exitCode = stale > 0 ? 1 : 0;
