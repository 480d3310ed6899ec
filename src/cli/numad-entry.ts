#!/usr/bin/env node
import { numadMain } from './numad-main.js';

const argv0 = process.env.NUMAD_ARGV0 || 'numad';
const code = await numadMain(argv0, process.argv.slice(2), process.env, {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
});
process.exitCode = code;
