// `numadvisor schemas`: the API's JSON Schemas, rendered from its zod schemas (make schemas, make check-schemas).
import { parseArgs } from 'node:util';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { usageError } from '../errors.js';
import { EXPORTED_SCHEMAS } from '../server/api-schemas.js';
import type { Io } from './io.js';
import { SCHEMAS_OPTIONS } from './command-options.js';

export function renderSchemas(): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, schema] of Object.entries(EXPORTED_SCHEMAS)) {
    const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
    out.set(`${name}.schema.json`, `${JSON.stringify({ $id: `https://numadvisor.invalid/schemas/${name}.schema.json`, ...json }, null, 2)}\n`);
  }
  return out;
}

export function cmdSchemas(args: string[], io: Io): number {
  const { values } = parseArgs({ args, strict: true, options: SCHEMAS_OPTIONS });
  const rendered = renderSchemas();
  if (values.out) {
    mkdirSync(values.out, { recursive: true });
    for (const [file, text] of rendered) writeFileSync(path.join(values.out, file), text);
    io.stdout(`wrote ${rendered.size} schemas to ${values.out}\n`);
    return 0;
  }
  if (values.check) {
    const stale = [...rendered].filter(([file, text]) => {
      try {
        return readFileSync(path.join(values.check as string, file), 'utf8') !== text;
      } catch {
        return true;
      }
    });
    if (stale.length > 0) {
      io.stderr(`schemas out of date: ${stale.map(([f]) => f).join(', ')}; run make schemas\n`);
      return 1;
    }
    return 0;
  }
  throw usageError('schemas needs --out DIR or --check DIR');
}

