// Webhook helpers: a real HTTP receiver on a loopback port that records every request and
// answers as the test scripts it, validation with the pusher Node SDK, and a server starter
// whose TOML can express per-app `[[apps.webhooks]]` tables (lib/server.js writes flat apps).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { BIN, DEFAULT_APP, freePort, sleep } from './server.js';
import { makeSdk, withTimeout } from './clients.js';

const running = new Set();
process.on('exit', () => {
  for (const proc of running) {
    try { proc.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

/**
 * Starts a receiver on 127.0.0.1:0. `respond(n, {headers, body, path})` gives the status for
 * request number `n` (from 0), or `'hang'` to never answer. Every request is kept as
 * `{n, headers, rawBody, body, status, at}`; `at` is Date.now() on arrival.
 */
export async function startReceiver({ respond = () => 200 } = {}) {
  const requests = [];
  const waiters = new Set();
  const hanging = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let body;
      try { body = JSON.parse(rawBody); } catch { body = undefined; }
      const n = requests.length;
      const status = respond(n, { headers: req.headers, body, path: req.url });
      requests.push({ n, headers: req.headers, rawBody, body, status: status === 'hang' ? null : status, at: Date.now(), path: req.url });
      for (const w of [...waiters]) w();
      if (status === 'hang') { hanging.add(res); return; }
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(String(status));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  const delivered = () => requests.filter((r) => r.status >= 200 && r.status < 300);
  return {
    port,
    requests,
    url: (p = '/webhook') => `http://127.0.0.1:${port}${p}`,
    /** Requests answered 2xx. */
    delivered,
    /** Events of the requests answered 2xx, in arrival order, each with its request. */
    events: () => delivered().flatMap((r) => (r.body?.events ?? []).map((e) => ({ ...e, request: r }))),
    /** Waits (bounded) until `predicate(receiver)` is truthy. */
    async waitFor(predicate, ms = 8000, label = 'webhook requests') {
      if (predicate(this)) return;
      let check;
      try {
        await withTimeout(new Promise((resolve) => {
          check = () => { if (predicate(this)) { waiters.delete(check); resolve(); } };
          waiters.add(check);
        }), ms, label);
      } catch (err) {
        waiters.delete(check);
        const got = requests.map((r) => ({ status: r.status, path: r.path, body: r.body }));
        throw new Error(`${err.message}; received: ${JSON.stringify(got)}`);
      }
    },
    /** Waits until an event matching `pred` was delivered; returns it. */
    async waitForEvent(pred, ms = 8000, label = 'a webhook event') {
      await this.waitFor((rx) => rx.events().some(pred), ms, label);
      return this.events().find(pred);
    },
    close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections?.();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Whether the pusher Node SDK accepts this request as a webhook of `appCfg`. */
export function isValidWebhook(request, appCfg = DEFAULT_APP) {
  const sdk = makeSdk(1, appCfg);
  return sdk.webhook({ headers: request.headers, rawBody: request.rawBody }).isValid();
}

function tomlValue(v) {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`;
  if (v && typeof v === 'object') {
    return `{ ${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)} = ${tomlValue(x)}`).join(', ')} }`;
  }
  throw new Error(`cannot encode ${typeof v} as TOML`);
}

/** sockwave TOML where each app may carry `webhooks: [{url, event_types, filter, headers}]`. */
export function webhookToml(server, apps) {
  const lines = ['[server]'];
  for (const [k, v] of Object.entries(server)) if (v !== undefined) lines.push(`${k} = ${tomlValue(v)}`);
  for (const { webhooks = [], ...a } of apps) {
    lines.push('', '[[apps]]');
    for (const [k, v] of Object.entries(a)) if (v !== undefined) lines.push(`${k} = ${tomlValue(v)}`);
    for (const hook of webhooks) {
      lines.push('', '[[apps.webhooks]]');
      for (const [k, v] of Object.entries(hook)) if (v !== undefined) lines.push(`${k} = ${tomlValue(v)}`);
    }
  }
  return lines.join('\n') + '\n';
}

/**
 * Spawns the server with a config file of our own: `apps` (with webhooks) as TOML, or
 * `soketiJson` (an object) as a Soketi `.json` config. Same handle as lib/server.js.
 */
export async function startWebhookServer({ apps = [DEFAULT_APP], server = {}, soketiJson, env = {}, readyTimeout = 10_000 } = {}) {
  if (!fs.existsSync(BIN)) throw new Error(`sockwave binary not found at ${BIN}: run \`cargo build\` or set SOCKWAVE_BIN`);
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockwave-webhooks-'));
  const configFile = path.join(dir, soketiJson ? 'soketi.json' : 'sockwave.toml');
  fs.writeFileSync(configFile, soketiJson ? JSON.stringify(soketiJson, null, 2) : webhookToml(server, apps));
  const proc = spawn(BIN, ['--config', configFile, '--host', '127.0.0.1', '--port', String(port)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  let output = '';
  const capture = (chunk) => { output = (output + chunk.toString()).slice(-200_000); };
  proc.stdout.on('data', capture);
  proc.stderr.on('data', capture);
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => { exitInfo = { code, signal, at: Date.now() }; running.delete(proc); resolve(exitInfo); });
    proc.on('error', (error) => { exitInfo = { code: null, signal: null, error, at: Date.now() }; resolve(exitInfo); });
  });
  const deadline = Date.now() + readyTimeout;
  for (;;) {
    if (exitInfo) throw new Error(`sockwave exited early ${JSON.stringify(exitInfo)}\nconfig:\n${fs.readFileSync(configFile, 'utf8')}\noutput:\n${output}`);
    const up = await fetch(`http://127.0.0.1:${port}/up`, { signal: AbortSignal.timeout(500) }).then((r) => r.status).catch(() => null);
    if (up === 200) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`sockwave not ready after ${readyTimeout} ms\noutput:\n${output}`);
    }
    await sleep(50);
  }
  return {
    port,
    proc,
    exited,
    configFile,
    logs: () => output,
    httpUrl: (p = '') => `http://127.0.0.1:${port}${p}`,
    wsUrl: (key = DEFAULT_APP.key) => `ws://127.0.0.1:${port}/app/${key}?protocol=7&client=js&version=8.4.0&flash=false`,
    async stop(signal = 'SIGKILL') {
      if (exitInfo) return exitInfo;
      try { proc.kill(signal); } catch { /* gone */ }
      const res = await Promise.race([exited, sleep(10_000).then(() => null)]);
      if (res) return res;
      try { proc.kill('SIGKILL'); } catch { /* gone */ }
      return exited;
    },
  };
}
