// Browser-test helpers: headless Chromium (Debian's package, driven by playwright-core) and a
// sockwave started with a `[console]` section, which lib/server.js's config writer cannot express.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, DEFAULT_APP, freePort, sleep } from './server.js';
import { webhookToml } from './webhooks.js';

/** Debian's Chromium (`apt-get install -y chromium`); SOCKWAVE_TEST_CHROMIUM overrides it. */
export const CHROMIUM = process.env.SOCKWAVE_TEST_CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_ARGS = Object.freeze([
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
  '--no-first-run', '--disable-component-update', '--disable-sync',
]);

/**
 * Why the browser tests cannot run here, or null when they can. With SOCKWAVE_TEST_REQUIRE_SERVICES=1
 * (CI) the caller turns this into a failure instead of a skip.
 */
export function browserUnavailable() {
  if (!fs.existsSync(CHROMIUM)) return 'NOT RUN: chromium not installed (apt-get install -y chromium)';
  return null;
}

/** Launches headless Chromium. playwright-core never downloads a browser of its own. */
export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS], timeout: 30_000 });
}

const running = new Set();
process.on('exit', () => {
  for (const proc of running) {
    try { proc.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

function tomlSection(name, values) {
  const lines = [`[${name}]`];
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) continue;
    lines.push(`${k} = ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * Starts sockwave with `[console]` set from `consoleCfg` (e.g. `{enabled: true, token: 'x'}`;
 * null leaves the section out); apps may carry `webhooks` as in lib/webhooks.js. Otherwise like
 * lib/server.js's startServer: a TOML file in a temp dir, a free loopback port, ready once
 * GET /up answers 200. The harness's own variables
 * (SOCKWAVE_TEST_REQUIRE_SERVICES) are not passed on: the binary refuses unknown SOCKWAVE_* names.
 */
export async function startConsoleServer({ apps = [DEFAULT_APP], server = {}, consoleCfg = { enabled: true }, env = {}, readyTimeout = 10_000 } = {}) {
  if (!fs.existsSync(BIN)) {
    throw new Error(`sockwave binary not found at ${BIN}: run \`cargo build\` or set SOCKWAVE_BIN`);
  }
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockwave-console-'));
  const configFile = path.join(dir, 'sockwave.toml');
  let toml = webhookToml({ host: '127.0.0.1', port, ...server }, apps);
  if (consoleCfg) toml += '\n' + tomlSection('console', consoleCfg);
  fs.writeFileSync(configFile, toml);

  const childEnv = { ...process.env, ...env };
  delete childEnv.SOCKWAVE_TEST_REQUIRE_SERVICES;
  const proc = spawn(BIN, ['--config', configFile, '--host', '127.0.0.1', '--port', String(port)], {
    env: childEnv,
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
    const done = (info) => { exitInfo = info; running.delete(proc); resolve(info); };
    proc.on('exit', (code, signal) => done({ code, signal }));
    proc.on('error', (error) => done({ code: null, signal: null, error }));
  });

  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeout;
  let ready = false;
  while (!ready && !exitInfo && Date.now() < deadline) {
    try {
      const res = await fetch(`${base}/up`, { signal: AbortSignal.timeout(500) });
      await res.arrayBuffer();
      ready = res.status === 200;
    } catch { /* not listening yet */ }
    if (!ready) await sleep(50);
  }
  if (!ready) {
    if (!exitInfo) proc.kill('SIGKILL');
    await Promise.race([exited, sleep(2000)]);
    throw new Error(`sockwave ${exitInfo ? `exited early (${JSON.stringify(exitInfo)})` : 'not ready'}\nconfig:\n${toml}\noutput:\n${output}`);
  }

  return {
    port,
    configFile,
    exited,
    logs: () => output,
    url: (p = '') => `${base}${p}`,
    async stop() {
      if (exitInfo) return exitInfo;
      try { proc.kill('SIGKILL'); } catch { /* gone */ }
      return exited;
    },
  };
}
