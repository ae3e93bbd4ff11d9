// External programs the deployment tests run as users run them (nginx, Caddy, Prometheus):
// finding the binary (NOT RUN without it, unless SOCKWAVE_TEST_REQUIRE_SERVICES=1), editing
// the documented config file in exactly the named places, and running the program in a temp
// dir of its own that goes away with the test.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitUntil } from './clients.js';

const required = () => process.env.SOCKWAVE_TEST_REQUIRE_SERVICES === '1';

/**
 * The first of `candidates` that runs `versionArgs`; otherwise skips the test with NOT RUN
 * (or throws when the services are required) and returns null.
 */
export function needTool(t, candidates, versionArgs, install) {
  for (const candidate of candidates) {
    try {
      execFileSync(candidate, versionArgs, { stdio: 'ignore' });
      return candidate;
    } catch { /* not this one */ }
  }
  const why = `${candidates[0]} is not installed (${install})`;
  if (required()) throw new Error(`${why}, and the services are required`);
  t.skip(`NOT RUN: ${why}`);
  return null;
}

/** Replaces `from` with `to`, failing when `file` no longer contains `from` exactly once. */
export function substitute(text, from, to, file) {
  const parts = text.split(from);
  assert.equal(parts.length, 2, `${file} must contain "${from}" exactly once`);
  return parts.join(to);
}

/** A temp dir removed when the test ends. */
export function tempDir(t, name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sockwave-${name}-`));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Runs `binary` until the test ends (SIGKILL then) and waits until `ready(output)` holds;
 * fails with the program's output if it exits first. Returns {proc, output()}.
 */
export async function runTool(t, binary, args, { env, ready, label, ms = 20_000 }) {
  const proc = spawn(binary, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (c) => { output += c; });
  proc.stderr.on('data', (c) => { output += c; });
  t.after(() => proc.kill('SIGKILL'));
  await waitUntil(async () => {
    if (proc.exitCode !== null) throw new Error(`${label} exited: ${output}`);
    try {
      return await ready(output);
    } catch {
      return false;
    }
  }, ms, label, 100);
  return { proc, output: () => output };
}
