// Running the sockwave image (and Compose setups) with the real Docker engine, for the
// container tests. Every container uses the host's network (no bridge network exists on the
// test machines) and is removed when its test ends.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { sleep } from './server.js';

const run = promisify(execFile);

/** The image under test, built by scripts/container-tests. */
export const IMAGE = process.env.SOCKWAVE_TEST_IMAGE || 'sockwave:test';

/** `docker ...args`; resolves to stdout, rejects with stderr in the message. */
export async function docker(args, { timeout = 60_000 } = {}) {
  try {
    const { stdout } = await run('docker', args, { timeout, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    throw new Error(`docker ${args.join(' ')} failed (${err.code ?? err.signal}): ${err.stderr || err.message}`);
  }
}

/** Exit code and output of `docker ...args`, without throwing on a non-zero exit. */
export function dockerStatus(args, { timeout = 60_000 } = {}) {
  return new Promise((resolve) => {
    const child = spawn('docker', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    child.on('error', (err) => resolve({ code: -1, stdout, stderr: err.message }));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export async function inspect(id, format) {
  return (await docker(['inspect', '-f', format, id])).trim();
}

/**
 * Starts the image with `env` as its whole configuration: host network, read-only root,
 * every capability dropped, no privilege escalation. `options` are extra `docker run` flags
 * placed before the image. Removed (forcibly) when the test ends.
 */
export async function runImage(t, env, { options = [], args = [] } = {}) {
  const flags = ['run', '-d', '--network', 'host', '--read-only', '--cap-drop', 'ALL',
    '--security-opt', 'no-new-privileges', ...options];
  for (const [name, value] of Object.entries(env)) flags.push('-e', `${name}=${value}`);
  const id = (await docker([...flags, IMAGE, ...args])).trim();
  t.after(() => docker(['rm', '-f', id]).catch(() => {}));
  return id;
}

/** Polls `/up` on the host port until the container answers (or has exited). */
export async function waitUp(id, port, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/up`, { signal: AbortSignal.timeout(500) });
      if (res.status === 200) return;
    } catch { /* not yet */ }
    if ((await inspect(id, '{{.State.Running}}')) !== 'true') {
      throw new Error(`container exited before serving /up:\n${await logs(id)}`);
    }
    if (Date.now() > deadline) throw new Error(`container not up after ${ms} ms:\n${await logs(id)}`);
    await sleep(100);
  }
}

/** Everything the container wrote to stdout and stderr. */
export async function logs(id) {
  const { stdout, stderr } = await dockerStatus(['logs', id]);
  return stdout + stderr;
}

/** The host's view of the container's main process: its `/proc/<pid>/status` fields. */
export async function processStatus(id) {
  const pid = await inspect(id, '{{.State.Pid}}');
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Object.fromEntries(status.split('\n').filter(Boolean).map((line) => {
    const [key, ...rest] = line.split(':');
    return [key, rest.join(':').trim()];
  }));
}

/** Whether a Docker engine answers, and why not when it does not. */
export async function engineProblem() {
  const { code, stderr } = await dockerStatus(['info', '--format', '{{.ServerVersion}}'], { timeout: 10_000 })
    .catch((err) => ({ code: -1, stderr: err.message }));
  return code === 0 ? null : `no Docker engine answers (${stderr.trim().split('\n')[0]})`;
}
