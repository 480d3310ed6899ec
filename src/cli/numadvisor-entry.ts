#!/usr/bin/env node
import { numadvisorMain } from './numadvisor-main.js';

process.exitCode = await numadvisorMain(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  stderrIsTTY: process.stderr.isTTY === true,
});
