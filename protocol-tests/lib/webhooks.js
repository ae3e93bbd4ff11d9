// Webhook helpers: a real HTTP receiver on a loopback port that records every request and
// answers as the test scripts it, validation with the pusher Node SDK, and a server starter
// whose TOML can express per-app `[[apps.webhooks]]` tables (lib/server.js writes flat apps).
import http from 'node:http';
import { DEFAULT_APP, startServer } from './server.js';
import { makeSdk, withTimeout } from './clients.js';

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
 * Starts the server with `apps` (webhooks included) as TOML, or `soketiJson` (an object) as a
 * Soketi `.json` config. Same handle as lib/server.js's startServer.
 */
export function startWebhookServer({ apps = [DEFAULT_APP], server = {}, soketiJson, env = {}, readyTimeout = 10_000 } = {}) {
  return startServer({
    env,
    readyTimeout,
    configName: soketiJson ? 'soketi.json' : 'sockwave.toml',
    configText: soketiJson ? JSON.stringify(soketiJson, null, 2) : webhookToml(server, apps),
  });
}
