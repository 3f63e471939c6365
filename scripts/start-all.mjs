#!/usr/bin/env node
// `npm start`: runs the API and the worker together for a quick start. In production run them as
// separate services (`npm run start:api`, `npm run start:worker`) so each restarts on its own.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
if (!existsSync(`${root}node_modules/esbuild`)) {
  console.error('Dependencies are missing (esbuild among them): run `npm ci` first, without --omit=dev.');
  process.exit(1);
}

const children = [
  ['api', 'apps/api/src/main.ts'],
  ['worker', 'apps/worker/src/main.ts'],
].map(([name, entry]) => {
  // Own process groups, so a terminal's Ctrl-C reaches the children once (through stopAll), not twice.
  const child = spawn(process.execPath, ['--max-semi-space-size=1', 'scripts/run.mjs', entry], {
    cwd: root,
    stdio: 'inherit',
    env: process.env,
    detached: true,
  });
  child.on('exit', (code, signal) => onExit(name, code, signal));
  return child;
});

let stopping = false;
let exitCode = 0;
let running = children.length;
function onExit(name, code, signal) {
  running -= 1;
  if (!stopping) {
    console.error(`warden: ${name} exited (${signal ?? code}); stopping the other process`);
    exitCode = code === 0 ? 1 : (code ?? 1);
    stopAll('SIGTERM');
  } else if (code !== 0 && code !== null) {
    exitCode = code;
  }
  if (running === 0) process.exit(exitCode);
}
function stopAll(signal) {
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill(signal);
}
process.on('SIGINT', () => stopAll('SIGINT'));
process.on('SIGTERM', () => stopAll('SIGTERM'));
