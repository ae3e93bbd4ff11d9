// Starts the sockwave binary under test with a generated TOML config on a free loopback port.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = process.env.SOCKWAVE_BIN || path.join(REPO_ROOT, 'target', 'debug', 'sockwave');

/** The app most tests use; every field can be overridden per test with `app({...})`. */
export const DEFAULT_APP = Object.freeze({
  id: 'app-id',
  key: 'app-key',
  secret: 'app-secret',
  enabled: true,
  enable_client_messages: false,
});

export function app(overrides = {}) {
  return { ...DEFAULT_APP, ...overrides };
}

const running = new Set();
process.on('exit', () => {
  for (const proc of running) {
    try { proc.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function tomlValue(v) {
  if (typeof v === 'string') return JSON.stringify(v); // JSON string escapes are valid TOML basic strings
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`;
  throw new Error(`cannot encode ${typeof v} as TOML`);
}

export function toToml(server, apps) {
  const lines = ['[server]'];
  for (const [k, v] of Object.entries(server)) if (v !== undefined) lines.push(`${k} = ${tomlValue(v)}`);
  for (const a of apps) {
    lines.push('', '[[apps]]');
    for (const [k, v] of Object.entries(a)) if (v !== undefined) lines.push(`${k} = ${tomlValue(v)}`);
  }
  return lines.join('\n') + '\n';
}

function ephemeralPort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const PORT_CLAIMS = path.join(os.tmpdir(), 'sockwave-test-ports');

/**
 * A free loopback port. Test files run as concurrent processes and the kernel may hand the
 * same just-closed port to two of them, so each port handed out is claimed by a file (the
 * same directory the Rust tests use) and not handed out again for ten minutes.
 */
export async function freePort() {
  fs.mkdirSync(PORT_CLAIMS, { recursive: true });
  for (;;) {
    const port = await ephemeralPort();
    const claim = path.join(PORT_CLAIMS, String(port));
    try {
      if (Date.now() - fs.statSync(claim).mtimeMs > 600_000) fs.rmSync(claim, { force: true });
    } catch {
      // Not claimed yet.
    }
    try {
      fs.closeSync(fs.openSync(claim, 'wx'));
      return port;
    } catch {
      // Claimed by another test: ask again.
    }
  }
}

async function httpStatus(url, timeoutMs = 500) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return null;
  }
}

/**
 * Spawns `SOCKWAVE_BIN --config FILE --host 127.0.0.1 --port PORT` and waits (≤ readyTimeout)
 * until GET /up answers 200. The config file is written from `server` and `apps`, or, for
 * sections this writer does not know (webhooks, `[cluster]`, `[console]`, a Soketi JSON
 * file), taken whole from `configText` under the name `configName`. Every other harness
 * (lib/webhooks.js, lib/cluster.js, lib/browser.js) starts its servers through here.
 * Returns {port, proc, configFile, logs(), stop(signal), kill(), exitInfo(), exited, httpUrl, wsUrl}.
 */
export async function startServer({
  apps, server = {}, env = {}, args = [], port, readyTimeout = 10_000, probe, configText, configName = 'sockwave.toml', cwd,
} = {}) {
  if (!fs.existsSync(BIN)) {
    throw new Error(`sockwave binary not found at ${BIN}: run \`cargo build\` in ${REPO_ROOT} or set SOCKWAVE_BIN`);
  }
  const p = port ?? (await freePort());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockwave-test-'));
  const configFile = path.join(dir, configName);
  const serverSection = { host: '127.0.0.1', port: p, ...server };
  const config = configText ?? toToml(serverSection, apps ?? [DEFAULT_APP]);
  fs.writeFileSync(configFile, config);
  // The config's directory goes with the process: a suite run starts hundreds of servers.
  const removeDir = () => fs.rmSync(dir, { recursive: true, force: true });

  const proc = spawn(BIN, ['--config', configFile, '--host', '127.0.0.1', '--port', String(p), ...args], {
    env: { ...process.env, ...env },
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  let output = '';
  const capture = (chunk) => {
    output += chunk.toString();
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  proc.stdout.on('data', capture);
  proc.stderr.on('data', capture);
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      exitInfo = { code, signal, at: Date.now() };
      running.delete(proc);
      removeDir();
      resolve(exitInfo);
    });
    proc.on('error', (err) => {
      exitInfo = { code: null, signal: null, error: err, at: Date.now() };
      running.delete(proc);
      removeDir();
      resolve(exitInfo);
    });
  });

  const prefix = serverSection.path_prefix || '';
  const probes = [`http://127.0.0.1:${p}/up`];
  if (prefix) probes.push(`http://127.0.0.1:${p}${prefix}/up`);
  const deadline = Date.now() + readyTimeout;
  let ready = false;
  while (!ready && Date.now() < deadline) {
    if (exitInfo) break;
    // `probe(port)` replaces the plain-HTTP probe (a TLS server answers plain HTTP with 400).
    if (probe) {
      if ((await probe(p)) === 200) ready = true;
    } else {
      for (const url of probes) {
        if ((await httpStatus(url)) === 200) { ready = true; break; }
      }
    }
    if (!ready) await sleep(50);
  }
  if (!ready) {
    const how = exitInfo ? `exited early (${JSON.stringify(exitInfo)})` : `not ready after ${readyTimeout} ms`;
    if (!exitInfo) proc.kill('SIGKILL');
    await Promise.race([exited, sleep(2000)]);
    throw new Error(`sockwave ${how}\nconfig:\n${config}\noutput:\n${output}`);
  }

  const handle = {
    port: p,
    proc,
    configFile,
    exited,
    logs: () => output,
    httpUrl: (pth = '') => `http://127.0.0.1:${p}${pth}`,
    wsUrl: (key = DEFAULT_APP.key, query = 'protocol=7&client=js&version=8.4.0&flash=false', pathPrefix = prefix) =>
      `ws://127.0.0.1:${p}${pathPrefix}/app/${key}${query === null ? '' : `?${query}`}`,
    /** The exit code and signal once the process has exited, else null. */
    exitInfo: () => exitInfo,
    /** kill -9: no graceful shutdown, no goodbye to other cluster nodes. */
    kill() {
      if (!exitInfo) try { proc.kill('SIGKILL'); } catch { /* gone */ }
      return exited;
    },
    /** Sends `signal` (default SIGKILL) and waits for exit (SIGKILL after 10 s). */
    async stop(signal = 'SIGKILL') {
      if (exitInfo) return exitInfo;
      try { proc.kill(signal); } catch { /* gone */ }
      // The fallback timer is cleared as soon as the process exits, so it never keeps the
      // test process alive.
      let timer;
      const fallback = new Promise((resolve) => { timer = setTimeout(() => resolve(null), 10_000); });
      const res = await Promise.race([exited, fallback]);
      clearTimeout(timer);
      if (res) return res;
      try { proc.kill('SIGKILL'); } catch { /* gone */ }
      return exited;
    },
  };
  return handle;
}
