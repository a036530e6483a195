#!/usr/bin/env node
import { run } from '../dist/src/cli/main.js';
// A closed stdout (`ferkit --help | head`) is not an error: stop quietly.
process.stdout.on('error', (err) => { if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw err; });
process.exitCode = await run(process.argv);
