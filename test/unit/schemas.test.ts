// schemas/ is the published contract; it must be regenerated (make schemas) whenever a zod schema changes.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderSchemas } from '../../src/cli/numadvisor-schemas.js';
import { REPO_DIR } from '../helpers/fixtures.js';

describe('checked-in JSON Schemas', () => {
  const dir = path.join(REPO_DIR, 'schemas');
  const rendered = renderSchemas();
  it('match the zod schemas exactly (run `make schemas` after changing one)', () => {
    for (const [file, text] of rendered) expect(readFileSync(path.join(dir, file), 'utf8'), file).toBe(text);
  });
  it('has no stale extra files', () => {
    expect(readdirSync(dir).sort()).toEqual([...rendered.keys()].sort());
  });
});
