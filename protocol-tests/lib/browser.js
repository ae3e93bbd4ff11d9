// Browser-test helpers: headless Chromium (Debian's package, driven by playwright-core) and a
// sockwave started with a `[console]` section, which lib/server.js's config writer cannot express.
import fs from 'node:fs';
import { DEFAULT_APP, startServer } from './server.js';
import { webhookToml } from './webhooks.js';
import { notRun } from './cluster.js';

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

/** Skips (or fails under CI) without Chromium; otherwise a browser closed when `t` ends. */
export async function browserFor(t) {
  const missing = browserUnavailable();
  if (missing) return notRun(t, missing.replace(/^NOT RUN: /, ''));
  const browser = await launchBrowser();
  t.after(() => browser.close());
  return browser;
}

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
 * null leaves the section out); apps may carry `webhooks` as in lib/webhooks.js. Returns
 * lib/server.js's handle plus `url(path)`.
 */
export async function startConsoleServer({ apps = [DEFAULT_APP], server = {}, consoleCfg = { enabled: true }, env = {}, readyTimeout = 10_000 } = {}) {
  let toml = webhookToml(server, apps);
  if (consoleCfg) toml += '\n' + tomlSection('console', consoleCfg);
  const handle = await startServer({ env, readyTimeout, configText: toml });
  return { ...handle, url: handle.httpUrl };
}
