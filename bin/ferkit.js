#!/usr/bin/env node
import { run } from '../dist/src/cli/main.js';
// A closed stdout (`ferkit analyze dir | head -n1`) must not end the process here: the command notices the closed
// stream itself, finishes or aborts its file outputs, and exits non-zero when results were lost (docs/cli-safety.md).
// This listener only keeps the EPIPE from becoming an uncaught exception (e.g. `ferkit --help | head`, which is fine).
process.stdout.on('error', (err) => { if (err.code !== 'EPIPE') throw err; });
process.exitCode = await run(process.argv);
